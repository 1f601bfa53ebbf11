package pebble

import (
	"slices"
	"sync"

	"github.com/parley-im/parley/store"
)

// maxCachedHandles bounds each map of the cache; when one is full it is
// cleared, and a dropped record costs one read when next asked for.
const maxCachedHandles = 1 << 16

// devCache keeps accounts' device lists and account records in memory.
// Every Send reads two device lists (recipient and sender) and the
// recipient's account, every receipt one list; on a busy node those reads
// cross every young sstable that queue churn keeps flushing, and the
// blocks holding them are rewritten by compactions faster than the block
// cache keeps them: each was in turn the node's largest CPU item per
// message (docs/benchmarks.md).
//
// The store is the only writer of accounts and devices, so the cache is
// exact: a write bumps gen and drops the handle's records, and a reader
// fills the cache only if gen did not move while it read from disk, so a
// record read before a write can never be cached after it. Unknown handles
// are not cached.
type devCache struct {
	mu       sync.RWMutex
	gen      uint64                   // guarded by mu
	lists    map[string]cachedDevices // guarded by mu
	accounts map[string]store.Account // guarded by mu
}

// cachedDevices is one account's devices and, computed once, the ids of
// the active ones (shared with callers of ActiveDeviceIDs, never changed).
type cachedDevices struct {
	devs   []store.Device
	active []uint32
}

// get returns handle's cached devices; the entry is the cache's own.
func (c *devCache) get(handle string) (cachedDevices, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	l, ok := c.lists[handle]
	return l, c.gen, ok
}

// activeOf lists the ids of the devices that are not disabled, with no
// spare capacity, so an append by a caller copies instead of writing into
// the shared array.
func activeOf(devs []store.Device) []uint32 {
	ids := make([]uint32, 0, len(devs))
	for _, d := range devs {
		if !d.Disabled {
			ids = append(ids, d.Address.Device)
		}
	}
	return slices.Clip(ids)
}

// put makes l handle's entry, and caches it unless a write happened since
// gen. l becomes the entry's: the caller must not change it.
func (c *devCache) put(handle string, l []store.Device, gen uint64) cachedDevices {
	e := cachedDevices{devs: l, active: activeOf(l)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return e
	}
	if c.lists == nil || len(c.lists) >= maxCachedHandles {
		c.lists = make(map[string]cachedDevices)
	}
	c.lists[handle] = e
	return e
}

func (c *devCache) account(handle string) (store.Account, uint64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	a, ok := c.accounts[handle]
	return a, c.gen, ok
}

// putAccount caches handle's account unless a write happened since gen.
func (c *devCache) putAccount(handle string, a store.Account, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.accounts == nil || len(c.accounts) >= maxCachedHandles {
		c.accounts = make(map[string]store.Account)
	}
	c.accounts[handle] = a
}

// invalidate is called after every write to handle's account or devices.
func (c *devCache) invalidate(handle string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.lists, handle)
	delete(c.accounts, handle)
}
