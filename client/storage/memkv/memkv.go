package memkv

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/parley-im/parley/client/storage"
)

// Store is an in-memory storage.Storage. The zero value is not usable; call New.
type Store struct {
	mu     sync.RWMutex
	keys   []string          // sorted; guarded by mu
	vals   map[string][]byte // guarded by mu
	closed bool              // guarded by mu
}

// New returns an empty store.
func New() *Store { return &Store{vals: map[string][]byte{}} }

// Get implements storage.Storage.
func (s *Store) Get(_ context.Context, key []byte) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, storage.ErrClosed
	}
	v, ok := s.vals[string(key)]
	if !ok {
		return nil, fmt.Errorf("memkv: key %q: %w", key, storage.ErrNotFound)
	}
	return bytes.Clone(v), nil
}

// Scan implements storage.Storage. The callback runs on a snapshot, so it
// may write to the store.
func (s *Store) Scan(ctx context.Context, prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return storage.ErrClosed
	}
	p := string(prefix)
	i, _ := slices.BinarySearch(s.keys, p)
	var ks []string
	var vs [][]byte
	for ; i < len(s.keys) && len(s.keys[i]) >= len(p) && s.keys[i][:len(p)] == p; i++ {
		ks = append(ks, s.keys[i])
		vs = append(vs, s.vals[s.keys[i]])
	}
	s.mu.RUnlock()
	if reverse {
		slices.Reverse(ks)
		slices.Reverse(vs)
	}
	for j := range ks {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn([]byte(ks[j]), bytes.Clone(vs[j])); err != nil {
			if err == storage.ErrStop {
				return nil
			}
			return err
		}
	}
	return nil
}

// Apply implements storage.Storage.
func (s *Store) Apply(_ context.Context, b *storage.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.ErrClosed
	}
	for _, op := range b.Ops {
		k := string(op.Key)
		i, found := slices.BinarySearch(s.keys, k)
		switch {
		case op.Delete && found:
			s.keys = slices.Delete(s.keys, i, i+1)
			delete(s.vals, k)
		case op.Delete:
		default:
			if !found {
				s.keys = slices.Insert(s.keys, i, k)
			}
			s.vals[k] = bytes.Clone(op.Value)
		}
	}
	return nil
}

// Close implements storage.Storage.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
