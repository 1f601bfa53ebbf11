package pebble

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// maxRecentEntries bounds the recent-entry cache; the oldest is forgotten
// first (entries of offline devices wait far longer than acks of online
// ones, so age is what separates the two).
const maxRecentEntries = 1 << 16

// recentEntries remembers the queue entries written lately, per device. An
// ack from an online device arrives milliseconds after the write, and
// readAck needs each entry it deletes (for the receipt and the expiry
// index): found here it costs a slice search instead of a Pebble point
// read, which was the largest item left in the ack path. The store stays
// the truth: a miss falls back to the read, and every way an entry leaves
// the queue (ack, expiry, device deletion) removes it here first, so a hit
// is an entry that exists (but for addRead's race, see there). Entries
// come in when they are written and again when ReadQueue reads them for
// delivery, so a backlog drained long after it was written is found too.
// Payloads are the callers' slices, which the store already treats as
// read-only.
//
// Entries are kept per device, in seq order, because that is how they
// arrive and leave: one map lookup serves a whole DeliveryAck. A map from
// every entry's key string was 18 % of the node's CPU while it drained
// offline queues (docs/benchmarks.md).
type recentEntries struct {
	mu   sync.Mutex
	devs map[protocol.Address]*recentQueue
	// order holds every remembered entry's device and seq in insertion
	// order, for eviction; slots of entries taken since are stale and
	// skipped.
	order []entryRef
	next  int // the slot the next entry takes; order is a ring
}

// entryRef names one queue entry.
type entryRef struct {
	dev protocol.Address
	seq uint64
}

// recentQueue is one device's remembered entries, ascending by seq.
type recentQueue struct {
	es []recentEntry
}

type recentEntry struct {
	seq     uint64
	expires time.Time
	payload []byte
}

func (q *recentQueue) find(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(q.es, seq, func(e recentEntry, seq uint64) int { return cmp.Compare(e.seq, seq) })
}

// add remembers an entry staged for commit; the committer calls forget if
// the commit fails.
func (r *recentEntries) add(dev protocol.Address, seq uint64, expires time.Time, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addLocked(dev, recentEntry{seq, expires, payload})
}

func (r *recentEntries) addLocked(dev protocol.Address, e recentEntry) {
	if r.devs == nil {
		r.devs = make(map[protocol.Address]*recentQueue)
		r.order = make([]entryRef, maxRecentEntries)
	}
	if old := r.order[r.next]; old.seq != 0 {
		r.removeLocked(old.dev, old.seq)
	}
	q := r.devs[dev]
	if q == nil {
		q = &recentQueue{}
		r.devs[dev] = q
	}
	// Writes come in seq order, so this is almost always an append.
	if n := len(q.es); n == 0 || q.es[n-1].seq < e.seq {
		q.es = append(q.es, e)
	} else if i, found := q.find(e.seq); !found {
		q.es = slices.Insert(q.es, i, e)
	} else {
		return // still remembered
	}
	r.order[r.next] = entryRef{dev, e.seq}
	r.next = (r.next + 1) % len(r.order)
}

// lookupLocked finds dev's entry seq: its device's queue and its index.
func (r *recentEntries) lookupLocked(dev protocol.Address, seq uint64) (*recentQueue, int, bool) {
	q := r.devs[dev]
	if q == nil {
		return nil, 0, false
	}
	i, found := q.find(seq)
	return q, i, found
}

// removeLocked forgets dev's entry seq if it is remembered.
func (r *recentEntries) removeLocked(dev protocol.Address, seq uint64) (recentEntry, bool) {
	q, i, found := r.lookupLocked(dev, seq)
	if !found {
		return recentEntry{}, false
	}
	e := q.es[i]
	if i == 0 {
		q.es[0] = recentEntry{} // drop the payload reference
		q.es = q.es[1:]
	} else {
		q.es = slices.Delete(q.es, i, i+1)
	}
	if len(q.es) == 0 {
		delete(r.devs, dev) // an idle device keeps nothing here
	}
	return e, true
}

// addRead remembers entries ReadQueue just found in dev's queue. An entry
// that expiry or a device deletion removes at the same moment can slip in
// stale; its only effect is a receipt for it if it is ever acknowledged.
func (r *recentEntries) addRead(dev protocol.Address, es []store.Entry) {
	if len(es) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range es {
		r.addLocked(dev, recentEntry{es[i].Seq, es[i].Expires, es[i].Payload})
	}
}

// takeAll takes every remembered entry of dev among seqs (ascending, no
// duplicates), one lock for a whole DeliveryAck. missing gets the seqs not
// found, in order.
func (r *recentEntries) takeAll(dev protocol.Address, seqs []uint64, found []recentEntry, missing []uint64) ([]recentEntry, []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, seq := range seqs {
		if e, ok := r.removeLocked(dev, seq); ok {
			found = append(found, e)
		} else {
			missing = append(missing, seq)
		}
	}
	return found, missing
}

// forget drops entries (expired entries, failed commits).
func (r *recentEntries) forget(refs []entryRef) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ref := range refs {
		r.removeLocked(ref.dev, ref.seq)
	}
}

// clear forgets everything (a device's whole queue was deleted).
func (r *recentEntries) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.devs)
	clear(r.order)
}
