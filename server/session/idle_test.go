package session_test

import (
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
