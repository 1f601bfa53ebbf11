// Package keylock serialises work on one key inside one process, for the
// blob stores' upload appends. It owns nothing else and must not be used
// for locks that span processes.
package keylock

import "sync"

// Map hands out one mutex per key, created on demand and dropped when no
// one holds or waits for it, so idle keys cost nothing.
type Map struct {
	mu    sync.Mutex
	locks map[string]*entry // guarded by mu
}

type entry struct {
	mu   sync.Mutex
	refs int // guarded by Map.mu
}

// Lock locks key and returns its unlock function.
func (m *Map) Lock(key string) (unlock func()) {
	m.mu.Lock()
	if m.locks == nil {
		m.locks = map[string]*entry{}
	}
	e := m.locks[key]
	if e == nil {
		e = &entry{}
		m.locks[key] = e
	}
	e.refs++
	m.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		m.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(m.locks, key)
		}
		m.mu.Unlock()
	}
}
