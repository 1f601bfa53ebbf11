package client_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/client/storage/memkv"
	"github.com/parley-im/parley/server/admin"
	"github.com/parley-im/parley/server/servertest"
)

// cuttable dials real TCP connections and can silence the latest one in one
// direction, as a network that stops carrying packets does: the SDK's
// request then times out without the connection ending.
type cuttable struct {
	mu   sync.Mutex
	last *cutConn
}

type cutConn struct {
	net.Conn
	mu         sync.Mutex
	dropReads  bool // reads block until Close: replies never arrive
	dropWrites bool // writes vanish: the node never hears
	closed     chan struct{}
}

func (d *cuttable) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var nd net.Dialer
	nc, err := nd.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &cutConn{Conn: nc, closed: make(chan struct{})}
	d.mu.Lock()
	d.last = c
	d.mu.Unlock()
	return c, nil
}

// cut silences the latest connection (reads or writes) and returns it.
func (d *cuttable) cut(reads bool) *cutConn {
	d.mu.Lock()
	c := d.last
	d.mu.Unlock()
	c.mu.Lock()
	c.dropReads, c.dropWrites = reads, !reads
	c.mu.Unlock()
	return c
}

func (c *cutConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	drop := c.dropReads
	c.mu.Unlock()
	if drop {
		<-c.closed
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *cutConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	drop := c.dropWrites
	c.mu.Unlock()
	if drop {
		return len(b), nil
	}
	return c.Conn.Write(b)
}

func (c *cutConn) Close() error {
	c.mu.Lock()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// A message whose send ends without a first tick (the connection goes
// silent, or the device restarts) stays PENDING on the device and goes
// again under the same id when the device is connected; the recipient
// shows it exactly once and the sender's ticks reach ✓✓, whether or not
// the node had it the first time.
func TestPendingSendGoesAgain(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cutReads  bool // the node gets the Send, its SendAck never arrives
		restart   bool // the sending device restarts before connecting again
		nodeHasIt bool
	}{
		{name: "reply lost", cutReads: true, nodeHasIt: true},
		{name: "send lost", cutReads: false},
		{name: "reply lost then device restarts", cutReads: true, restart: true, nodeHasIt: true},
		{name: "send lost then device restarts", cutReads: false, restart: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t)
			ctx := ctxT(t)
			bob := memDevice(t, n)
			register(t, bob, "bob")
			aliceSt := pebbleStore(t, t.TempDir())
			dial := &cuttable{}
			alice := connectedAlice(t, n, aliceSt, dial, !tc.restart)
			if _, err := alice.Send(ctx, "bob", "before the cut"); err != nil {
				t.Fatal(err)
			}
			if m := bob.nextMessage(t); m.Text != "before the cut" {
				t.Fatalf("bob got %q", m.Text)
			}

			cut := dial.cut(tc.cutReads)
			id, err := alice.Send(ctx, "bob", "through the cut")
			if !errors.Is(err, client.ErrSendPending) {
				t.Fatalf("send through a silent connection: %v, want ErrSendPending", err)
			}
			if st, err := alice.Status(ctx, id); err != nil || st != client.StatusPending {
				t.Fatalf("status after the cut: %v %v, want pending", st, err)
			}
			if tc.nodeHasIt {
				if m := bob.nextMessage(t); m.Text != "through the cut" {
					t.Fatalf("bob got %q", m.Text)
				}
			} else {
				bob.noMessage(t, 300*time.Millisecond)
			}

			if tc.restart {
				alice.Close()
				alice = newSDK(t, n, aliceSt, &cuttable{}, false)
				if err := alice.Connect(ctx); err != nil {
					t.Fatal(err)
				}
			} else {
				cut.Close() // the SDK notices and reconnects on its own
			}
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			if err := alice.WaitStatus(wctx, id, client.StatusDelivered); err != nil {
				st, _ := alice.Status(ctx, id)
				t.Fatalf("the pending message never reached ✓✓ (status %v): %v", st, err)
			}
			if !tc.nodeHasIt {
				if m := bob.nextMessage(t); m.Text != "through the cut" {
					t.Fatalf("bob got %q", m.Text)
				}
			}
			bob.noMessage(t, 500*time.Millisecond) // never a second copy

			h, err := alice.History(ctx, "bob", 0)
			if err != nil {
				t.Fatal(err)
			}
			var n2 int
			for _, it := range h {
				if it.ID == id {
					n2++
				}
			}
			if n2 != 1 {
				t.Fatalf("alice's history holds the message %d times", n2)
			}
			if left := outboxLen(t, aliceSt); left != 0 {
				t.Fatalf("%d messages still waiting to be resent after ✓✓", left)
			}
		})
	}
}

// newSDK is a client with its own dialer; its events are discarded.
func newSDK(t *testing.T, n *servertest.Node, st storage.Storage, d client.Dialer, reconnect bool) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Storage: st, Dialer: d, ServerAddr: n.TCPAddr().String(), PreKeyBatch: 30,
		Reconnect: reconnect, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-c.Events():
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() { c.Close(); close(done) })
	return c
}

// connectedAlice is newSDK registered as alice and connected.
func connectedAlice(t *testing.T, n *servertest.Node, st storage.Storage, d client.Dialer, reconnect bool) *client.Client {
	t.Helper()
	c := newSDK(t, n, st, d, reconnect)
	if err := c.Register(ctxT(t), "alice", ""); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	return c
}

func outboxLen(t *testing.T, st storage.Storage) int {
	t.Helper()
	var n int
	if err := st.Scan(context.Background(), []byte("out/"), false, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// A pending message the node refuses when it goes again (the recipient's
// account was deleted meanwhile) ends FAILED and leaves the outbox: it is
// not sent forever.
func TestPendingSendRefusedFails(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	bob := memDevice(t, n)
	register(t, bob, "bob")
	aliceSt := pebbleStore(t, t.TempDir())
	dial := &cuttable{}
	alice := connectedAlice(t, n, aliceSt, dial, true)
	if _, err := alice.Send(ctx, "bob", "hello"); err != nil {
		t.Fatal(err)
	}
	cut := dial.cut(false)
	id, err := alice.Send(ctx, "bob", "too late")
	if !errors.Is(err, client.ErrSendPending) {
		t.Fatalf("send through a silent connection: %v, want ErrSendPending", err)
	}
	bob.close()
	ac := &admin.Client{Addr: n.AdminAddr().String(), Token: n.AdminToken()}
	if err := ac.DeleteAccount(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	cut.Close()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := alice.WaitStatus(wctx, id, client.StatusDelivered); err == nil {
		t.Fatal("a message to a deleted account reached ✓✓")
	}
	if st, err := alice.Status(ctx, id); st != client.StatusFailed {
		t.Fatalf("status %v (%v), want failed", st, err)
	}
	if left := outboxLen(t, aliceSt); left != 0 {
		t.Fatalf("%d messages still waiting to be resent after a refusal", left)
	}
}

// A group message goes again the same way: re-encrypted under the sender
// key, once per member device.
func TestPendingGroupSendGoesAgain(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	bob := memDevice(t, n)
	register(t, bob, "bob")
	dial := &cuttable{}
	alice := connectedAlice(t, n, memkv.New(), dial, true)
	if _, err := alice.CreateGroup(ctx, "pair", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	nextText := func() string {
		t.Helper()
		for {
			if m := bob.nextMessage(t); m.Event == nil {
				return m.Text
			}
		}
	}
	if _, err := alice.SendGroup(ctx, "pair", "before the cut"); err != nil {
		t.Fatal(err)
	}
	if got := nextText(); got != "before the cut" {
		t.Fatalf("bob got %q", got)
	}
	cut := dial.cut(false)
	id, err := alice.SendGroup(ctx, "pair", "through the cut")
	if !errors.Is(err, client.ErrSendPending) {
		t.Fatalf("group send through a silent connection: %v, want ErrSendPending", err)
	}
	bob.noMessage(t, 300*time.Millisecond)
	cut.Close()
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := alice.WaitStatus(wctx, id, client.StatusDelivered); err != nil {
		t.Fatalf("the pending group message never reached ✓✓: %v", err)
	}
	if got := nextText(); got != "through the cut" {
		t.Fatalf("bob got %q", got)
	}
	bob.noMessage(t, 500*time.Millisecond)
}
