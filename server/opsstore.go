package server

import (
	"context"
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// observedStore is the store the sessions see: every method passes
// through, and queue writes that succeed are reported to ops (depth,
// metrics, push). Push notices go out for messages and group events, not
// for delivery receipts: a receipt is no reason to wake a phone.
type observedStore struct {
	store.Store
	o *ops
}

func (s *observedStore) Enqueue(ctx context.Context, es []*store.Entry) error {
	start := time.Now()
	err := s.Store.Enqueue(ctx, es)
	if err == nil {
		s.o.queued(es, start, true)
	}
	return err
}

func (s *observedStore) EnqueueAsync(ctx context.Context, es []*store.Entry, onVisible func([]*store.Entry)) store.Pending {
	return &observedPending{Pending: s.Store.EnqueueAsync(ctx, es, onVisible), o: s.o, es: es, start: time.Now()}
}

// observedPending reports its batch once, on the first Wait that sees it
// succeed (the session's acker waits on every pending send).
type observedPending struct {
	store.Pending
	o     *ops
	es    []*store.Entry
	start time.Time
	once  sync.Once
}

func (p *observedPending) Wait() error {
	err := p.Pending.Wait()
	if err == nil {
		p.once.Do(func() { p.o.queued(p.es, p.start, true) })
	}
	return err
}

func (s *observedStore) Ack(ctx context.Context, dev protocol.Address, seqs []uint64) ([]store.Entry, error) {
	del, err := s.Store.Ack(ctx, dev, seqs)
	if err == nil {
		s.o.depth.Add(-int64(len(del)))
		s.o.m.Deliveries.Add(float64(len(del)))
	}
	return del, err
}

func (s *observedStore) AckAndEnqueue(ctx context.Context, dev protocol.Address, seqs []uint64, makeReceipts func(context.Context, []store.Entry) []*store.Entry) ([]store.Entry, error) {
	made := 0
	del, err := s.Store.AckAndEnqueue(ctx, dev, seqs, func(rctx context.Context, deleted []store.Entry) []*store.Entry {
		es := makeReceipts(rctx, deleted)
		made = len(es)
		return es
	})
	if err == nil {
		s.o.depth.Add(int64(made - len(del)))
		s.o.m.Deliveries.Add(float64(len(del)))
		s.o.m.Receipts.Add(float64(made))
	}
	return del, err
}

func (s *observedStore) ExpireQueues(ctx context.Context, now time.Time) (int, error) {
	k, err := s.Store.ExpireQueues(ctx, now)
	s.o.depth.Add(-int64(k))
	return k, err
}

func (s *observedStore) SaveGroup(ctx context.Context, g store.Group, events []*store.Entry) error {
	start := time.Now()
	err := s.Store.SaveGroup(ctx, g, events)
	if err == nil && len(events) > 0 {
		s.o.queued(events, start, true)
	}
	return err
}
