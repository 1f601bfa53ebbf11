package push

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// gateway is a real local HTTP receiver that checks signatures.
type gateway struct {
	t       *testing.T
	secret  []byte
	failN   atomic.Int32 // answer 503 to this many calls first
	calls   atomic.Int32
	mu      sync.Mutex
	batches []Batch
	got     chan Batch
}

func newGateway(t *testing.T, secret []byte) (*gateway, *httptest.Server) {
	g := &gateway{t: t, secret: secret, got: make(chan Batch, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.calls.Add(1)
		body, _ := io.ReadAll(r.Body)
		if !Verify(g.secret, r.Header.Get(TimestampHeader), body, r.Header.Get(SignatureHeader)) {
			t.Errorf("bad signature on %s", body)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if g.failN.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		var b Batch
		if err := json.Unmarshal(body, &b); err != nil {
			t.Errorf("undecodable batch %q: %v", body, err)
		}
		g.mu.Lock()
		g.batches = append(g.batches, b)
		g.mu.Unlock()
		g.got <- b
	}))
	t.Cleanup(srv.Close)
	return g, srv
}

func addr(u string) protocol.Address { return protocol.Address{User: u, Device: 1} }

func start(t *testing.T, cfg Config) *Service {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func tokens(m map[string]string) func(context.Context, protocol.Address) (store.PushToken, error) {
	return func(_ context.Context, a protocol.Address) (store.PushToken, error) {
		if tok, ok := m[a.User]; ok {
			return store.PushToken{Token: tok, Platform: "fcm"}, nil
		}
		return store.PushToken{}, store.ErrNotFound
	}
}

func TestOneBatchPerWindow(t *testing.T) {
	secret := []byte("s3cret")
	g, srv := newGateway(t, secret)
	online := map[string]bool{"carol": true}
	s := start(t, Config{
		URL: srv.URL, Secret: secret, Window: 100 * time.Millisecond,
		Token:  tokens(map[string]string{"bob": "tok-bob", "carol": "tok-carol"}),
		Online: func(a protocol.Address) bool { return online[a.User] },
	})
	for range 3 {
		s.Notify(addr("bob"), 1) // three entries in one window: one notice
	}
	s.Notify(addr("carol"), 1) // online by the time the batch goes
	s.Notify(addr("dave"), 1)  // no token
	select {
	case b := <-g.got:
		if len(b.Notices) != 1 || b.Notices[0] != (Notice{Device: "bob.1", Token: "tok-bob", Platform: "fcm", Count: 3}) {
			t.Fatalf("batch = %+v, want one notice for bob.1 with count 3", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no batch")
	}
	time.Sleep(300 * time.Millisecond)
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

func TestRetriesFailingGateway(t *testing.T) {
	secret := []byte("k")
	g, srv := newGateway(t, secret)
	g.failN.Store(2)
	s := start(t, Config{
		URL: srv.URL, Secret: secret, Window: 20 * time.Millisecond, Backoff: 10 * time.Millisecond,
		Token: tokens(map[string]string{"bob": "t"}), Online: func(protocol.Address) bool { return false },
	})
	s.Notify(addr("bob"), 2)
	select {
	case b := <-g.got:
		if len(b.Notices) != 1 || b.Notices[0].Count != 2 {
			t.Fatalf("batch = %+v", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the batch was not retried to success")
	}
	if n := g.calls.Load(); n != 3 {
		t.Fatalf("%d calls, want 2 failures + 1 success", n)
	}
}

func TestBoundedQueueDropsOldest(t *testing.T) {
	var drops atomic.Int32
	s, err := New(Config{
		URL: "http://127.0.0.1:1/", Secret: []byte("k"), QueueSize: 3, MaxBatch: 100,
		Token: tokens(nil), Online: func(protocol.Address) bool { return false },
		OnDrop: func() { drops.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"aa", "bb", "cc", "dd", "ee"} {
		s.Notify(addr(u), 1) // never blocks, even with nobody serving
	}
	if s.Pending() != 3 || drops.Load() != 2 {
		t.Fatalf("pending %d, dropped %d; want 3 and 2", s.Pending(), drops.Load())
	}
	got := s.take()
	if len(got) != 3 || got[0].addr.User != "cc" || got[2].addr.User != "ee" {
		t.Fatalf("kept %+v, want the newest three", got)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	ok := Config{URL: "https://push.example/hook", Secret: []byte("k"), Token: tokens(nil), Online: func(protocol.Address) bool { return false }}
	tests := []struct {
		name string
		edit func(*Config)
	}{
		{"no url", func(c *Config) { c.URL = "" }},
		{"ftp url", func(c *Config) { c.URL = "ftp://x/y" }},
		{"no secret", func(c *Config) { c.Secret = nil }},
		{"no token func", func(c *Config) { c.Token = nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			if _, err := New(c); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := New(ok); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
}
