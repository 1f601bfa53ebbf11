package client_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/client/storage/memkv"
	"github.com/parley-im/parley/client/storage/pebblekv"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

var tcp = client.DialerFunc(func(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
})

func startNode(t testing.TB) *servertest.Node {
	t.Helper()
	return servertest.Start(t, server.Config{})
}

// device is one SDK client with its event stream collected.
type device struct {
	*client.Client
	st     storage.Storage
	events chan client.Event
	stop   chan struct{}
}

func newDevice(t testing.TB, n *servertest.Node, st storage.Storage) *device {
	t.Helper()
	c, err := client.New(client.Config{Storage: st, Dialer: tcp, ServerAddr: n.TCPAddr().String(), PreKeyBatch: 30})
	if err != nil {
		t.Fatal(err)
	}
	d := &device{Client: c, st: st, events: make(chan client.Event, 1000), stop: make(chan struct{})}
	go func() {
		for {
			select {
			case ev := <-c.Events():
				select {
				case d.events <- ev:
				case <-d.stop:
					return
				}
			case <-d.stop:
				return
			}
		}
	}()
	t.Cleanup(func() { d.close() })
	return d
}

func (d *device) close() {
	d.Client.Close()
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
}

func memDevice(t testing.TB, n *servertest.Node) *device { return newDevice(t, n, memkv.New()) }

func pebbleStore(t testing.TB, dir string) storage.Storage {
	t.Helper()
	s, err := pebblekv.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func register(t testing.TB, d *device, handle string) {
	t.Helper()
	if err := d.Register(ctxT(t), handle, ""); err != nil {
		t.Fatalf("register %s: %v", handle, err)
	}
}

// nextMessage waits for the next Message event (skipping others).
func (d *device) nextMessage(t testing.TB) client.Message {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev := <-d.events:
			if m, ok := ev.(client.Message); ok {
				return m
			}
		case <-timeout:
			t.Fatal("no message within 15s")
		}
	}
}

// waitEvent waits for an event satisfying ok.
func (d *device) waitEvent(t testing.TB, what string, ok func(client.Event) bool) client.Event {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev := <-d.events:
			if ok(ev) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s within 15s", what)
		}
	}
}

// noMessage asserts no Message event arrives within d.
func (d *device) noMessage(t testing.TB, wait time.Duration) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev := <-d.events:
			if m, ok := ev.(client.Message); ok {
				t.Fatalf("unexpected message %q from %s", m.Text, m.From)
			}
		case <-timeout:
			return
		}
	}
}

// discardEvents throws away d's events (for senders whose events a test
// does not look at).
func (d *device) discardEvents() {
	go func() {
		for {
			select {
			case <-d.events:
			case <-d.stop:
				return
			}
		}
	}()
}
