package server

import (
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

// SetFrameHook makes every handler call hook first (nil removes it); the
// panic-injection tests use it.
func SetFrameHook(n *Node, hook func(protocol.Address, *pb.ClientFrame)) {
	if hook == nil {
		n.frameHook.Store(nil)
		return
	}
	n.frameHook.Store(&hook)
}

// StoreOf exposes the node's store for invariant checks.
func StoreOf(n *Node) store.Store {
	if o, ok := n.store.(*observedStore); ok {
		return o.Store // the metrics wrapper: benchmarks need the store itself
	}
	return n.store
}

// ExpireNow runs one expiry pass.
var ExpireNow = (*Node).expireOnce
