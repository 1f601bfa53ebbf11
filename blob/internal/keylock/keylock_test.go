package keylock

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestSerialisesOneKeyOnly(t *testing.T) {
	var m Map
	var inA atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				unlock := m.Lock("a")
				if inA.Add(1) != 1 {
					t.Error("two holders of key a")
				}
				inA.Add(-1)
				unlock()
			}
		}()
	}
	// Another key is free while "a" is held.
	unlockA := m.Lock("a")
	unlockB := m.Lock("b")
	unlockB()
	unlockA()
	wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.locks) != 0 {
		t.Fatalf("%d idle entries kept", len(m.locks))
	}
}
