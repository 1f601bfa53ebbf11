package pebble

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// The committer is the only writer of queue entries, seq counters and the
// expiry index. Owning them in one goroutine gives two properties at once:
//
//   - group commit: requests that arrive while a batch is being synced are
//     gathered into the next batch, so concurrent senders share one fsync;
//   - ordered visibility: seqs are assigned in the same goroutine that
//     commits, batch after batch, and a Pebble batch becomes visible
//     atomically, so an entry with seq N is never visible before every
//     entry < N of the same device.

// maxCachedCounters bounds the committer's cache of per-device seq counters.
const maxCachedCounters = 1 << 16

// seqBlock is how many seqs one write of a device's counter key reserves.
// The key holds a ceiling, not the last seq: seqs up to it are handed out
// from memory, and the key is rewritten only when a seq passes it. A
// counter written with every batch was two of the ~10 keys a delivered
// message put in the memtable (docs/benchmarks.md). After a restart, or
// when the cache drops the counter, the device continues above the
// ceiling, so seqs skip at most seqBlock-1 values and are never reused.
const seqBlock = 1024

// seqCounter is the committer's view of one device's counter key.
type seqCounter struct {
	last    uint64 // last seq handed out
	ceiling uint64 // value of the counter key once this batch commits
}

type reqKind uint8

const (
	reqEnqueue reqKind = iota
	reqAck
	reqExpire
	reqStage // a write of another kind that must be ordered with the queues (stage.go)
)

// request is one caller's share of a group. The committer fills the result
// fields and then closes done; the caller reads them only after that.
type request struct {
	kind    reqKind
	entries []*store.Entry   // reqEnqueue; read-only for the committer
	dev     protocol.Address // reqAck
	seqs    []uint64         // reqAck: input; reqEnqueue: the assigned seqs
	now     int64            // reqExpire
	// hits are a reqAck's entries that existed when the caller read them
	// (readAck), so the committer only writes.
	hits []ackHit
	// stage, for reqStage, stages the request's writes into the group's
	// batch (reads first, as every stage function here does).
	stage func(*groupState) error

	// onVisible, for reqEnqueue, is called by the committer once the
	// entries are visible (store.Queues.EnqueueAsync).
	onVisible func([]*store.Entry)

	done  chan struct{}
	acked []store.Entry  // reqAck: the entries deleted, in seq order (set by readAck)
	sync  bool           // reqAck: the deletion must be durable before done (plain Ack)
	made  []*store.Entry // AckAndEnqueue: the receipts, read-only for the committer
	mseqs []uint64       // AckAndEnqueue: the seqs assigned to made
	n     int
	err   error
}

// submit hands r to the committer. ctx is honoured only until the committer
// has the request; after that the caller waits for the commit (one sync), so
// a caller never returns while its write may still land unannounced.
func (s *Store) submit(ctx context.Context, r *request) error {
	if err := s.send(ctx, r); err != nil {
		return err
	}
	<-r.done
	return r.err
}

// send queues r while holding closeMu's read side, so Close (which flips
// closed under the write side before stopping the committer) cannot leave r
// in the channel unanswered. The lock is released before waiting for the
// commit: Close may then begin, and the committer still answers r.
func (s *Store) send(ctx context.Context, r *request) error {
	release, err := s.enter()
	if err != nil {
		return err
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return err
	}
	r.done = make(chan struct{})
	select {
	case s.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) commitLoop() {
	defer func() {
		close(s.syncing)
		<-s.synced
		close(s.committed)
	}()
	counters := make(map[string]seqCounter) // device (addr key) → its counter
	group := make([]*request, 0, s.opts.MaxGroup)
	for {
		// Once Close has begun, queued requests are answered with ErrClosed
		// rather than committed: prefer quit over more work.
		select {
		case <-s.quit:
			s.failPending()
			return
		default:
		}
		select {
		case <-s.quit:
			s.failPending()
			return
		case r := <-s.reqs:
			group = append(group[:0], r)
		}
		// No waiting here: a group is applied as soon as it is taken, so an
		// entry is visible, and an ack answered, without waiting for the
		// sync interval; the syncer gathers the groups into fewer syncs.
		group = s.gather(group)
		if len(counters) > maxCachedCounters {
			// Bound the cache on nodes with millions of devices; a dropped
			// counter costs one Get when its device next receives.
			clear(counters)
		}
		s.commitGroup(group, counters)
		clear(group)
	}
}

// gather adds to group every request already waiting, up to MaxGroup.
func (s *Store) gather(group []*request) []*request {
	for len(group) < s.opts.MaxGroup {
		select {
		case r := <-s.reqs:
			group = append(group, r)
		default:
			return group
		}
	}
	return group
}

// failPending answers requests still queued when Close began. Close flipped
// closed before closing quit, so no new request can arrive behind them.
func (s *Store) failPending() {
	for {
		select {
		case r := <-s.reqs:
			r.err = store.ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

// groupState is what the requests of one group share while being staged.
type groupState struct {
	b        *pebble.Batch
	counters map[string]seqCounter
	touched  map[string]protocol.Address // devices whose ceiling moved
	deleted  map[entryRef]struct{}       // queue entries deleted in this batch
	entries  uint64
	dels     uint64
	recent   []entryRef // entries added to Store.recent by this batch
	// sync is false while the batch holds only writes that may wait for
	// the next synced batch (AckAndEnqueue's deletions and receipts).
	sync bool
}

func (s *Store) commitGroup(group []*request, counters map[string]seqCounter) {
	g := &groupState{
		b:        s.db.NewBatch(),
		counters: counters,
		touched:  make(map[string]protocol.Address),
		deleted:  make(map[entryRef]struct{}),
	}
	for _, r := range group {
		// Each stage function does all its reads before its first write, so
		// a failed request leaves nothing of itself in the batch.
		switch r.kind {
		case reqEnqueue:
			r.err = s.stageEnqueue(g, r)
		case reqAck:
			r.err = s.stageAck(g, r)
		case reqExpire:
			r.err = s.stageExpire(g, r)
		case reqStage:
			r.err = r.stage(g)
		}
	}
	for k, a := range g.touched {
		if err := g.b.Set(addrKey(pSeq, a), encodeSeq(counters[k].ceiling), nil); err != nil {
			s.failGroup(group, g, fmt.Errorf("stage seq counter: %w", err))
			g.b.Close()
			return
		}
	}
	if g.b.Empty() {
		g.b.Close()
		s.answer(group)
		return
	}
	if s.testHookBeforeCommit != nil {
		s.testHookBeforeCommit(len(group))
	}
	start := time.Now()
	// Applied now, made durable by the syncer: the batch is readable before
	// it is durable, so the next group is staged, and the entries are
	// handed to online devices, while the WAL syncs. The WAL holds batches
	// in the order they became visible, so a sync covers every batch
	// applied before it.
	err := g.b.Commit(pebble.NoSync)
	g.b.Close()
	if err != nil {
		s.log.Error("queue batch commit failed", "requests", len(group), "err", err)
		s.failGroup(group, g, fmt.Errorf("commit queue batch: %w", err))
		return
	}
	if !g.sync {
		s.stats.unsynced.Add(1)
		s.stats.count(len(group), g.entries, g.dels)
		s.answer(group)
		return
	}
	// Requests that need no sync of their own (AckAndEnqueue's, doc.go) are
	// answered now: their readers go on to the device's next frame instead
	// of waiting for an fsync that promises them nothing.
	durable := make([]*request, 0, len(group))
	for _, r := range group {
		switch {
		case r.kind == reqAck && !r.sync:
			close(r.done)
		case r.onVisible != nil && r.err == nil && len(r.seqs) > 0:
			r.assignSeqs()
			s.callVisible(r)
			durable = append(durable, r)
		default:
			durable = append(durable, r)
		}
	}
	s.syncing <- syncJob{group: durable, requests: len(group), recent: g.recent, start: start, entries: g.entries, dels: g.dels}
}

// callVisible runs a request's onVisible, turning a panic into a log line:
// the callback belongs to the caller, the committer to every device.
func (s *Store) callVisible(r *request) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("onVisible panicked", "panic", p)
		}
	}()
	r.onVisible(r.entries)
}

// answer tells every request of a group its outcome.
func (s *Store) answer(group []*request) {
	for _, r := range group {
		close(r.done)
	}
}

// assignSeqs sets the entries' Seq to the seqs the committer gave them.
func (r *request) assignSeqs() {
	for i, e := range r.entries {
		e.Seq = r.seqs[i]
	}
}

// count adds a committed batch to the stats.
func (st *stats) count(requests int, entries, dels uint64) {
	st.requests.Add(uint64(requests))
	st.entries.Add(entries)
	st.deleted.Add(dels)
}

// syncJob is a batch the committer applied that waits for a WAL sync.
type syncJob struct {
	group    []*request // the requests still to answer
	requests int        // all requests of the batch, for Stats
	recent   []entryRef
	start    time.Time
	entries  uint64
	dels     uint64
}

// syncLoop makes applied batches durable and answers their requests, in
// the order the committer applied them. One WAL sync covers every batch
// applied before it, so the batches that arrive while a sync runs, or
// within MinSyncInterval of the last one, share the next: each fdatasync
// costs ~90 µs of kernel CPU here (docs/benchmarks.md), and an idle node
// never waits. The wait is the syncer's alone: the committer goes on
// applying, so visibility and acks never wait for the interval.
func (s *Store) syncLoop() {
	defer close(s.synced)
	var jobs []syncJob
	var lastSync time.Time // when the last sync started
	for j := range s.syncing {
		jobs = append(jobs[:0], j)
		jobs = s.gatherJobs(jobs)
		if wait := s.opts.MinSyncInterval - time.Since(lastSync); wait > 0 {
			time.Sleep(wait)
			jobs = s.gatherJobs(jobs)
		}
		lastSync = time.Now()
		// An empty record written with Sync: Pebble syncs the WAL through
		// it, and so through every batch applied before it.
		err := s.db.LogData(nil, pebble.Sync)
		if err != nil {
			s.log.Error("queue sync failed", "batches", len(jobs), "err", err)
		} else {
			s.stats.syncs.Add(1)
			s.stats.syncNanos.Add(int64(time.Since(jobs[0].start)))
		}
		for i := range jobs {
			j := &jobs[i]
			if err != nil {
				// The committer's counters stay: the seqs were visible, so
				// handing them out again would be worse than a gap.
				s.failRequests(j.group, j.recent, fmt.Errorf("sync queue batch: %w", err))
				continue
			}
			s.stats.count(j.requests, j.entries, j.dels)
			s.answer(j.group)
		}
		clear(jobs)
	}
}

// gatherJobs adds to jobs every applied batch already waiting.
func (s *Store) gatherJobs(jobs []syncJob) []syncJob {
	for {
		select {
		case j, ok := <-s.syncing:
			if !ok {
				return jobs
			}
			jobs = append(jobs, j)
		default:
			return jobs
		}
	}
}

// failGroup answers every request of a group whose batch did not commit and
// forgets the ceilings it moved, so they are reloaded from disk. Seqs the
// batch handed out below an unchanged ceiling are skipped, not reused:
// seqs may have gaps, never repeats.
func (s *Store) failGroup(group []*request, g *groupState, err error) {
	for k := range g.touched {
		delete(g.counters, k)
	}
	s.failRequests(group, g.recent, err)
}

// failRequests answers requests whose batch was not made durable with err
// (unless one of their own came first), dropping every result, and forgets
// the batch's entries in the recent-entry cache.
func (s *Store) failRequests(group []*request, recent []entryRef, err error) {
	s.recent.forget(recent)
	for _, r := range group {
		if r.err == nil {
			r.err = err
		}
		r.seqs, r.acked, r.n, r.made, r.mseqs = nil, nil, 0, nil, nil
		close(r.done)
	}
}

// counter loads the device's counter the first time. The counter is a key
// of its own rather than the last queue key because a fully acknowledged
// queue has no keys left, and seqs must never be reused. It holds a
// ceiling (seqBlock): a device loaded from disk continues above it.
func (s *Store) counter(g *groupState, a protocol.Address) error {
	k := string(appendAddr(nil, a))
	if _, ok := g.counters[k]; ok {
		return nil
	}
	b, found, err := s.get(addrKey(pSeq, a))
	if err != nil {
		return fmt.Errorf("read seq counter of %s: %w", a, err)
	}
	var v uint64
	if found {
		if v, err = decodeSeq(b); err != nil {
			return fmt.Errorf("seq counter of %s: %w", a, err)
		}
	}
	g.counters[k] = seqCounter{last: v, ceiling: v}
	return nil
}

// nextSeq hands out the device's next seq, moving its ceiling (and so
// rewriting its counter key in this batch) when the seq passes it.
func (g *groupState) nextSeq(a protocol.Address) uint64 {
	k := string(appendAddr(nil, a))
	c := g.counters[k]
	c.last++
	if c.last > c.ceiling {
		g.touched[k] = a
		c.ceiling = c.last + seqBlock - 1
	}
	g.counters[k] = c
	return c.last
}

func (s *Store) stageEnqueue(g *groupState, r *request) error {
	if err := s.loadCounters(g, r.entries); err != nil {
		return err
	}
	var err error
	r.seqs, err = s.putEntries(g, r.entries)
	return err
}

// loadCounters reads the seq counters of every device of es, so that
// putEntries does no reads.
func (s *Store) loadCounters(g *groupState, es []*store.Entry) error {
	for _, e := range es {
		if err := s.counter(g, e.Device); err != nil {
			return err
		}
	}
	return nil
}

// putEntries stages es with the next seqs of their devices; loadCounters
// ran for them.
func (s *Store) putEntries(g *groupState, es []*store.Entry) ([]uint64, error) {
	seqs, err := s.putEntriesNoSync(g, es)
	if len(es) > 0 {
		g.sync = true
	}
	return seqs, err
}

// putEntriesNoSync is putEntries for entries that may become durable with
// the next synced batch: AckAndEnqueue's receipts (doc.go, sync policy).
func (s *Store) putEntriesNoSync(g *groupState, es []*store.Entry) ([]uint64, error) {
	seqs := make([]uint64, len(es))
	for i, e := range es {
		seq := g.nextSeq(e.Device)
		seqs[i] = seq
		qk := queueKey(e.Device, seq)
		if err := g.b.Set(qk, encodeEntry(e.Expires, e.Payload), nil); err != nil {
			return nil, fmt.Errorf("stage entry: %w", err)
		}
		// Remembered before the commit: nothing can ack an entry before
		// it is visible, so no ack can miss it and read it from disk while
		// it is being added (recent.go).
		s.recent.add(e.Device, seq, e.Expires, e.Payload)
		g.recent = append(g.recent, entryRef{e.Device, seq})
		if !e.Expires.IsZero() {
			if err := g.b.Set(expiryKey(e.Expires.UnixNano(), e.Device, seq), nil, nil); err != nil {
				return nil, fmt.Errorf("stage expiry index: %w", err)
			}
		}
		g.entries++
	}
	return seqs, nil
}

// committerKey marks the context handed to AckAndEnqueue callbacks: reads
// made with it skip closeMu (see enterRead).
type committerKey struct{}

// enterRead is enter for read methods. An AckAndEnqueue callback reads
// without closeMu: readAck already holds its read side for the whole call,
// and taking it again could deadlock, because a pending Close blocks new
// readers while the outer read lock is held.
func (s *Store) enterRead(ctx context.Context) (func(), error) {
	if c, _ := ctx.Value(committerKey{}).(*Store); c == s {
		return func() {}, nil
	}
	return s.enter()
}

// ackHit is a queue entry an ack found: its seq and, for the expiry
// index, its expiry.
type ackHit struct {
	seq     uint64
	expires time.Time
}

// readAck does an ack's reads on the caller's goroutine, before the request
// reaches the committer: the entries that exist (r.hits, r.acked) and, when
// makeReceipts is set, the receipts built from them (r.made). Reading here
// rather than on the single committer goroutine lets concurrent acks read
// in parallel; at a 1,024-member group's fan-out those point reads were
// most of the committer's time. An entry can only disappear between the
// read and the commit through a second ack of the same seq (a device's
// replaced connection) or expiry: the deletion is then repeated, which is
// harmless, and at worst a sender gets a DELIVERED receipt twice.
func (s *Store) readAck(ctx context.Context, r *request, makeReceipts func(context.Context, []store.Entry) []*store.Entry) error {
	release, err := s.enterRead(ctx)
	if err != nil {
		return err
	}
	defer release()
	seqs := slices.Clone(r.seqs)
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	found, missing := s.recent.takeAll(r.dev, seqs, make([]recentEntry, 0, len(seqs)), nil)
	r.hits = make([]ackHit, 0, len(seqs))
	r.acked = make([]store.Entry, 0, len(seqs))
	for _, e := range found {
		r.hits = append(r.hits, ackHit{e.seq, e.expires})
		r.acked = append(r.acked, store.Entry{Device: r.dev, Seq: e.seq, Payload: e.payload, Expires: e.expires})
	}
	for _, seq := range missing {
		k := queueKey(r.dev, seq)
		v, found, err := s.get(k)
		if err != nil {
			return fmt.Errorf("read entry %s/%d: %w", r.dev, seq, err)
		}
		if !found {
			continue
		}
		exp, payload, err := decodeEntry(v, maxStoredPayload)
		if err != nil {
			return fmt.Errorf("entry %s/%d: %w", r.dev, seq, err)
		}
		r.hits = append(r.hits, ackHit{seq, exp})
		r.acked = append(r.acked, store.Entry{Device: r.dev, Seq: seq, Payload: payload, Expires: exp})
	}
	if len(found) > 0 && len(missing) > 0 {
		// The cache's hits came first: restore seq order for the receipts.
		slices.SortFunc(r.acked, func(a, b store.Entry) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	if makeReceipts == nil {
		r.sync = true // plain Ack promises a durable deletion
		return nil
	}
	r.made, err = s.makeReceipts(makeReceipts, r.acked)
	return err
}

// makeReceipts runs an AckAndEnqueue's callback, turning a panic into an
// error so that a bug in a caller fails only its own ack.
func (s *Store) makeReceipts(fn func(context.Context, []store.Entry) []*store.Entry, acked []store.Entry) (made []*store.Entry, err error) {
	defer func() {
		if p := recover(); p != nil {
			made, err = nil, fmt.Errorf("receipt builder panicked: %v", p)
		}
	}()
	// The reads of the callback skip closeMu: readAck holds its read side.
	made = fn(context.WithValue(context.Background(), committerKey{}, s), acked)
	if len(made) > MaxEnqueueEntries {
		return nil, fmt.Errorf("%d receipts, limit %d: %w", len(made), MaxEnqueueEntries, ErrInvalid)
	}
	for i, e := range made {
		if err := s.checkEntry(e); err != nil {
			return nil, fmt.Errorf("receipt %d: %w", i, err)
		}
	}
	return made, nil
}

// stageAck stages the deletions readAck found and the receipts it built.
func (s *Store) stageAck(g *groupState, r *request) error {
	if err := s.loadCounters(g, r.made); err != nil {
		return err
	}
	if r.sync {
		g.sync = true
	}
	for _, h := range r.hits {
		ref := entryRef{r.dev, h.seq}
		if _, gone := g.deleted[ref]; gone {
			continue // deleted earlier in this batch (a repeated ack, or expiry)
		}
		g.deleted[ref] = struct{}{}
		// SingleDelete: queue and expiry keys are written once (seqs are
		// never reused), so a flush or compaction that meets the Set drops
		// both; most messages are acknowledged while still in the
		// memtable, and then never reach an sstable (doc.go).
		if err := g.b.SingleDelete(queueKey(r.dev, h.seq), nil); err != nil {
			return fmt.Errorf("stage ack: %w", err)
		}
		if !h.expires.IsZero() {
			if err := g.b.SingleDelete(expiryKey(h.expires.UnixNano(), r.dev, h.seq), nil); err != nil {
				return fmt.Errorf("stage ack: %w", err)
			}
		}
		g.dels++
	}
	if len(r.made) > 0 {
		var err error
		if r.mseqs, err = s.putEntriesNoSync(g, r.made); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) stageExpire(g *groupState, r *request) error {
	var idx [][]byte
	var entries []entryRef
	lo, hi := expiredRange(r.now)
	err := s.scan(lo, hi, func(k, _ []byte) (bool, error) {
		a, seq, err := decodeExpiryKey(k)
		if err != nil {
			return false, err
		}
		ref := entryRef{a, seq}
		if _, gone := g.deleted[ref]; gone {
			return true, nil // acknowledged in this very batch
		}
		idx = append(idx, append([]byte(nil), k...))
		entries = append(entries, ref)
		return len(idx) < expireChunk, nil
	})
	if err != nil {
		return fmt.Errorf("scan expiry index: %w", err)
	}
	s.recent.forget(entries)
	for i := range idx {
		if err := g.b.SingleDelete(idx[i], nil); err != nil {
			return fmt.Errorf("stage expiry: %w", err)
		}
		if err := g.b.SingleDelete(queueKey(entries[i].dev, entries[i].seq), nil); err != nil {
			return fmt.Errorf("stage expiry: %w", err)
		}
		g.deleted[entries[i]] = struct{}{}
		g.dels++
	}
	r.n = len(idx)
	g.sync = true
	return nil
}
