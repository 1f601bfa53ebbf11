package storage

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get when the key does not exist.
var ErrNotFound = errors.New("storage: not found")

// ErrStop may be returned by a Scan callback to end the scan early; Scan
// then returns nil.
var ErrStop = errors.New("storage: stop scan")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("storage: closed")

// Storage is an ordered key-value store with atomic, durable batches.
// Keys are compared bytewise. Implementations must be safe for concurrent
// use; values passed to callbacks are valid only during the callback, and
// values returned by Get belong to the caller.
type Storage interface {
	// Get returns a copy of the value, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// Scan calls fn for every key with the prefix, in ascending key order
	// (descending when reverse), until fn returns an error. ErrStop ends the
	// scan without error.
	Scan(ctx context.Context, prefix []byte, reverse bool, fn func(key, value []byte) error) error
	// Apply commits every operation of b atomically; when it returns nil the
	// batch is durable (synced to disk for on-disk stores).
	Apply(ctx context.Context, b *Batch) error
	// Close releases the store; later calls fail with ErrClosed.
	Close() error
}

// Op is one write of a Batch.
type Op struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// Batch collects writes to apply atomically. The zero value is empty and
// ready to use. Set and Delete copy their arguments.
type Batch struct {
	Ops []Op
}

// Set adds a write of value under key.
func (b *Batch) Set(key, value []byte) {
	b.Ops = append(b.Ops, Op{Key: clone(key), Value: clone(value)})
}

// Delete adds a deletion of key.
func (b *Batch) Delete(key []byte) {
	b.Ops = append(b.Ops, Op{Key: clone(key), Delete: true})
}

// Append adds every operation of o after those of b.
func (b *Batch) Append(o *Batch) { b.Ops = append(b.Ops, o.Ops...) }

// Len reports the number of operations.
func (b *Batch) Len() int { return len(b.Ops) }

// Set writes one key durably.
func Set(ctx context.Context, s Storage, key, value []byte) error {
	var b Batch
	b.Set(key, value)
	return s.Apply(ctx, &b)
}

// Delete removes one key durably.
func Delete(ctx context.Context, s Storage, key []byte) error {
	var b Batch
	b.Delete(key)
	return s.Apply(ctx, &b)
}

// PrefixEnd returns the smallest key greater than every key with the prefix,
// or nil when there is none (the prefix is all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}
