package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/client/storage"
)

// getter is what a txn reads through: the Storage or a parent txn.
type getter interface {
	Get(ctx context.Context, key []byte) ([]byte, error)
}

// txn buffers writes over a parent so that the e2e stores, history and the
// seen-set of one operation land in one atomic Storage batch. Reads see the
// txn's own writes first. A txn is used by one goroutine at a time (callers
// hold Client.cryptoMu); it is discarded by simply dropping it.
type txn struct {
	parent getter
	writes map[string]storage.Op
	order  []string // first-write order, so batches replay deterministically
}

func newTxn(parent getter) *txn {
	return &txn{parent: parent, writes: map[string]storage.Op{}}
}

// Get returns the buffered value or the parent's.
func (t *txn) Get(ctx context.Context, key []byte) ([]byte, error) {
	if op, ok := t.writes[string(key)]; ok {
		if op.Delete {
			return nil, fmt.Errorf("key %q: %w", key, storage.ErrNotFound)
		}
		return append([]byte{}, op.Value...), nil
	}
	return t.parent.Get(ctx, key)
}

// has reports whether key exists.
func (t *txn) has(ctx context.Context, key []byte) (bool, error) {
	_, err := t.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (t *txn) put(op storage.Op) {
	k := string(op.Key)
	if _, ok := t.writes[k]; !ok {
		t.order = append(t.order, k)
	}
	t.writes[k] = op
}

// Set buffers a write (copying key and value).
func (t *txn) Set(key, value []byte) {
	t.put(storage.Op{Key: append([]byte{}, key...), Value: append([]byte{}, value...)})
}

// Delete buffers a deletion.
func (t *txn) Delete(key []byte) {
	t.put(storage.Op{Key: append([]byte{}, key...), Delete: true})
}

// child starts a nested txn whose writes reach t only through merge.
func (t *txn) child() *txn { return newTxn(t) }

// merge moves a child's writes into t.
func (t *txn) merge(c *txn) {
	for _, k := range c.order {
		t.put(c.writes[k])
	}
}

// batch returns the writes as a storage batch.
func (t *txn) batch() *storage.Batch {
	b := &storage.Batch{Ops: make([]storage.Op, 0, len(t.order))}
	for _, k := range t.order {
		b.Ops = append(b.Ops, t.writes[k])
	}
	return b
}

// commit applies the writes atomically to s.
func (t *txn) commit(ctx context.Context, s storage.Storage) error {
	if len(t.order) == 0 {
		return nil
	}
	if err := s.Apply(ctx, t.batch()); err != nil {
		return fmt.Errorf("commit %d writes: %w", len(t.order), err)
	}
	return nil
}
