package servertest

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/server"
)

// Node is a running in-process node.
type Node struct {
	*server.Node
	Config server.Config
	cancel context.CancelFunc
	done   chan error
}

// Start runs a node for the test: unset DataDir becomes t.TempDir() and
// unset addresses become 127.0.0.1:0. The node stops at cleanup.
func Start(t testing.TB, cfg server.Config) *Node {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	// Tests register and send from one address far faster than people
	// do: the per-IP and per-device rate limits are off unless a test
	// sets them.
	for _, r := range []*int{&cfg.RegisterRate, &cfg.SendRate} {
		if *r == 0 {
			*r = -1
		}
	}
	for _, a := range []*string{&cfg.Listen, &cfg.HTTP, &cfg.Admin} {
		if *a == "" {
			*a = "127.0.0.1:0"
		}
	}
	n, err := server.New(cfg)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn := &Node{Node: n, Config: cfg, cancel: cancel, done: make(chan error, 1)}
	go func() { tn.done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-tn.done:
		t.Fatalf("node.Run: %v", err)
	}
	t.Cleanup(func() { tn.Stop(t) })
	return tn
}

// Stop shuts the node down gracefully and waits; calling it twice is fine.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	n.cancel()
	select {
	case err, ok := <-n.done:
		if ok && err != nil {
			t.Errorf("node.Run: %v", err)
		}
		if ok {
			close(n.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("node did not stop within 30s")
	}
}
