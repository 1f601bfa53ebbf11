package pebble

import (
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// maxRecentEntries bounds the recent-entry cache; the oldest is forgotten
// first (entries of offline devices wait far longer than acks of online
// ones, so age is what separates the two).
const maxRecentEntries = 1 << 16

// recentEntries remembers the queue entries written lately, by key. An ack
// from an online device arrives milliseconds after the write, and readAck
// needs each entry it deletes (for the receipt and the expiry index):
// found here it costs a map lookup instead of a Pebble point read, which
// was the largest item left in the ack path. The store stays the truth:
// a miss falls back to the read, and every way an entry leaves the queue
// (ack, expiry, device deletion) removes it here first, so a hit is an
// entry that exists (but for addRead's race, see there). Entries come in
// when they are written and again when ReadQueue reads them for delivery,
// so a backlog drained long after it was written is found too. Payloads
// are the callers' slices, which the store already treats as read-only.
type recentEntries struct {
	mu   sync.Mutex
	m    map[string]recentEntry
	ring []string // keys in insertion order, for eviction
	next int
}

type recentEntry struct {
	expires time.Time
	payload []byte
}

// add remembers an entry staged for commit; the committer calls forget if
// the commit fails.
func (r *recentEntries) add(key []byte, expires time.Time, payload []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addLocked(string(key), recentEntry{expires, payload})
}

func (r *recentEntries) addLocked(k string, e recentEntry) {
	if r.m == nil {
		r.m = make(map[string]recentEntry)
		r.ring = make([]string, maxRecentEntries)
	}
	if old := r.ring[r.next]; old != "" {
		delete(r.m, old)
	}
	r.ring[r.next] = k
	r.next = (r.next + 1) % len(r.ring)
	r.m[k] = e
}

// addRead remembers entries ReadQueue just found in dev's queue. An entry
// that expiry or a device deletion removes at the same moment can slip in
// stale; its only effect is a receipt for it if it is ever acknowledged.
func (r *recentEntries) addRead(dev protocol.Address, es []store.Entry) {
	if len(es) == 0 {
		return
	}
	keys := make([]string, len(es)) // built outside the lock
	for i := range es {
		keys[i] = string(queueKey(dev, es[i].Seq))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range es {
		if _, ok := r.m[keys[i]]; ok {
			continue // still remembered from its write
		}
		r.addLocked(keys[i], recentEntry{es[i].Expires, es[i].Payload})
	}
}

// take returns and forgets the entry at key.
func (r *recentEntries) take(key []byte) (recentEntry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[string(key)]
	if ok {
		delete(r.m, string(key))
	}
	return e, ok
}

// forget drops keys (expired entries, failed commits).
func (r *recentEntries) forget(keys [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.m, string(k))
	}
}

// clear forgets everything (a device's whole queue was deleted).
func (r *recentEntries) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.m)
}
