package pebble

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

var _ store.Store = (*Store)(nil)

// keyStripes is the number of locks that serialise prekey changes; a device
// always maps to the same stripe, so TakeBundle is atomic per device while
// different devices proceed in parallel.
const keyStripes = 64

// Store is the embedded Pebble implementation of store.Store. It is safe for
// concurrent use.
//
// Lock order: closeMu (read side) → accountsMu → keyMu[i]. The committer
// goroutine takes none of them.
type Store struct {
	db   *pebble.DB
	opts Options
	log  *slog.Logger

	// closeMu's read side is held by every operation that touches db or
	// submits to the committer; Close takes the write side once to flip
	// closed, so nothing touches db after it is closed.
	closeMu sync.RWMutex
	closed  bool // guarded by closeMu

	// accountsMu makes the read-check-write of CreateAccount and the invite
	// operations atomic.
	accountsMu sync.Mutex
	devices    devCache // device lists (devcache.go)
	keyMu      [keyStripes]sync.Mutex
	keySeed    maphash.Seed
	// ackMu serialises the acks of one device from their reads to their
	// commit (readAck), so two acks of the same seq cannot both find it.
	ackMu  [ackStripes]sync.Mutex
	recent recentEntries // queue entries written lately (recent.go)
	social socialState   // groups and contacts (stage.go)

	reqs      chan *request // to the committer
	quit      chan struct{} // closed by Close
	committed chan struct{} // closed when the committer and the syncer have returned
	syncing   chan syncJob  // committer → syncer (committer.go)
	synced    chan struct{} // closed when the syncer has returned

	stats stats

	// testHookBeforeCommit, when set by tests before the first request, runs
	// in the committer before each batch is committed, with the number of
	// requests in it.
	testHookBeforeCommit func(requests int)
}

// Stats are counters for metrics; every field only grows.
type Stats struct {
	Syncs    uint64        // WAL syncs by the syncer, each covering one or more batches
	Unsynced uint64        // batches of deletions only, left for a later sync
	Requests uint64        // Enqueue, Ack and expiry requests they carried
	Entries  uint64        // queue entries written
	Deleted  uint64        // queue entries deleted by Ack or expiry
	SyncTime time.Duration // total over syncs of the time from applying the oldest batch a sync covers to its end
	// SingleDeleteMisuse counts deletions Pebble found applied to a key
	// written more than once; it must stay 0 (pebbleOptions).
	SingleDeleteMisuse uint64
}

// EntriesPerSync is the group-commit factor: queue entries written per sync.
func (s Stats) EntriesPerSync() float64 {
	if s.Syncs == 0 {
		return 0
	}
	return float64(s.Entries) / float64(s.Syncs)
}

type stats struct {
	syncs, unsynced, requests, entries, deleted atomic.Uint64
	singleDelMisuse                             atomic.Uint64
	syncNanos                                   atomic.Int64
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	log := opts.Logger.With("component", "store")
	s := &Store{
		opts:      opts,
		log:       log,
		keySeed:   maphash.MakeSeed(),
		reqs:      make(chan *request, 4*opts.MaxGroup),
		quit:      make(chan struct{}),
		committed: make(chan struct{}),
		syncing:   make(chan syncJob, 64),
		synced:    make(chan struct{}),
	}
	db, err := pebble.Open(dir, pebbleOptions(opts, log, &s.stats))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	s.db = db
	go s.syncLoop()
	go s.commitLoop()
	log.Debug("store opened", "dir", dir)
	return s, nil
}

// stripe hashes a device address for the striped locks (keyMu, ackMu)
// without formatting it: the ack lock is taken on every DeliveryAck.
func (s *Store) stripe(a protocol.Address) uint64 {
	return maphash.String(s.keySeed, a.User) ^ uint64(a.Device)*0x9e3779b97f4a7c15
}

// pebbleOptions tunes Pebble for the node's reads: every Send, ack and
// handshake does point reads (account, device, queue entry, seq counter),
// and without filters each one that misses the memtable searches every
// young sstable that queue churn keeps flushing: that search was a quarter
// of the node's CPU at 17k msgs/s (docs/benchmarks.md).
//
// Queue and expiry keys are deleted with SingleDelete (committer.go); a
// flush or compaction that finds one deleting a key Set twice reports it
// here, as an error and in Stats.SingleDeleteMisuse, because it would mean
// a seq was reused.
func pebbleOptions(opts Options, log *slog.Logger, st *stats) *pebble.Options {
	po := &pebble.Options{
		Logger:       pebbleLogger{log.With("pebble", true)},
		CacheSize:    opts.CacheSize,
		MemTableSize: opts.MemTableSize,
		EventListener: &pebble.EventListener{
			PossibleAPIMisuse: func(info pebble.PossibleAPIMisuseInfo) {
				if info.Kind != pebble.NondeterministicSingleDelete {
					return // a repeated or late deletion: harmless (readAck)
				}
				st.singleDelMisuse.Add(1)
				log.Error("single delete of a key written more than once", "key", fmt.Sprintf("%x", info.UserKey))
			},
		},
	}
	if opts.fs != nil {
		po.FS = opts.fs
	}
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10) // ~1% false positives
	}
	return po
}

// Close stops the committer (callers still waiting for it get ErrClosed),
// then closes the database. Calling Close again returns nil.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	s.closeMu.Unlock()

	close(s.quit)
	<-s.committed
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Stats returns the committer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Syncs:    s.stats.syncs.Load(),
		Unsynced: s.stats.unsynced.Load(),
		Requests: s.stats.requests.Load(),
		Entries:  s.stats.entries.Load(),
		Deleted:  s.stats.deleted.Load(),
		SyncTime: time.Duration(s.stats.syncNanos.Load()),

		SingleDeleteMisuse: s.stats.singleDelMisuse.Load(),
	}
}

// enter guards one operation against Close; it returns a release function.
func (s *Store) enter() (func(), error) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, store.ErrClosed
	}
	return s.closeMu.RUnlock, nil
}

// get reads and copies one value; found is false for a missing key.
func (s *Store) get(key []byte) (v []byte, found bool, err error) {
	b, c, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v = append([]byte{}, b...)
	return v, true, c.Close()
}

// scan calls fn for every key in [lo, hi) until fn returns false. Key and
// value are only valid during the call.
func (s *Store) scan(lo, hi []byte, fn func(k, v []byte) (bool, error)) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		more, err := fn(it.Key(), v)
		if err != nil || !more {
			_ = it.Close()
			return err
		}
	}
	return it.Close()
}

// pebbleLogger routes Pebble's logs to slog: its info messages are routine
// (compactions, WAL recycling) and go to debug.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf is Pebble's report of an invariant violation or corruption; it must
// not return, so after logging it panics rather than exiting the process.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg, "fatal", true)
	panic("pebble: " + msg)
}
