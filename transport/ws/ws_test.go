package ws

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/transport"
)

type result struct {
	c   *transport.Conn
	err error
}

// nodeServer serves /ws like the node: Accept, then the Noise server
// handshake, then echo every frame back.
func nodeServer(t *testing.T, key transport.StaticKey) (*httptest.Server, chan result) {
	t.Helper()
	results := make(chan result, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nc, err := Accept(w, r)
		if err != nil {
			results <- result{nil, err}
			return
		}
		c, err := transport.Server(context.Background(), nc, transport.ServerConfig{Key: key, HandshakeTimeout: 5 * time.Second})
		results <- result{c, err}
		if err != nil {
			return
		}
		for {
			f, err := c.ReadFrame()
			if err != nil {
				c.Close()
				return
			}
			if err := c.WriteFrame(f); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, results
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws" }

func newKey(t *testing.T) transport.StaticKey {
	k, err := transport.GenerateStaticKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestHandshakeOverWebSocket(t *testing.T) {
	nodeKey, devKey := newKey(t), newKey(t)
	nodePub := nodeKey.Public()
	srv, results := nodeServer(t, nodeKey)
	for _, tt := range []struct {
		name string
		pin  *transport.PublicKey
	}{{"XX", nil}, {"IK", &nodePub}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			nc, err := Dial(ctx, wsURL(srv))
			if err != nil {
				t.Fatal(err)
			}
			c, err := transport.Client(ctx, nc, transport.ClientConfig{Key: devKey, ServerKey: tt.pin})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r := <-results
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !r.c.RemoteKey().Equal(devKey.Public()) || !c.ServerKey().Equal(nodePub) {
				t.Fatal("keys not learned over WebSocket")
			}
			frames := [][]byte{[]byte("a"), make([]byte, protocol.MaxFrameSize), []byte("b")}
			if err := c.WriteFrames(frames); err != nil {
				t.Fatal(err)
			}
			for i, want := range frames {
				got, err := c.ReadFrame()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("echo %d: %d bytes, %v", i, len(got), err)
				}
			}
		})
	}
}

func TestWrongPinOverWebSocket(t *testing.T) {
	srv, _ := nodeServer(t, newKey(t))
	stale := newKey(t).Public()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nc, err := Dial(ctx, wsURL(srv))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := transport.Client(ctx, nc, transport.ClientConfig{Key: newKey(t), ServerKey: &stale}); !errors.Is(err, transport.ErrServerKeyChanged) {
		t.Fatalf("Client = %v, want ErrServerKeyChanged", err)
	}
}

func TestOriginPolicy(t *testing.T) {
	srv, _ := nodeServer(t, newKey(t))
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tt := range []struct {
		origin string
		ok     bool
	}{
		{"", true},                      // non-browser client
		{"http://" + host, true},        // the web client served by the node
		{"https://evil.example", false}, // another site in the user's browser
		{"http://" + host + ".evil", false},
	} {
		t.Run(tt.origin, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, wsURL(srv), &websocket.DialOptions{HTTPHeader: h})
			if c != nil {
				c.CloseNow()
			}
			if tt.ok != (err == nil) {
				t.Fatalf("origin %q: err = %v, want ok=%v", tt.origin, err, tt.ok)
			}
			if !tt.ok && resp != nil && resp.StatusCode != http.StatusForbidden {
				t.Errorf("status %d, want 403", resp.StatusCode)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int
		ok   bool
	}{
		{"largest record", transport.MaxRecordSize, true},
		// coder/websocket lets one byte past the limit through (it reads
		// limit+1 to see the end of the message), so test just beyond that.
		{"two bytes more", transport.MaxRecordSize + 2, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errc := make(chan error, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				nc, err := Accept(w, r)
				if err != nil {
					errc <- err
					return
				}
				defer nc.Close()
				_, err = io.ReadFull(nc, make([]byte, tt.size))
				errc <- err
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			nc, err := Dial(ctx, wsURL(srv))
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			if _, err := nc.Write(make([]byte, tt.size)); err != nil {
				t.Fatal(err)
			}
			err = <-errc
			if tt.ok && err != nil {
				t.Fatalf("read of %d-byte message: %v", tt.size, err)
			}
			if !tt.ok && !errors.Is(err, websocket.ErrMessageTooBig) {
				t.Fatalf("read of %d-byte message: %v, want ErrMessageTooBig", tt.size, err)
			}
		})
	}
}
