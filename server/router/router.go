package router

import (
	"hash/maphash"
	"sync"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// Peer is what the router needs from a live session. Every method must be
// cheap and non-blocking: the router calls them while other goroutines wait.
type Peer interface {
	// Nudge says the device's queue may have new entries.
	Nudge()
	// PrekeysLow says the device's one-time prekey stock fell under threshold.
	PrekeysLow(counts *pb.PrekeysLow)
	// Kick ends the session with a Goodbye carrying code.
	Kick(code pb.ErrorCode, reason string, retryAfterMS uint64)
}

// shards spreads the map over several locks so a reconnect storm on one
// shard does not stall lookups for every other device.
const shards = 64

// Router is safe for concurrent use. The zero value is not usable; call New.
type Router struct {
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu    sync.RWMutex
	peers map[protocol.Address]Peer // guarded by mu
}

// New returns an empty router.
func New() *Router {
	r := &Router{seed: maphash.MakeSeed()}
	for i := range r.shards {
		r.shards[i].peers = make(map[protocol.Address]Peer)
	}
	return r
}

func (r *Router) shard(a protocol.Address) *shard {
	var h maphash.Hash
	h.SetSeed(r.seed)
	h.WriteString(a.User)
	h.WriteByte(byte(a.Device))
	h.WriteByte(byte(a.Device >> 8))
	return &r.shards[h.Sum64()%shards]
}

// Attach makes p the live session of addr and returns the session it
// replaced (nil if none); the caller kicks the old one.
func (r *Router) Attach(addr protocol.Address, p Peer) (old Peer) {
	s := r.shard(addr)
	s.mu.Lock()
	old = s.peers[addr]
	s.peers[addr] = p
	s.mu.Unlock()
	return old
}

// Detach removes addr's entry if it still points at p, so a session that was
// replaced cannot remove its successor.
func (r *Router) Detach(addr protocol.Address, p Peer) {
	s := r.shard(addr)
	s.mu.Lock()
	if s.peers[addr] == p {
		delete(s.peers, addr)
	}
	s.mu.Unlock()
}

// Lookup returns addr's live session, or nil when the device is offline.
func (r *Router) Lookup(addr protocol.Address) Peer {
	s := r.shard(addr)
	s.mu.RLock()
	p := s.peers[addr]
	s.mu.RUnlock()
	return p
}

// Nudge tells each online device among addrs that its queue grew. Offline
// devices are skipped: they drain their queue when they connect.
func (r *Router) Nudge(addrs ...protocol.Address) {
	for _, a := range addrs {
		if p := r.Lookup(a); p != nil {
			p.Nudge()
		}
	}
}

// Len counts the live sessions.
func (r *Router) Len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		n += len(s.peers)
		s.mu.RUnlock()
	}
	return n
}

// Each calls fn for every live session. fn runs without the router's locks
// held, so it may call back into the router.
func (r *Router) Each(fn func(protocol.Address, Peer)) {
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.RLock()
		addrs := make([]protocol.Address, 0, len(s.peers))
		peers := make([]Peer, 0, len(s.peers))
		for a, p := range s.peers {
			addrs = append(addrs, a)
			peers = append(peers, p)
		}
		s.mu.RUnlock()
		for j := range addrs {
			fn(addrs[j], peers[j])
		}
	}
}
