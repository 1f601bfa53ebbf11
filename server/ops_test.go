package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/admin"
	"github.com/parley-im/parley/server/push"
	"github.com/parley-im/parley/server/servertest"
)

// syncBuffer is a log sink safe for the node's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// exchange sends one message alice → bob, delivers and acks it, and
// waits for alice's receipt.
func exchange(t *testing.T, alice, bob *servertest.RawConn, body []byte) {
	t.Helper()
	r, err := alice.SendTo("bob", []uint32{1}, body)
	if err != nil || r.GetSendAck() == nil {
		t.Fatalf("send: %v %v", r, err)
	}
	d := bob.Expect(t, "Deliver", isDeliver).GetDeliver()
	if err := bob.Write(ack(d.Seq)); err != nil {
		t.Fatal(err)
	}
	rd := alice.Expect(t, "receipt", isDeliver).GetDeliver()
	if err := alice.Write(ack(rd.Seq)); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsAndLogs(t *testing.T) {
	var logs syncBuffer
	n := servertest.Start(t, server.Config{Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	marker := []byte("PLAINTEXT-MARKER-4f1c9e")
	exchange(t, alice, bob, marker)
	waitDepth(t, server.StoreOf(n.Node), protocol.Address{User: "alice", Device: 1}, 0)

	base := "http://" + n.HTTPAddr().String()
	code, body := httpGet(t, base+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"parley_connections 2",
		"parley_sessions 2",
		`parley_handshakes_total{result="ok"} 2`,
		`parley_frames_in_total{type="send"} 1`,
		`parley_frames_in_total{type="register"} 2`,
		`parley_frames_out_total{type="send_ack"} 1`,
		`parley_frames_out_total{type="deliver"} 2`,
		`parley_frames_out_total{type="welcome"} 2`,
		"parley_deliveries_total 2",
		"parley_receipts_total 1",
		"parley_enqueued_total 1",
		"parley_store_commit_seconds_count 1",
		"parley_queue_depth 0",
		"parley_panics_recovered_total 0",
		"parley_store_syncs_total",
		"parley_store_entries_per_sync",
		"parley_queue_oldest_age_seconds",
		"go_goroutines",
	} {
		if !strings.Contains(body, want+"\n") && !strings.Contains(body, want+" ") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}

	// Logs name devices but never carry what they sent.
	l := logs.String()
	if !strings.Contains(l, "bob.1") {
		t.Errorf("logs never name device bob.1:\n%s", l)
	}
	for _, form := range []string{string(marker), hex.EncodeToString(marker), base64.StdEncoding.EncodeToString(marker), base64.RawStdEncoding.EncodeToString(marker)} {
		if strings.Contains(l, form) {
			t.Fatalf("logs carry the message bytes (%q)", form)
		}
	}
}

func TestHealthReadyAndPprofOnlyOnAdmin(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	pub := "http://" + n.HTTPAddr().String()
	adm := "http://" + n.AdminAddr().String()
	tests := []struct {
		name, url, token string
		want             int
	}{
		{"healthz", pub + "/healthz", "", 200},
		{"readyz", pub + "/readyz", "", 200},
		{"no pprof on the public listener", pub + "/debug/pprof/", "", 404},
		{"pprof needs the token", adm + "/debug/pprof/", "", 401},
		{"pprof with the token", adm + "/debug/pprof/", n.AdminToken(), 200},
		{"metrics not on admin", adm + "/metrics", n.AdminToken(), 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := httpGet(t, tt.url, tt.token); code != tt.want {
				t.Fatalf("GET %s = %d (%s), want %d", tt.url, code, body, tt.want)
			}
		})
	}
	n.Stop(t)
	if _, err := http.Get(pub + "/readyz"); err == nil {
		t.Fatalf("readyz still answers after shutdown")
	}
}

func wantCode(t *testing.T, f *pb.ServerFrame, err error, code pb.ErrorCode) *pb.Error {
	t.Helper()
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	return wantError(t, f, code)
}

func TestLimits(t *testing.T) {
	t.Run("send rate", func(t *testing.T) {
		n := servertest.Start(t, server.Config{SendRate: 60, SendBurst: 2})
		alice := servertest.Register(t, n, "alice")
		servertest.Register(t, n, "bob")
		for i := range 2 {
			if r, err := alice.SendTo("bob", []uint32{1}, []byte("x")); err != nil || r.GetSendAck() == nil {
				t.Fatalf("send %d: %v %v", i, r, err)
			}
		}
		r, err := alice.SendTo("bob", []uint32{1}, []byte("x"))
		if e := wantCode(t, r, err, pb.ErrorCode_RATE_LIMITED); e.RetryAfterMs == 0 {
			t.Fatalf("RATE_LIMITED without retry_after: %v", e)
		}
	})
	t.Run("fan-out", func(t *testing.T) {
		n := servertest.Start(t, server.Config{MaxFanout: 1})
		alice := servertest.Register(t, n, "alice")
		servertest.Register(t, n, "bob")
		r, err := alice.SendTo("bob", []uint32{1, 2}, []byte("x"))
		wantCode(t, r, err, pb.ErrorCode_TOO_LARGE)
	})
	t.Run("queue full keeps the oldest", func(t *testing.T) {
		n := servertest.Start(t, server.Config{MaxQueue: 2})
		alice := servertest.Register(t, n, "alice")
		bob := servertest.Register(t, n, "bob")
		bobKey := bob.Key
		bob.Close()
		for i := range 2 {
			if r, err := alice.SendTo("bob", []uint32{1}, []byte{'a' + byte(i)}); err != nil || r.GetSendAck() == nil {
				t.Fatalf("send %d: %v %v", i, r, err)
			}
		}
		r, err := alice.SendTo("bob", []uint32{1}, []byte("c"))
		wantCode(t, r, err, pb.ErrorCode_QUEUE_FULL)
		bob = servertest.Dial(t, n, bobKey)
		for _, want := range []string{"a", "b"} {
			d := bob.Expect(t, "Deliver", isDeliver).GetDeliver()
			if got := string(d.GetEnvelope().GetBody()); got != want {
				t.Fatalf("delivered %q, want %q (the oldest kept)", got, want)
			}
		}
	})
	t.Run("registrations per IP", func(t *testing.T) {
		n := servertest.Start(t, server.Config{RegisterRate: 2})
		servertest.Register(t, n, "user_a")
		servertest.Register(t, n, "user_b")
		c := servertest.Dial(t, n, servertest.NewKey())
		err := c.Register("user_c", "", 1, 1)
		if err == nil || !strings.Contains(err.Error(), "RATE_LIMITED") {
			t.Fatalf("third registration from one IP: %v, want RATE_LIMITED", err)
		}
	})
	t.Run("max connections", func(t *testing.T) {
		n := servertest.Start(t, server.Config{MaxConnections: 2})
		servertest.Dial(t, n, servertest.NewKey())
		servertest.Dial(t, n, servertest.NewKey())
		c, err := servertest.DialTCP(context.Background(), n.TCPAddr().String(), n.ServerKey(), servertest.NewKey())
		if err == nil {
			f, rerr := c.Read()
			if rerr == nil && f.GetGoodbye() != nil {
				if g := f.GetGoodbye(); g.Code != pb.ErrorCode_SHUTTING_DOWN || g.RetryAfterMs == 0 {
					t.Fatalf("over-capacity goodbye %v", g)
				}
				return
			}
			t.Fatalf("third connection: got %v, %v; want Goodbye SHUTTING_DOWN", f, rerr)
		}
		// DialTCP wants Welcome first: the node sent Goodbye instead.
		if !strings.Contains(err.Error(), "Goodbye") {
			t.Fatalf("third connection: %v", err)
		}
		if _, body := httpGet(t, "http://"+n.HTTPAddr().String()+"/metrics", ""); !strings.Contains(body, `parley_rate_limited_total{kind="connections"} 1`) {
			t.Fatalf("the refused connection was not counted")
		}
	})
}

func adminClient(n *servertest.Node) *admin.Client {
	return &admin.Client{Addr: n.AdminAddr().String(), Token: n.AdminToken()}
}

func TestAdminAccounts(t *testing.T) {
	ctx := context.Background()
	n := servertest.Start(t, server.Config{})
	ac := adminClient(n)
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	bob.Expect(t, "QueueDrained", func(f *pb.ServerFrame) bool { return f.GetQueueDrained() != nil })

	list, err := ac.Accounts(ctx, "", 10)
	if err != nil || len(list) != 2 {
		t.Fatalf("accounts list = %v, %v", list, err)
	}

	// Disable: bob's session is kicked, he cannot come back, senders are told.
	if err := ac.SetDisabled(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	wantGoodbye(t, bob, pb.ErrorCode_DISABLED)
	again, err := servertest.DialTCP(ctx, n.TCPAddr().String(), n.ServerKey(), bob.Key)
	if err == nil {
		wantGoodbye(t, again, pb.ErrorCode_DISABLED)
	}
	r, err := alice.SendTo("bob", []uint32{1}, []byte("x"))
	wantCode(t, r, err, pb.ErrorCode_DISABLED)
	if err := ac.SetDisabled(ctx, "bob", false); err != nil {
		t.Fatal(err)
	}
	if r, err := alice.SendTo("bob", []uint32{1}, []byte("queued")); err != nil || r.GetSendAck() == nil {
		t.Fatalf("send after enable: %v %v", r, err)
	}
	d, err := ac.Account(ctx, "bob")
	if err != nil || d.Disabled || len(d.Devices) != 1 || d.Devices[0].QueueDepth != 1 || d.Devices[0].Online {
		t.Fatalf("accounts show bob = %+v, %v", d, err)
	}

	// Delete: the account, its device and its queue go; the handle is free.
	if err := ac.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Account(ctx, "bob"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("show after delete: %v", err)
	}
	if dd, err := server.StoreOf(n.Node).QueueDepth(ctx, protocol.Address{User: "bob", Device: 1}); err != nil || dd != 0 {
		t.Fatalf("bob's queue after delete: %d, %v", dd, err)
	}
	servertest.Register(t, n, "bob")
	if err := ac.DeleteAccount(ctx, "nobody"); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}

	// Remove a device: the session is kicked and the key is gone.
	if err := ac.RemoveDevice(ctx, "alice", 1); err != nil {
		t.Fatal(err)
	}
	wantGoodbye(t, alice, pb.ErrorCode_DISABLED)
	if err := ac.RemoveDevice(ctx, "alice", 1); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("remove again: %v", err)
	}
}

func TestPushWebhook(t *testing.T) {
	secret := "push-secret"
	var mu sync.Mutex
	var batches []push.Batch
	var raw [][]byte
	calls := 0
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 { // the first call fails: the batch must be retried
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if !push.Verify([]byte(secret), r.Header.Get(push.TimestampHeader), body, r.Header.Get(push.SignatureHeader)) {
			t.Errorf("bad signature")
		}
		var b push.Batch
		_ = json.Unmarshal(body, &b)
		batches = append(batches, b)
		raw = append(raw, body)
	}))
	defer gw.Close()
	n := servertest.Start(t, server.Config{PushURL: gw.URL, PushSecret: secret, PushWindow: 200 * time.Millisecond})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	carol := servertest.Register(t, n, "carol")
	for name, c := range map[string]*servertest.RawConn{"bob": bob, "carol": carol} {
		r := c.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_SetPushToken{SetPushToken: &pb.SetPushToken{Token: "tok-" + name, Platform: "fcm"}}})
		if r.GetOk() == nil {
			t.Fatalf("SetPushToken: %v", r)
		}
	}
	bob.Close() // offline; carol stays online
	waitOffline(t, n, "bob")
	marker := []byte("PUSH-CONTENT-MARKER")
	for range 3 {
		for _, to := range []string{"bob", "carol"} {
			if r, err := alice.SendTo(to, []uint32{1}, marker); err != nil || r.GetSendAck() == nil {
				t.Fatalf("send: %v %v", r, err)
			}
		}
	}
	// The three sends usually share one window, but on a loaded machine
	// they may straddle two: what must hold is that bob's notices add up
	// to 3, nobody else gets one, and the failed first call was retried.
	counted := func() int {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, b := range batches {
			for _, nt := range b.Notices {
				total += nt.Count
			}
		}
		return total
	}
	for deadline := time.Now().Add(10 * time.Second); counted() < 3 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond) // another window: nothing more may come
	mu.Lock()
	defer mu.Unlock()
	if len(batches) == 0 || calls != len(batches)+1 {
		t.Fatalf("%d calls, %d batches accepted: want the first call refused and every batch after it accepted", calls, len(batches))
	}
	total := 0
	for _, b := range batches {
		for _, nt := range b.Notices {
			if nt.Device != "bob.1" || nt.Token != "tok-bob" || nt.Platform != "fcm" || nt.Count < 1 {
				t.Fatalf("notice %+v: only bob's offline device should be pushed", nt)
			}
			total += nt.Count
		}
	}
	if total != 3 {
		t.Fatalf("bob's notices count %d entries in %d batches, want 3: %+v", total, len(batches), batches)
	}
	for _, body := range raw {
		for _, form := range [][]byte{marker, []byte("alice"), []byte(base64.StdEncoding.EncodeToString(marker))} {
			if bytes.Contains(body, form) {
				t.Fatalf("push payload %s carries %q", body, form)
			}
		}
	}
}

func waitOffline(t *testing.T, n *servertest.Node, user string) {
	t.Helper()
	ac := adminClient(n)
	for range 200 {
		d, err := ac.Account(context.Background(), user)
		if err == nil && !d.Devices[0].Online {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s still online", user)
}
