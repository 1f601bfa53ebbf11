package pebble

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// take returns and forgets dev's entry seq, as an ack does (takeAll).
func (r *recentEntries) take(dev protocol.Address, seq uint64) (recentEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.removeLocked(dev, seq)
}

// remembered reports whether the cache holds dev's entry seq, without
// taking it.
func (r *recentEntries) remembered(dev protocol.Address, seq uint64) (recentEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q, i, ok := r.lookupLocked(dev, seq)
	if !ok {
		return recentEntry{}, false
	}
	return q.es[i], true
}

// TestRecentEntries: an entry is remembered when written and again when
// ReadQueue reads it for delivery (a backlog older than the cache), and
// forgotten when acknowledged, so a second ack finds nothing.
func TestRecentEntries(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	bob := protocol.Address{User: "bob", Device: 1}
	e := &store.Entry{Device: bob, Payload: []byte("m")}
	if err := s.Enqueue(ctx, []*store.Entry{e}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.recent.take(bob, e.Seq); !ok {
		t.Fatal("a written entry is not remembered")
	}
	s.recent.clear() // as if it had aged out of the cache
	if got, err := s.ReadQueue(ctx, bob, 0, 10); err != nil || len(got) != 1 {
		t.Fatalf("ReadQueue = %v, %v", got, err)
	}
	if r, ok := s.recent.remembered(bob, e.Seq); !ok || string(r.payload) != "m" {
		t.Fatal("an entry read for delivery is not remembered")
	}
	if got, err := s.Ack(ctx, bob, []uint64{e.Seq}); err != nil || len(got) != 1 || string(got[0].Payload) != "m" {
		t.Fatalf("Ack = %v, %v", got, err)
	}
	if _, ok := s.recent.remembered(bob, e.Seq); ok {
		t.Fatal("an acknowledged entry is still remembered")
	}
	if got, err := s.Ack(ctx, bob, []uint64{e.Seq}); err != nil || len(got) != 0 {
		t.Fatalf("second Ack = %v, %v; want nothing", got, err)
	}
}

// TestAckMixesCacheAndStore: an ack whose entries are partly remembered
// and partly only on disk returns them all, in seq order.
func TestAckMixesCacheAndStore(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	bob := protocol.Address{User: "bob", Device: 1}
	var es []*store.Entry
	for i := range 6 {
		es = append(es, &store.Entry{Device: bob, Payload: fmt.Appendf(nil, "m%d", i)})
	}
	if err := s.Enqueue(ctx, es); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 2, 3} { // these fell out of the cache
		if _, ok := s.recent.take(bob, es[i].Seq); !ok {
			t.Fatalf("entry %d not remembered", i)
		}
	}
	seqs := []uint64{es[5].Seq, es[0].Seq, es[3].Seq, es[1].Seq, es[2].Seq, es[4].Seq, es[1].Seq}
	got, err := s.Ack(ctx, bob, seqs)
	if err != nil {
		t.Fatal(err)
	}
	var payloads []string
	for _, e := range got {
		payloads = append(payloads, string(e.Payload))
	}
	if want := []string{"m0", "m1", "m2", "m3", "m4", "m5"}; !slices.Equal(payloads, want) {
		t.Fatalf("Ack returned %q, want %q", payloads, want)
	}
	if n, err := s.QueueDepth(ctx, bob); err != nil || n != 0 {
		t.Fatalf("QueueDepth = %d, %v; want 0", n, err)
	}
}

// TestRecentEvictsOldest: the cache holds at most maxRecentEntries and
// forgets the oldest first, across devices, whatever order seqs came in.
func TestRecentEvictsOldest(t *testing.T) {
	var r recentEntries
	a := protocol.Address{User: "a", Device: 1}
	b := protocol.Address{User: "b", Device: 1}
	// b's entries arrive out of seq order (a read of an older backlog).
	r.add(b, 10, time.Time{}, []byte("b10"))
	r.add(b, 5, time.Time{}, []byte("b5"))
	for seq := uint64(1); seq <= maxRecentEntries-2; seq++ {
		r.add(a, seq, time.Time{}, nil)
	}
	if _, ok := r.remembered(b, 10); !ok {
		t.Fatal("b10 forgotten before the cache was full")
	}
	r.add(a, maxRecentEntries-1, time.Time{}, nil) // evicts b10, the oldest
	if _, ok := r.remembered(b, 10); ok {
		t.Fatal("the oldest entry survived a full cache")
	}
	if e, ok := r.remembered(b, 5); !ok || string(e.payload) != "b5" {
		t.Fatal("b5 forgotten out of order")
	}
	if _, ok := r.take(a, 1); !ok {
		t.Fatal("a1 not remembered")
	}
	r.add(a, maxRecentEntries, time.Time{}, nil) // evicts b5, next in age
	if _, ok := r.remembered(b, 5); ok {
		t.Fatal("b5 survived a full cache")
	}
	// a1 was taken, so reusing its slot evicts nothing.
	r.add(a, maxRecentEntries+1, time.Time{}, nil)
	if _, ok := r.remembered(a, 2); !ok {
		t.Fatal("a2 evicted while a taken entry's slot was free")
	}
}
