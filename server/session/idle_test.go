package session_test

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// TestIdleRelease: a connection that stays silent past IdleRelease has its
// reader restarted and its ciphers dropped; the device notices nothing (it
// can still talk), and the idle timeout still closes a silent connection.
func TestIdleRelease(t *testing.T) {
	n := servertest.Start(t, server.Config{IdleRelease: 100 * time.Millisecond, IdleTimeout: 2 * time.Second})
	c := servertest.Register(t, n, "idler")
	for round := range 3 {
		time.Sleep(300 * time.Millisecond) // past IdleRelease: released and hopped
		f := c.MustCall(t, &pb.ClientFrame{Id: c.NextID(), Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}})
		if f.GetPong() == nil {
			t.Fatalf("round %d: ping after an idle release answered %v", round, f)
		}
	}
	start := time.Now()
	g := c.Expect(t, "Goodbye", func(f *pb.ServerFrame) bool { return f.GetGoodbye() != nil })
	if g.GetGoodbye().GetCode() != pb.ErrorCode_IDLE_TIMEOUT {
		t.Fatalf("goodbye %v, want IDLE_TIMEOUT", g.GetGoodbye())
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("idle timeout after %v of silence, want about 2s", el)
	}
}

// startParking runs a node whose idle connections park after 30 ms.
func startParking(t *testing.T, idleTimeout time.Duration) *servertest.Node {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("idle connections park only on Linux")
	}
	return servertest.Start(t, server.Config{IdleRelease: 30 * time.Millisecond, IdleTimeout: idleTimeout})
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitParked(t *testing.T, n *servertest.Node, count int) {
	t.Helper()
	waitFor(t, "parked connections", func() bool { return n.Parked() >= count })
}

func ping(t *testing.T, c *servertest.RawConn) {
	t.Helper()
	f := c.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}})
	if f.GetPong() == nil {
		t.Fatalf("ping answered %v, want Pong", f)
	}
}

func wantGoodbye(t *testing.T, c *servertest.RawConn, code pb.ErrorCode) {
	t.Helper()
	g := c.Expect(t, "Goodbye", func(f *pb.ServerFrame) bool { return f.GetGoodbye() != nil })
	if g.GetGoodbye().GetCode() != code {
		t.Fatalf("goodbye %v, want %v", g.GetGoodbye(), code)
	}
	if f, err := c.Next(); err == nil {
		t.Fatalf("after Goodbye got %v, want the connection closed", f)
	}
}

// TestParkedWakesOnFrame: a parked connection answers each frame as if it
// had never parked, and parks again after the next silence.
func TestParkedWakesOnFrame(t *testing.T) {
	n := startParking(t, time.Minute)
	c := servertest.Register(t, n, "sleeper")
	for range 3 {
		waitParked(t, n, 1)
		ping(t, c)
	}
	if s := n.Stats().Sessions; s != 1 {
		t.Fatalf("sessions = %d, want 1", s)
	}
}

// TestParkedPeerClose: a parked connection whose device hangs up ends its
// session.
func TestParkedPeerClose(t *testing.T) {
	n := startParking(t, time.Minute)
	c := servertest.Register(t, n, "leaver")
	waitParked(t, n, 1)
	c.Close()
	waitFor(t, "the session to end", func() bool {
		st := n.Stats()
		return st.Sessions == 0 && st.Connections == 0 && n.Parked() == 0
	})
}

// TestParkedReplaced: a newer connection of the same device kicks the
// parked one with one Goodbye REPLACED; the newer one works.
func TestParkedReplaced(t *testing.T) {
	n := startParking(t, time.Minute)
	key := servertest.NewKey()
	old := servertest.Dial(t, n, key)
	if err := old.Register("alice", "", 1, 1); err != nil {
		t.Fatal(err)
	}
	waitParked(t, n, 1)
	newer := servertest.Dial(t, n, key)
	wantGoodbye(t, old, pb.ErrorCode_REPLACED)
	ping(t, newer)
	waitFor(t, "one session", func() bool {
		st := n.Stats()
		return st.Sessions == 1 && st.Connections == 1
	})
}

// TestParkedDelivery: a message to a parked device is delivered while it
// stays parked (writes do not need the reader).
func TestParkedDelivery(t *testing.T) {
	n := startParking(t, time.Minute)
	bob := servertest.Register(t, n, "bob")
	alice := servertest.Register(t, n, "alice")
	bob.Expect(t, "QueueDrained", func(f *pb.ServerFrame) bool { return f.GetQueueDrained() != nil })
	waitParked(t, n, 2)
	body := []byte("hello, sleeping bob")
	r, err := alice.SendTo("bob", []uint32{1}, body)
	if err != nil || r.GetSendAck() == nil {
		t.Fatalf("send = %v, %v", r, err)
	}
	d := bob.Expect(t, "Deliver", func(f *pb.ServerFrame) bool { return f.GetDeliver() != nil })
	if got := d.GetDeliver().GetEnvelope().GetBody(); !bytes.Equal(got, body) {
		t.Fatalf("delivered %q, want %q", got, body)
	}
	ping(t, bob)
}

// TestParkedIdleTimeout: the idle timeout ends a parked connection with
// Goodbye IDLE_TIMEOUT.
func TestParkedIdleTimeout(t *testing.T) {
	n := startParking(t, 400*time.Millisecond)
	c := servertest.Register(t, n, "silent")
	waitParked(t, n, 1)
	wantGoodbye(t, c, pb.ErrorCode_IDLE_TIMEOUT)
	waitFor(t, "the session to end", func() bool { return n.Stats().Sessions == 0 && n.Parked() == 0 })
}

// TestParkedShutdown: node shutdown says Goodbye to parked connections and
// returns.
func TestParkedShutdown(t *testing.T) {
	n := startParking(t, time.Minute)
	var cs []*servertest.RawConn
	for i := range 8 {
		cs = append(cs, servertest.Register(t, n, "napper"+string(rune('a'+i))))
	}
	waitParked(t, n, len(cs))
	n.Stop(t)
	for _, c := range cs {
		wantGoodbye(t, c, pb.ErrorCode_SHUTTING_DOWN)
	}
}
