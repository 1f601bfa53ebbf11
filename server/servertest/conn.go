package servertest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/transport"
	"github.com/parley-im/parley/transport/ws"
)

// RawConn is a device connection that speaks frames directly. It is not
// safe for concurrent use except Write, which the transport serialises.
type RawConn struct {
	Key     transport.StaticKey
	Welcome *pb.Welcome
	// Timeout bounds each Read; default 10 s.
	Timeout time.Duration
	// Pushed holds frames that arrived while Call waited for its reply.
	Pushed []*pb.ServerFrame

	c      *transport.Conn
	nextID uint64
}

// NewKey makes a fresh device key.
func NewKey() transport.StaticKey {
	k, err := transport.GenerateStaticKey(rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return k
}

// DialTCP connects to a node at addr whose key is pinned (IK) and reads
// Welcome.
func DialTCP(ctx context.Context, addr string, serverKey transport.PublicKey, key transport.StaticKey) (*RawConn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("servertest: dial: %w", err)
	}
	return handshake(ctx, nc, serverKey, key)
}

// DialWS connects over WebSocket (url "ws://host:port/ws").
func DialWS(ctx context.Context, url string, serverKey transport.PublicKey, key transport.StaticKey) (*RawConn, error) {
	nc, err := ws.Dial(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("servertest: ws dial: %w", err)
	}
	return handshake(ctx, nc, serverKey, key)
}

func handshake(ctx context.Context, nc net.Conn, serverKey transport.PublicKey, key transport.StaticKey) (*RawConn, error) {
	c, err := transport.Client(ctx, nc, transport.ClientConfig{Key: key, ServerKey: &serverKey})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("servertest: handshake: %w", err)
	}
	rc := &RawConn{Key: key, c: c, Timeout: 10 * time.Second}
	f, err := rc.Read()
	if err != nil {
		c.Close()
		return nil, err
	}
	if rc.Welcome = f.GetWelcome(); rc.Welcome == nil {
		c.Close()
		return nil, fmt.Errorf("servertest: first frame is %T, want Welcome", f.Body)
	}
	return rc, nil
}

// Dial connects a device key to n over TCP, failing the test on error.
func Dial(t testing.TB, n *Node, key transport.StaticKey) *RawConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := DialTCP(ctx, n.TCPAddr().String(), n.ServerKey(), key)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Conn exposes the transport connection (for raw writes in tests).
func (c *RawConn) Conn() *transport.Conn { return c.c }

// Close closes the connection.
func (c *RawConn) Close() error { return c.c.Close() }

// NextID returns a fresh request id.
func (c *RawConn) NextID() uint64 { c.nextID++; return c.nextID }

// Write sends one frame as is (id included).
func (c *RawConn) Write(f *pb.ClientFrame) error {
	b, err := proto.Marshal(f)
	if err != nil {
		return fmt.Errorf("servertest: marshal: %w", err)
	}
	return c.c.WriteFrame(b)
}

// WriteRaw sends bytes as one frame, unchecked.
func (c *RawConn) WriteRaw(b []byte) error { return c.c.WriteFrame(b) }

// Read returns the next frame from the wire (ignoring Pushed).
func (c *RawConn) Read() (*pb.ServerFrame, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(c.Timeout))
	b, err := c.c.ReadFrame()
	if err != nil {
		return nil, fmt.Errorf("servertest: read: %w", err)
	}
	f := new(pb.ServerFrame)
	if err := proto.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("servertest: decode server frame: %w", err)
	}
	return f, nil
}

// Next returns the oldest pushed frame, reading one if none is queued.
func (c *RawConn) Next() (*pb.ServerFrame, error) {
	if len(c.Pushed) > 0 {
		f := c.Pushed[0]
		c.Pushed = c.Pushed[1:]
		return f, nil
	}
	return c.Read()
}

// ErrGoodbye is wrapped by Call when the node said Goodbye instead of
// replying; the Goodbye frame is returned too.
var ErrGoodbye = errors.New("servertest: goodbye")

// Call sends f with a fresh id and returns the frame that answers it;
// frames pushed meanwhile go to Pushed.
func (c *RawConn) Call(f *pb.ClientFrame) (*pb.ServerFrame, error) {
	f.Id = c.NextID()
	if err := c.Write(f); err != nil {
		return nil, err
	}
	for {
		r, err := c.Read()
		if err != nil {
			return nil, err
		}
		if r.ReplyTo == f.Id {
			return r, nil
		}
		if g := r.GetGoodbye(); g != nil {
			return r, fmt.Errorf("%w: %s: %s", ErrGoodbye, g.Code, g.Reason)
		}
		c.Pushed = append(c.Pushed, r)
	}
}

// MustCall is Call that fails the test on a transport error.
func (c *RawConn) MustCall(t testing.TB, f *pb.ClientFrame) *pb.ServerFrame {
	t.Helper()
	r, err := c.Call(f)
	if err != nil {
		t.Fatalf("call %T: %v", f.Body, err)
	}
	return r
}

// Expect reads pushed frames until one satisfies ok, failing the test on
// error; frames skipped are dropped.
func (c *RawConn) Expect(t testing.TB, what string, ok func(*pb.ServerFrame) bool) *pb.ServerFrame {
	t.Helper()
	for {
		f, err := c.Next()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(f) {
			return f
		}
	}
}
