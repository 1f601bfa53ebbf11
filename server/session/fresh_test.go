package session

import (
	"testing"

	"github.com/parley-im/parley/store"
)

func seqsOf(es []store.Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFreshQueue: the pump takes handed-over entries only when they
// continue exactly after what it sent; anything else sends it to the store.
func TestFreshQueue(t *testing.T) {
	tests := []struct {
		name     string
		lastSent uint64
		offered  []uint64
		after    uint64
		limit    int
		want     []uint64 // nil: read the store
		left     []uint64 // what stays held
	}{
		{"in order", 4, []uint64{5, 6, 7}, 4, 64, []uint64{5, 6, 7}, nil},
		{"out of order offers", 4, []uint64{7, 5, 6}, 4, 64, []uint64{5, 6, 7}, nil},
		{"duplicates kept once", 4, []uint64{5, 5, 6}, 4, 64, []uint64{5, 6}, nil},
		{"already sent is refused", 6, []uint64{5, 6, 7}, 6, 64, []uint64{7}, nil},
		{"gap: read the store", 4, []uint64{6, 7}, 4, 64, nil, []uint64{6, 7}},
		{"stops at a hole", 4, []uint64{5, 6, 8}, 4, 64, []uint64{5, 6}, []uint64{8}}, // and the next pass reads the store (TestFreshQueueHole)
		{"limit", 4, []uint64{5, 6, 7}, 4, 2, []uint64{5, 6}, []uint64{7}},
		{"store read moved past them", 4, []uint64{5, 6, 9}, 8, 64, []uint64{9}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Session{delivering: true, drainedSent: true, lastSent: tc.lastSent}
			for _, q := range tc.offered {
				s.offer(store.Entry{Seq: q, Payload: []byte{byte(q)}})
			}
			got, ok, _ := s.takeFreshLocked(nil, tc.after, tc.limit)
			if ok != (tc.want != nil) || !equalSeqs(seqsOf(got), tc.want) {
				t.Fatalf("took %v (ok %v), want %v", seqsOf(got), ok, tc.want)
			}
			for _, e := range got {
				if e.Payload[0] != byte(e.Seq) {
					t.Fatalf("entry %d carries the payload of another", e.Seq)
				}
			}
			var left []uint64
			if s.fresh != nil {
				left = seqsOf(s.fresh.entries)
			}
			if !equalSeqs(left, tc.left) {
				t.Fatalf("left %v, want %v", left, tc.left)
			}
		})
	}
}

// TestFreshQueueLostOffers: an entry that is queued but not held (offered
// before the first drain ended, offered to a full queue, or only nudged)
// makes the next pass read the store even when held entries continue where
// the pump stopped; otherwise the pump could stop with that entry unsent.
func TestFreshQueueLostOffers(t *testing.T) {
	tests := []struct {
		name   string
		lose   func(s *Session)
		resume uint64 // the last seq the store read sends
	}{
		{"offered before the first drain", func(s *Session) {
			s.drainedSent = false
			s.offer(store.Entry{Seq: 7})
			s.drainedSent = true
		}, 7},
		{"offered to a full queue", func(s *Session) {
			for q := uint64(10); q < 10+freshMax; q++ {
				s.offer(store.Entry{Seq: q})
			}
		}, 10 + freshMax - 1},
		{"nudged without an offer", func(s *Session) { s.Nudge() }, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// pumping: a kick only asks the (absent) running pump to look again.
			s := &Session{delivering: true, drainedSent: true, pumping: true, lastSent: 4}
			tc.lose(s)
			s.offer(store.Entry{Seq: 5}) // continues right after lastSent
			got, ok, gen := s.takeFreshLocked(nil, 4, 64)
			if ok {
				t.Fatalf("took %v from memory after a lost offer; want a store read", seqsOf(got))
			}
			// A store read that filled its limit has not reached the end
			// of the queue: the next pass reads the store again.
			s.lastSent = 5
			if got, ok, _ := s.takeFreshLocked(nil, 5, 64); ok {
				t.Fatalf("took %v from memory before a read reached the end of the queue", seqsOf(got))
			}
			// A read that reached the end (fewer than its limit) sent
			// everything up to resume; after it, held entries serve again.
			s.freshCoveredLocked(gen)
			s.lastSent = tc.resume
			s.offer(store.Entry{Seq: tc.resume + 1})
			if got, ok, _ := s.takeFreshLocked(nil, tc.resume, 64); !ok || !equalSeqs(seqsOf(got), []uint64{tc.resume + 1}) {
				t.Fatalf("after the store read: took %v (ok %v), want [%d]", seqsOf(got), ok, tc.resume+1)
			}
			if s.fresh != nil {
				t.Fatal("a caught-up session still holds a fresh queue")
			}
		})
	}
}

// TestFreshQueueHole: a pass that stops at a hole between held entries
// asks for another pass, and that pass reads the store (the hole's entries
// are durable but were never held).
func TestFreshQueueHole(t *testing.T) {
	s := &Session{delivering: true, drainedSent: true, pumping: true, lastSent: 4}
	for _, q := range []uint64{5, 6, 9} {
		s.offer(store.Entry{Seq: q})
	}
	got, ok, _ := s.takeFreshLocked(nil, 4, 64)
	if !ok || !equalSeqs(seqsOf(got), []uint64{5, 6}) || !s.more {
		t.Fatalf("took %v (ok %v, more %v), want [5 6] and another pass", seqsOf(got), ok, s.more)
	}
	if got, ok, _ := s.takeFreshLocked(nil, 6, 64); ok {
		t.Fatalf("took %v from memory across the hole", seqsOf(got))
	}
}

// TestFreshQueueBounded: a session holds at most freshMax entries, and none
// after it closed.
func TestFreshQueueBounded(t *testing.T) {
	s := &Session{delivering: true, drainedSent: true}
	for q := uint64(1); q <= freshMax+10; q++ {
		s.offer(store.Entry{Seq: q})
	}
	if n := len(s.fresh.entries); n != freshMax {
		t.Fatalf("held %d entries, bound %d", n, freshMax)
	}
	c := &Session{delivering: true, drainedSent: true, closed: true}
	c.offer(store.Entry{Seq: 1})
	if c.fresh != nil {
		t.Fatal("a closed session held an entry")
	}
}
