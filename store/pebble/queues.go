package pebble

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// maxStoredPayload bounds what a reader accepts from disk, independent of
// Options.MaxPayload, so lowering that option never makes old entries
// unreadable.
const maxStoredPayload = 16 << 20

// MaxEnqueueEntries bounds one Enqueue call (a fan-out to this many devices).
const MaxEnqueueEntries = 10000

// Enqueue implements store.Queues. The entries' Seq fields are set only when
// it returns nil. A zero Expires means the entry never expires.
func (s *Store) Enqueue(ctx context.Context, entries []*store.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if len(entries) > MaxEnqueueEntries {
		return fmt.Errorf("enqueue: %d entries, limit %d: %w", len(entries), MaxEnqueueEntries, ErrInvalid)
	}
	for i, e := range entries {
		if err := s.checkEntry(e); err != nil {
			return fmt.Errorf("enqueue: entry %d: %w", i, err)
		}
	}
	r := &request{kind: reqEnqueue, entries: entries}
	if err := s.submit(ctx, r); err != nil {
		return fmt.Errorf("enqueue %d entries: %w", len(entries), err)
	}
	r.assignSeqs()
	return nil
}

func (s *Store) checkEntry(e *store.Entry) error {
	if e == nil {
		return fmt.Errorf("nil entry: %w", ErrInvalid)
	}
	if err := checkAddr(e.Device); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if len(e.Payload) > s.opts.MaxPayload {
		return fmt.Errorf("payload of %d bytes, limit %d: %w", len(e.Payload), s.opts.MaxPayload, ErrTooLarge)
	}
	// UnixNano only covers 1678..2262; the expiry index needs it.
	if y := e.Expires.Year(); !e.Expires.IsZero() && (y < 1700 || y > 2200) {
		return fmt.Errorf("expiry %s out of range: %w", e.Expires, ErrInvalid)
	}
	return nil
}

func expired(exp, now time.Time) bool { return !exp.IsZero() && exp.Before(now) }

// ReadQueue implements store.Queues; limit is capped at MaxReadLimit. It
// scans one key range; expired entries not yet removed by ExpireQueues are
// read and skipped, so their cost lasts until the next expiry run.
func (s *Store) ReadQueue(ctx context.Context, dev protocol.Address, after uint64, limit int) ([]store.Entry, error) {
	if err := checkAddr(dev); err != nil {
		return nil, fmt.Errorf("read queue: %w: %w", ErrInvalid, err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("read queue %s: limit %d: %w", dev, limit, ErrInvalid)
	}
	limit = min(limit, MaxReadLimit)
	release, err := s.enterRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", dev, err)
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("read queue %s: %w", dev, err)
	}
	now := s.opts.Now()
	var out []store.Entry
	lo, hi := queueRange(dev, after)
	err = s.scan(lo, hi, func(k, v []byte) (bool, error) {
		exp, payload, err := decodeEntry(v, maxStoredPayload)
		if err != nil {
			return false, err
		}
		if expired(exp, now) {
			return true, nil
		}
		seq, err := decodeQueueSeq(k)
		if err != nil {
			return false, err
		}
		out = append(out, store.Entry{Device: dev, Seq: seq, Payload: payload, Expires: exp})
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read queue %s: %w", dev, err)
	}
	// What is read is about to be delivered and acknowledged: remember it
	// so the ack needs no point read (recent.go). For a backlog that fell
	// out of the cache (a device offline for a while) those reads were
	// over half the node's CPU while it drained.
	s.recent.addRead(dev, out)
	return out, nil
}

// Ack implements store.Queues. The returned entries are in seq order.
func (s *Store) Ack(ctx context.Context, dev protocol.Address, seqs []uint64) ([]store.Entry, error) {
	return s.ack(ctx, dev, seqs, nil)
}

// QueueDepth implements store.Queues by scanning the device's range, reading
// only each entry's header: O(depth).
func (s *Store) QueueDepth(ctx context.Context, dev protocol.Address) (int, error) {
	if err := checkAddr(dev); err != nil {
		return 0, fmt.Errorf("queue depth: %w: %w", ErrInvalid, err)
	}
	release, err := s.enterRead(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue depth %s: %w", dev, err)
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("queue depth %s: %w", dev, err)
	}
	now := s.opts.Now()
	n := 0
	lo, hi := queueRange(dev, 0)
	err = s.scan(lo, hi, func(_, v []byte) (bool, error) {
		exp, err := decodeEntryExpiry(v)
		if err != nil {
			return false, err
		}
		if !expired(exp, now) {
			n++
		}
		return true, nil
	})
	if err != nil {
		return 0, fmt.Errorf("queue depth %s: %w", dev, err)
	}
	return n, nil
}

// ExpireQueues implements store.Queues. It walks the expiry index (ordered
// by expiry time), so its cost is proportional to what it deletes, and it
// deletes in chunks so senders are not held behind one huge batch.
func (s *Store) ExpireQueues(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		r := &request{kind: reqExpire, now: now.UnixNano()}
		if err := s.submit(ctx, r); err != nil {
			return total, fmt.Errorf("expire queues: %w", err)
		}
		total += r.n
		if r.n < expireChunk {
			return total, nil
		}
	}
}

// EnqueueAsync implements store.Queues: the request is on the committer's
// channel (or refused) when it returns, which is what orders it after the
// caller's earlier requests.
func (s *Store) EnqueueAsync(ctx context.Context, entries []*store.Entry, onVisible func([]*store.Entry)) store.Pending {
	p := &pending{entries: entries}
	switch {
	case len(entries) == 0:
		return p
	case len(entries) > MaxEnqueueEntries:
		p.err = fmt.Errorf("enqueue: %d entries, limit %d: %w", len(entries), MaxEnqueueEntries, ErrInvalid)
		return p
	}
	for i, e := range entries {
		if err := s.checkEntry(e); err != nil {
			p.err = fmt.Errorf("enqueue: entry %d: %w", i, err)
			return p
		}
	}
	r := &request{kind: reqEnqueue, entries: entries, onVisible: onVisible}
	if err := s.send(ctx, r); err != nil {
		p.err = fmt.Errorf("enqueue %d entries: %w", len(entries), err)
		return p
	}
	p.r = r
	return p
}

// pending is an EnqueueAsync; r is nil when it failed (or had nothing to
// do) before reaching the committer.
type pending struct {
	r       *request
	entries []*store.Entry
	err     error
}

// doneChan is closed from the start: the Done of a pending that never
// reached the committer.
var doneChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (p *pending) Done() <-chan struct{} {
	if p.r == nil {
		return doneChan
	}
	return p.r.done
}

func (p *pending) Wait() error {
	if p.r == nil {
		return p.err
	}
	<-p.r.done
	if p.r.err != nil {
		return fmt.Errorf("enqueue %d entries: %w", len(p.entries), p.r.err)
	}
	p.r.assignSeqs()
	return nil
}

// ackStripes spreads devices over ack locks: a device's acks are serial
// anyway (one connection at a time), so a collision only makes two devices
// take turns for one commit.
const ackStripes = 1024

func (s *Store) ackLock(dev protocol.Address) *sync.Mutex {
	return &s.ackMu[s.stripe(dev)%ackStripes]
}

// AckAndEnqueue implements store.Queues. The deletions and the receipts
// share one atomic batch, committed without waiting for a sync of its own
// (package doc, sync policy).
func (s *Store) AckAndEnqueue(ctx context.Context, dev protocol.Address, seqs []uint64, makeReceipts func(ctx context.Context, deleted []store.Entry) []*store.Entry) ([]store.Entry, error) {
	return s.ack(ctx, dev, seqs, makeReceipts)
}

// ack is Ack (makeReceipts nil: the deletion is synced) and AckAndEnqueue.
func (s *Store) ack(ctx context.Context, dev protocol.Address, seqs []uint64, makeReceipts func(ctx context.Context, deleted []store.Entry) []*store.Entry) ([]store.Entry, error) {
	if err := checkAddr(dev); err != nil {
		return nil, fmt.Errorf("ack: %w: %w", ErrInvalid, err)
	}
	if len(seqs) == 0 {
		return nil, nil
	}
	mu := s.ackLock(dev)
	mu.Lock()
	defer mu.Unlock()
	r := &request{kind: reqAck, dev: dev, seqs: seqs}
	if err := s.readAck(ctx, r, makeReceipts); err != nil {
		return nil, fmt.Errorf("ack %d entries of %s: %w", len(seqs), dev, err)
	}
	if len(r.hits) == 0 && len(r.made) == 0 {
		return nil, nil // nothing of it exists any more: nothing to write
	}
	if err := s.submit(ctx, r); err != nil {
		return nil, fmt.Errorf("ack %d entries of %s: %w", len(seqs), dev, err)
	}
	for i, e := range r.made {
		e.Seq = r.mseqs[i]
	}
	return r.acked, nil
}
