package router

import (
	"sync/atomic"
	"testing"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

type peer struct{ nudges, kicks atomic.Int32 }

func (p *peer) Nudge()                            { p.nudges.Add(1) }
func (p *peer) PrekeysLow(*pb.PrekeysLow)         {}
func (p *peer) Kick(pb.ErrorCode, string, uint64) { p.kicks.Add(1) }

func TestAttachDetachNudge(t *testing.T) {
	r := New()
	a := protocol.Address{User: "alice", Device: 1}
	p1, p2 := &peer{}, &peer{}
	if old := r.Attach(a, p1); old != nil {
		t.Fatal("old peer on an empty router")
	}
	if old := r.Attach(a, p2); old != p1 {
		t.Fatalf("Attach returned %v, want the replaced peer", old)
	}
	r.Detach(a, p1) // a replaced session must not remove its successor
	if r.Lookup(a) != p2 {
		t.Fatal("replaced session detached its successor")
	}
	r.Nudge(a, protocol.Address{User: "bob", Device: 1})
	if p2.nudges.Load() != 1 || p1.nudges.Load() != 0 {
		t.Fatalf("nudges p1=%d p2=%d", p1.nudges.Load(), p2.nudges.Load())
	}
	if r.Len() != 1 {
		t.Fatalf("Len = %d", r.Len())
	}
	r.Detach(a, p2)
	if r.Lookup(a) != nil || r.Len() != 0 {
		t.Fatal("Detach left the entry")
	}
}

func BenchmarkLookup(b *testing.B) {
	r := New()
	for i := range 10000 {
		r.Attach(protocol.Address{User: "user", Device: uint32(i)}, &peer{})
	}
	a := protocol.Address{User: "user", Device: 5000}
	for b.Loop() {
		r.Lookup(a)
	}
}
