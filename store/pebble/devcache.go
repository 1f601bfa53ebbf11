package pebble

import (
	"slices"
	"sync"

	"github.com/parley-im/parley/store"
)

// maxCachedDeviceLists bounds the device-list cache; when full it is
// cleared, and a dropped list costs one scan when next asked for.
const maxCachedDeviceLists = 1 << 16

// devCache keeps accounts' device lists in memory. Every Send reads two of
// them (recipient and sender) and every receipt one, and on a busy node the
// scan behind Devices crosses every young sstable (queue churn flushes
// constantly): it was the node's largest CPU item per message.
//
// The store is the only writer of devices, so the cache is exact: a write
// bumps gen and drops the handle's list, and a reader fills the cache only
// if gen did not move while it read from disk, so a list read before a
// write can never be cached after it. Unknown handles are not cached.
type devCache struct {
	mu    sync.Mutex
	gen   uint64                    // guarded by mu
	lists map[string][]store.Device // guarded by mu
}

func (c *devCache) get(handle string) ([]store.Device, uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.lists[handle]
	if !ok {
		return nil, c.gen, false
	}
	return slices.Clone(l), c.gen, true
}

// put caches l for handle unless a device write happened since gen.
func (c *devCache) put(handle string, l []store.Device, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if c.lists == nil || len(c.lists) >= maxCachedDeviceLists {
		c.lists = make(map[string][]store.Device)
	}
	c.lists[handle] = slices.Clone(l)
}

// invalidate is called after every write to handle's account or devices.
func (c *devCache) invalidate(handle string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.lists, handle)
}
