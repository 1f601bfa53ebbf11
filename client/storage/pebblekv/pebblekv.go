package pebblekv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/parley-im/parley/client/storage"
)

// ErrLocked means another process (or another Store in this process) has
// the directory open.
var ErrLocked = errors.New("pebblekv: the directory is in use by another parley process")

// Store is a storage.Storage backed by Pebble.
type Store struct {
	dir string

	mu   sync.RWMutex // guards db against Close while in use
	db   *pebble.DB   // guarded by mu; nil after Close
	lock *pebble.Lock
}

// Open opens (creating if needed) the database in dir.
func Open(dir string) (*Store, error) {
	if err := vfs.Default.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pebblekv: create %s: %w", dir, err)
	}
	lock, err := pebble.LockDirectory(dir, vfs.Default)
	if err != nil {
		return nil, fmt.Errorf("%w (%s: %v)", ErrLocked, dir, err)
	}
	opts := &pebble.Options{Lock: lock, Logger: quietLogger{}}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("pebblekv: open %s: %w", dir, err)
	}
	return &Store{dir: dir, db: db, lock: lock}, nil
}

// Get implements storage.Storage.
func (s *Store) Get(_ context.Context, key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return nil, storage.ErrClosed
	}
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, fmt.Errorf("pebblekv: key %q: %w", key, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("pebblekv: get: %w", err)
	}
	out := bytes.Clone(v)
	if out == nil {
		out = []byte{}
	}
	_ = closer.Close()
	return out, nil
}

// Scan implements storage.Storage. The callback must not call Close.
func (s *Store) Scan(ctx context.Context, prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return storage.ErrClosed
	}
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: prefix, UpperBound: storage.PrefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("pebblekv: scan: %w", err)
	}
	valid := it.First
	step := it.Next
	if reverse {
		valid, step = it.Last, it.Prev
	}
	for ok := valid(); ok; ok = step() {
		if err := ctx.Err(); err != nil {
			_ = it.Close()
			return err
		}
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("pebblekv: scan value: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			_ = it.Close()
			if errors.Is(err, storage.ErrStop) {
				return nil
			}
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("pebblekv: scan: %w", err)
	}
	return nil
}

// Apply implements storage.Storage: one synced Pebble batch.
func (s *Store) Apply(_ context.Context, b *storage.Batch) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return storage.ErrClosed
	}
	pb := s.db.NewBatch()
	defer pb.Close()
	for _, op := range b.Ops {
		var err error
		if op.Delete {
			err = pb.Delete(op.Key, nil)
		} else {
			err = pb.Set(op.Key, op.Value, nil)
		}
		if err != nil {
			return fmt.Errorf("pebblekv: batch: %w", err)
		}
	}
	if err := pb.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("pebblekv: commit: %w", err)
	}
	return nil
}

// Close implements storage.Storage.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	if lerr := s.lock.Close(); err == nil {
		err = lerr
	}
	if err != nil {
		return fmt.Errorf("pebblekv: close %s: %w", s.dir, err)
	}
	return nil
}

// quietLogger drops Pebble's informational chatter (it would print on the
// CLI's terminal) and keeps fatal errors fatal.
type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf(format, args...))
}
