//go:build linux

package park

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// pair returns both ends of a loopback TCP connection and the raw socket
// of the accepted end, which is what a node parks.
func pair(t *testing.T) (client, server *net.TCPConn, raw syscall.RawConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	raw, err = s.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn), s.(*net.TCPConn), raw
}

func newLot(t *testing.T) *Lot {
	t.Helper()
	l, err := New(Options{Resolution: 10 * time.Millisecond, Recheck: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// waker counts wakes and lets the test wait for the next one.
type waker chan struct{}

func (w waker) wake() { w <- struct{}{} }

func (w waker) wait(t *testing.T, what string) {
	t.Helper()
	select {
	case <-w:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake: %s", what)
	}
}

func (w waker) none(t *testing.T) {
	t.Helper()
	select {
	case <-w:
		t.Fatal("woken twice")
	default:
	}
}

// TestWakeCauses: each way a parked connection must come back wakes it
// exactly once.
func TestWakeCauses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration // 0: none
		cause    func(t *testing.T, l *Lot, sl Slot, client, server *net.TCPConn)
	}{
		{"frame arrives", 0, func(t *testing.T, _ *Lot, _ Slot, c, _ *net.TCPConn) {
			if _, err := c.Write([]byte{0, 0, 1}); err != nil {
				t.Fatal(err)
			}
		}},
		{"peer closes", 0, func(_ *testing.T, _ *Lot, _ Slot, c, _ *net.TCPConn) { c.Close() }},
		{"Wake", 0, func(t *testing.T, l *Lot, sl Slot, _, _ *net.TCPConn) {
			if !l.Wake(sl) {
				t.Fatal("Wake of a parked slot reported false")
			}
		}},
		{"deadline", 30 * time.Millisecond, func(*testing.T, *Lot, Slot, *net.TCPConn, *net.TCPConn) {}},
		{"closed under it", 0, func(_ *testing.T, _ *Lot, _ Slot, _, s *net.TCPConn) { s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLot(t)
			c, s, raw := pair(t)
			w := make(waker, 2)
			var dl time.Time
			if tc.deadline > 0 {
				dl = time.Now().Add(tc.deadline)
			}
			sl, err := l.Park(0, raw, dl, w.wake)
			if err != nil {
				t.Fatal(err)
			}
			if n := l.Parked(); n != 1 {
				t.Fatalf("parked = %d, want 1", n)
			}
			tc.cause(t, l, sl, c, s)
			w.wait(t, tc.name)
			if l.Wake(sl) {
				t.Fatal("Wake after the wake reported true")
			}
			if n := l.Parked(); n != 0 {
				t.Fatalf("parked = %d after the wake, want 0", n)
			}
			w.none(t)
		})
	}
}

// TestParkAgain: a woken socket can park again in its slot, and an event
// of the earlier parking does not wake the later one.
func TestParkAgain(t *testing.T) {
	l := newLot(t)
	c, _, raw := pair(t)
	w := make(waker, 2)
	sl, err := l.Park(0, raw, time.Time{}, w.wake)
	if err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	stale := mkTicket(uint32(sl-1), l.slots[sl-1].gen)
	l.mu.Unlock()
	l.Wake(sl)
	w.wait(t, "Wake")
	if sl2, err := l.Park(sl, raw, time.Time{}, w.wake); err != nil || sl2 != sl {
		t.Fatalf("park again = %d, %v; want slot %d", sl2, err, sl)
	}
	l.wakeTicket(stale)
	if n := l.Parked(); n != 1 {
		t.Fatalf("a stale ticket woke the new parking (parked = %d)", n)
	}
	if _, err := c.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "frame after parking again")
	w.none(t)
}

// TestFreeAndClose: Free unwatches without waking; Close wakes what is
// parked and refuses new parkings.
func TestFreeAndClose(t *testing.T) {
	l := newLot(t)
	_, _, raw1 := pair(t)
	_, _, raw2 := pair(t)
	w := make(waker, 4)
	sl1, err := l.Park(0, raw1, time.Time{}, w.wake)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Park(0, raw2, time.Time{}, w.wake); err != nil {
		t.Fatal(err)
	}
	l.Free(sl1)
	if n := l.Parked(); n != 1 {
		t.Fatalf("parked = %d after Free, want 1", n)
	}
	w.none(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	w.wait(t, "Close")
	w.none(t)
	if _, err := l.Park(0, raw1, time.Time{}, w.wake); !errors.Is(err, ErrClosed) {
		t.Fatalf("park after Close = %v, want ErrClosed", err)
	}
}
