package server_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/admin"
	"github.com/parley-im/parley/server/servertest"
)

// Each bad frame closes only its connection with Goodbye{BAD_FRAME} (or
// UNAUTHENTICATED); the node and bob's queued message stay intact.
func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	bobKey := servertest.NewKey()
	bob := servertest.Dial(t, n, bobKey)
	if err := bob.Register("bob", "", 1, 1); err != nil {
		t.Fatal(err)
	}
	bob.Close()
	if r, _ := alice.SendTo("bob", []uint32{1}, []byte("keep me")); r.GetSendAck() == nil {
		t.Fatal(r)
	}
	unknownBody := protowire.AppendTag(nil, 99, protowire.BytesType)
	unknownBody = protowire.AppendBytes(unknownBody, []byte("x"))
	tests := []struct {
		name       string
		registered bool
		raw        []byte
		want       pb.ErrorCode
	}{
		{"garbage", true, []byte{0xff, 0xff, 0xff}, pb.ErrorCode_BAD_FRAME},
		{"empty", true, nil, pb.ErrorCode_BAD_FRAME},
		{"unknown body", true, unknownBody, pb.ErrorCode_BAD_FRAME},
		{"zero id", true, mustMarshal(t, ping()), pb.ErrorCode_BAD_FRAME},
		{"truncated send", true, mustMarshal(t, &pb.ClientFrame{Id: 1, Body: &pb.ClientFrame_Send{Send: &pb.Send{To: "bob"}}})[:4], pb.ErrorCode_BAD_FRAME},
		{"unregistered send", false, mustMarshal(t, &pb.ClientFrame{Id: 1, Body: &pb.ClientFrame_Send{Send: &pb.Send{To: "bob"}}}), pb.ErrorCode_UNAUTHENTICATED},
		{"unregistered ack", false, mustMarshal(t, ack(1)), pb.ErrorCode_UNAUTHENTICATED},
		{"unregistered fetch", false, mustMarshal(t, &pb.ClientFrame{Id: 1, Body: &pb.ClientFrame_FetchBundles{FetchBundles: &pb.FetchBundles{User: "bob"}}}), pb.ErrorCode_UNAUTHENTICATED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *servertest.RawConn
			if tt.registered {
				c = servertest.Register(t, n, "u"+strings.ReplaceAll(tt.name, " ", "_"))
			} else {
				c = servertest.Dial(t, n, servertest.NewKey())
			}
			if err := c.WriteRaw(tt.raw); err != nil {
				t.Fatal(err)
			}
			wantGoodbye(t, c, tt.want)
			if r := alice.MustCall(t, ping()); r.GetPong() == nil {
				t.Fatalf("alice's ping after the bad frame: %v", r)
			}
		})
	}
	t.Run("oversized", func(t *testing.T) {
		c := servertest.Register(t, n, "oversized")
		big := make([]byte, protocol.MaxFrameSize+1)
		if err := c.WriteRaw(big); err == nil {
			wantGoodbye(t, c, pb.ErrorCode_BAD_FRAME)
		} // else: the transport refused to send it, which is fine too
	})
	bob = servertest.Dial(t, n, bobKey)
	d := bob.Expect(t, "the queued message", isDeliver).GetDeliver()
	if string(d.GetEnvelope().GetBody()) != "keep me" {
		t.Fatalf("bob's queue after bad frames: %v", d)
	}
}

func mustMarshal(t *testing.T, f *pb.ClientFrame) []byte {
	t.Helper()
	b, err := protoMarshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdleTimeout(t *testing.T) {
	n := servertest.Start(t, server.Config{IdleTimeout: 300 * time.Millisecond})
	c := servertest.Register(t, n, "alice")
	start := time.Now()
	wantGoodbye(t, c, pb.ErrorCode_IDLE_TIMEOUT)
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("idle timeout took %v", el)
	}
	// Pings keep a connection alive.
	p := servertest.Dial(t, n, servertest.NewKey())
	for range 5 {
		time.Sleep(100 * time.Millisecond)
		if r := p.MustCall(t, ping()); r.GetPong() == nil {
			t.Fatal(r)
		}
	}
}

func TestHandshakeTimeout(t *testing.T) {
	n := servertest.Start(t, server.Config{HandshakeTimeout: 300 * time.Millisecond})
	nc, err := net.Dial("tcp", n.TCPAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("silent client not dropped by the handshake timeout: %v", err)
	}
	for i := 0; n.Stats().HandshakeErrors == 0; i++ {
		if i == 100 {
			t.Fatal("handshake error not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPanicEndsOnlyThatSession(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	victim := servertest.Register(t, n, "victim")
	other := servertest.Register(t, n, "other")
	server.SetFrameHook(n.Node, func(a protocol.Address, f *pb.ClientFrame) {
		if a.User == "victim" && f.GetPing() != nil {
			panic("injected")
		}
	})
	if err := victim.Write(&pb.ClientFrame{Id: 9, Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}}); err != nil {
		t.Fatal(err)
	}
	wantGoodbye(t, victim, pb.ErrorCode_INTERNAL)
	if got := n.Stats().PanicsRecovered; got != 1 {
		t.Fatalf("panics recovered = %d, want 1", got)
	}
	if r := other.MustCall(t, ping()); r.GetPong() == nil {
		t.Fatalf("other session after the panic: %v", r)
	}
	if r, _ := other.SendTo("victim", []uint32{1}, []byte("still here")); r.GetSendAck() == nil {
		t.Fatalf("send after the panic: %v", r)
	}
	fresh := servertest.Register(t, n, "fresh")
	if r := fresh.MustCall(t, ping()); r.GetPong() == nil {
		t.Fatal(r)
	}
}

func TestNewerConnectionReplacesOlder(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	key := servertest.NewKey()
	old := servertest.Dial(t, n, key)
	if err := old.Register("alice", "", 1, 1); err != nil {
		t.Fatal(err)
	}
	servertest.Dial(t, n, key)
	wantGoodbye(t, old, pb.ErrorCode_REPLACED)
}

func TestInviteRegistrationAndAdmin(t *testing.T) {
	n := servertest.Start(t, server.Config{Registration: "invite"})
	ctx := context.Background()
	ac := &admin.Client{Addr: n.AdminAddr().String(), Token: n.AdminToken()}
	if _, err := (&admin.Client{Addr: ac.Addr, Token: "wrong-token-wrong-token"}).Stats(ctx); err != admin.ErrUnauthorized {
		t.Fatalf("wrong token: %v", err)
	}
	inv, err := ac.CreateInvite(ctx, time.Hour)
	if err != nil || len(inv.Code) < 16 || inv.ExpiresAt == nil {
		t.Fatalf("create invite = %+v, %v", inv, err)
	}
	revoked, _ := ac.CreateInvite(ctx, 0)
	if err := ac.RevokeInvite(ctx, revoked.Code); err != nil {
		t.Fatal(err)
	}

	c := servertest.Dial(t, n, servertest.NewKey())
	if c.Welcome.RegistrationMode != "invite" {
		t.Fatalf("welcome = %v", c.Welcome)
	}
	reg := func(code string) *pb.ServerFrame {
		return c.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_Register{Register: &pb.Register{Handle: "alice", InviteCode: code, Keys: servertest.FakeKeys(1, 1, 1)}}})
	}
	wantError(t, reg(""), pb.ErrorCode_INVITE_REQUIRED)
	wantError(t, reg("NOPE"), pb.ErrorCode_INVALID_INVITE)
	wantError(t, reg(revoked.Code), pb.ErrorCode_INVALID_INVITE)
	if r := reg(inv.Code); r.GetRegistered() == nil {
		t.Fatalf("register with invite: %v", r)
	}
	c2 := servertest.Dial(t, n, servertest.NewKey())
	if err := c2.Register("bob", inv.Code, 1, 1); err == nil {
		t.Fatal("a used invite worked twice")
	}
	invs, err := ac.Invites(ctx)
	if err != nil || len(invs) != 2 {
		t.Fatalf("invites = %+v, %v", invs, err)
	}
	for _, i := range invs {
		if i.Code == inv.Code && i.UsedBy != "alice" {
			t.Fatalf("used invite shows %+v", i)
		}
	}
	st, err := ac.Stats(ctx)
	if err != nil || st.Sessions != 1 || st.Connections != 2 || st.RegistrationMode != "invite" {
		t.Fatalf("stats = %+v, %v", st, err)
	}
	if err := ac.RevokeInvite(ctx, "NOSUCHCODE"); err != admin.ErrNotFound {
		t.Fatalf("revoke unknown: %v", err)
	}
}

func TestHTTPHealthAndWebSocket(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + n.HTTPAddr().String() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %s", p, resp.Status)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := servertest.DialWS(ctx, "ws://"+n.HTTPAddr().String()+"/ws", n.ServerKey(), servertest.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Register("webby", "", 1, 1); err != nil {
		t.Fatal(err)
	}
	tcp := servertest.Register(t, n, "tcpuser")
	if r, _ := tcp.SendTo("webby", []uint32{1}, []byte("over ws")); r.GetSendAck() == nil {
		t.Fatal(r)
	}
	d := c.Expect(t, "Deliver over WebSocket", isDeliver).GetDeliver()
	if string(d.GetEnvelope().GetBody()) != "over ws" {
		t.Fatal(d)
	}
}
