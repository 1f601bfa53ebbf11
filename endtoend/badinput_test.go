package endtoend_test

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/transport"
)

// closeWithin bounds how long the node may take to drop a bad connection.
// The truncated handshake is dropped by the node's handshake timeout
// (10 s by default), everything else at once.
const closeWithin = 30 * time.Second

// TestBadInputDoesNotHurtNode: garbage, a handshake that stops halfway and
// broken frames after a real Noise handshake each get their connection
// closed by the node, and the node goes on serving: messages queued before
// the attack are still delivered, new ones too.
func TestBadInputDoesNotHurtNode(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	n := startNode(t, data)
	nodeKey, err := transport.ParsePublicKey(n.key)
	if err != nil {
		t.Fatalf("the node printed an unparsable key %q: %v", n.key, err)
	}
	alice, bob := newDevice(t, n.tcp), newDevice(t, n.tcp)
	alice.register(t, "alice")
	bob.register(t, "bob")
	alice.sendOK(t, "bob", "before-1")
	alice.sendOK(t, "bob", "before-2")

	// Each attack gets a fresh connection; the function returns once it
	// has sent its bytes, then the test waits for the node to hang up.
	attacks := []struct {
		name string
		// raw attacks write to the TCP connection; after handshake ones get
		// a Noise connection authenticated with a fresh device key.
		raw            func(t *testing.T, nc net.Conn)
		afterHandshake func(t *testing.T, tc *transport.Conn, nc net.Conn)
	}{
		{name: "tcp garbage", raw: func(t *testing.T, nc net.Conn) {
			write(t, nc, append([]byte("GET / HTTP/1.1\r\nHost: parley\r\n\r\n"), randomBytes(4096)...))
		}},
		{name: "unknown handshake pattern", raw: func(t *testing.T, nc net.Conn) {
			write(t, nc, append([]byte{0, 0, 33, 0x7f}, randomBytes(32)...))
		}},
		{name: "truncated handshake", raw: func(t *testing.T, nc net.Conn) {
			rec := firstHandshakeRecord(t)
			write(t, nc, rec[:len(rec)/2]) // and then silence
		}},
		{name: "random frame", afterHandshake: func(t *testing.T, tc *transport.Conn, _ net.Conn) {
			if err := tc.WriteFrame(randomBytes(300)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "empty frame", afterHandshake: func(t *testing.T, tc *transport.Conn, _ net.Conn) {
			if err := tc.WriteFrame(nil); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "unauthenticated frame", afterHandshake: func(t *testing.T, _ *transport.Conn, nc net.Conn) {
			write(t, nc, append([]byte{0, 0, 100}, randomBytes(100)...))
		}},
		{name: "oversized frame header", afterHandshake: func(t *testing.T, _ *transport.Conn, nc net.Conn) {
			write(t, nc, []byte{0xff, 0xff, 0xff})
		}},
		{name: "truncated frame", afterHandshake: func(t *testing.T, _ *transport.Conn, nc net.Conn) {
			write(t, nc, append([]byte{0, 1, 0}, randomBytes(40)...))
			nc.(*net.TCPConn).CloseWrite()
		}},
	}
	t.Run("attacks", func(t *testing.T) {
		for _, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				t.Parallel()
				nc, err := net.DialTimeout("tcp", n.tcp, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				if a.raw != nil {
					a.raw(t, nc)
					expectHangUp(t, func() error { _, err := nc.Read(make([]byte, 512)); return err }, nc)
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				key, err := transport.GenerateStaticKey(rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				tc, err := transport.Client(ctx, nc, transport.ClientConfig{Key: key, ServerKey: &nodeKey})
				if err != nil {
					t.Fatalf("handshake with the node: %v", err)
				}
				a.afterHandshake(t, tc, nc)
				expectHangUp(t, func() error { _, err := tc.ReadFrame(); return err }, nc)
			})
		}
	})

	if !n.running() {
		t.Fatalf("the node exited during the attacks: %v", n.err)
	}
	alice.sendOK(t, "bob", "after")
	r := bob.must(t, "recv", "--json")
	want := []string{"before-1", "before-2", "after"}
	if got := receivedTexts(t, r); !slices.Equal(got, want) {
		t.Errorf("bob's queue after the attacks: got %q, want %q\n%s", got, want, r)
	}
}

// expectHangUp reads until the node closes the connection. Frames or bytes
// the node sends first (a Welcome, an error frame, a reject record) are
// fine; a connection still open after closeWithin is not.
func expectHangUp(t *testing.T, read func() error, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(closeWithin))
	for {
		err := read()
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("the node kept the connection open for %s", closeWithin)
		}
		return // EOF, reset, or a transport error caused by the close
	}
}

// firstHandshakeRecord returns the first record a real client sends (the
// XX pattern byte and Noise message 1 behind their length header),
// captured from transport.Client over an in-memory pipe.
func firstHandshakeRecord(t *testing.T) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	key, err := transport.GenerateStaticKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	go transport.Client(context.Background(), c, transport.ClientConfig{Key: key}) // fails once s closes
	s.SetDeadline(time.Now().Add(10 * time.Second))
	hdr := make([]byte, 3)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	if len(body) < 2 || body[0] != transport.PatternXX {
		t.Fatalf("unexpected first record %x", body)
	}
	return append(hdr, body...)
}

func write(t *testing.T, nc net.Conn, b []byte) {
	t.Helper()
	nc.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(b); err != nil {
		// The node may hang up before reading everything; that is a pass
		// for expectHangUp, not a failure here.
		t.Logf("write: %v", err)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
