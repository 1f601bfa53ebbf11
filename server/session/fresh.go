package session

import (
	"cmp"
	"slices"

	"github.com/parley-im/parley/server/router"
	"github.com/parley-im/parley/store"
)

// freshMax bounds the entries one session holds for its pump. Beyond it an
// offer is dropped: the pump then reads them from the store, which always
// has them. 256 is the default delivery window, so a receiver that keeps
// up never falls back to the store.
const freshMax = 256

// freshQueue holds entries that are already visible in this device's
// queue (readable; durable or about to be), handed over by the goroutine
// that wrote them (the store's writer for a Send, a sender's acker for a
// big fan-out, an ack's receipts), so the pump can send them without
// reading them back:
// a Pebble iterator per pump pass was the largest store cost of online
// delivery (docs/benchmarks.md).
//
// The store stays the only truth. The pump may stop after a pass served
// from here only because every entry made visible since the last store
// read that reached the end of the queue is either held here or counted in
// lost: an offer that could not be held (first drain not done, queue
// full), a Nudge without an offer, or a hole found between held entries.
// While lost is ahead of covered, the pump reads the store, until a read
// that began after those losses reaches the end of the queue.
type freshQueue struct {
	entries []store.Entry // ascending Seq, no duplicates
	lost    uint64        // entries queued but not held, counted
	covered uint64        // lost as it was when the last complete store read began
}

func (q *freshQueue) behind() bool { return q.lost != q.covered }

// handOver gives visible entries to the online sessions of their devices
// and nudges them; devices without a session here are skipped, as
// Router.Nudge does. Entries must have their Seq set.
func (s *Session) handOver(entries []*store.Entry) { handOverTo(s.env.Router, entries) }

// visibleHandOverMax is the largest Send handed over by the store's writer
// the moment it is visible (store.Queues.EnqueueAsync's onVisible), before
// its sync: delivery then does not wait for the disk. Larger fan-outs (big
// groups) are handed over by the sender's acker once durable, so one of
// them cannot hold the writer, and every other sender, for a thousand
// hand-overs.
const visibleHandOverMax = 16

// handOverOnVisible is the onVisible for a Send's entries, or nil when
// the acker hands them over instead.
func (s *Session) handOverOnVisible(entries []*store.Entry) func([]*store.Entry) {
	if len(entries) > visibleHandOverMax {
		return nil
	}
	r := s.env.Router
	return func(es []*store.Entry) { handOverTo(r, es) }
}

func handOverTo(r *router.Router, entries []*store.Entry) {
	for _, e := range entries {
		p := r.Lookup(e.Device)
		if p == nil {
			continue
		}
		if peer, ok := p.(*Session); ok {
			peer.offer(*e)
			peer.kick()
			continue
		}
		p.Nudge()
	}
}

// offer keeps e for the pump. When it cannot (the first drain is not done,
// or the queue is full) it counts the offer lost, so the pump reads the
// store before it may stop: ending a pass on held entries alone would skip
// e.
func (s *Session) offer(e store.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || e.Seq <= s.lastSent {
		return
	}
	if !s.delivering || !s.drainedSent {
		s.freshLostLocked()
		return
	}
	if s.fresh == nil {
		s.fresh = &freshQueue{}
	}
	q := s.fresh
	if len(q.entries) >= freshMax {
		// Entries a store read already sent may still be held: make room.
		stale, _ := slices.BinarySearchFunc(q.entries, s.lastSent+1, func(x store.Entry, seq uint64) int { return cmp.Compare(x.Seq, seq) })
		q.entries = slices.Delete(q.entries, 0, stale)
	}
	if len(q.entries) >= freshMax {
		q.lost++
		return
	}
	i, found := slices.BinarySearchFunc(q.entries, e.Seq, func(x store.Entry, seq uint64) int { return cmp.Compare(x.Seq, seq) })
	if found {
		return
	}
	q.entries = slices.Insert(q.entries, i, e)
}

// takeFreshLocked appends to dst the held entries that continue right after
// seq after, at most limit, and forgets everything up to them. fromMemory
// is false when the pump must read the store instead: the next entry is
// not held, or losses are not yet covered. gen is what to pass to
// freshCoveredLocked if that store read reaches the end of the queue. mu
// must be held.
func (s *Session) takeFreshLocked(dst []store.Entry, after uint64, limit int) (out []store.Entry, fromMemory bool, gen uint64) {
	q := s.fresh
	if q == nil {
		return dst, false, 0
	}
	stale := 0
	for stale < len(q.entries) && q.entries[stale].Seq <= after {
		stale++
	}
	n := 0
	if !q.behind() && stale < len(q.entries) && q.entries[stale].Seq == after+1 {
		n = 1
		for stale+n < len(q.entries) && n < limit && q.entries[stale+n].Seq == q.entries[stale+n-1].Seq+1 {
			n++
		}
		dst = append(dst, q.entries[stale:stale+n]...)
		if n < limit && stale+n < len(q.entries) {
			// A hole: the entries in it are visible (a higher seq is) but
			// were never held. Read them from the store on the next pass.
			q.lost++
			s.more = true
		}
	}
	q.entries = slices.Delete(q.entries, 0, stale+n)
	gen = q.lost
	if len(q.entries) == 0 && !q.behind() {
		s.fresh = nil // an idle session keeps nothing of it
	}
	return dst, n > 0, gen
}

// freshCoveredLocked records that a store read which began at loss count
// gen reached the end of the queue: every loss up to gen is delivered. mu
// must be held.
func (s *Session) freshCoveredLocked(gen uint64) {
	q := s.fresh
	if q == nil || gen <= q.covered {
		return
	}
	q.covered = gen
	if len(q.entries) == 0 && !q.behind() {
		s.fresh = nil
	}
}

// freshLostLocked records that something was queued for this device
// without being offered: the next pump pass reads the store. mu must be
// held.
func (s *Session) freshLostLocked() {
	if s.fresh == nil {
		s.fresh = &freshQueue{}
	}
	s.fresh.lost++
}
