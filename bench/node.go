package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/parley-im/parley/server"
)

// NodeConfig is the node SpawnNode runs: the defaults of `parley serve`
// except that the per-device send rate, the per-address registration rate,
// the per-device queue cap and the connection cap are off. Those limits
// protect a public node from abuse; left on, a benchmark measures the
// limiter (600 Sends per device per minute) instead of the node.
func NodeConfig(dataDir string, logger *slog.Logger) server.Config {
	return server.Config{
		DataDir: dataDir, Listen: "127.0.0.1:0", HTTP: "127.0.0.1:0", Admin: "127.0.0.1:0",
		SendRate: -1, SendBurst: -1, RegisterRate: -1, MaxQueue: -1, MaxConnections: -1,
		Logger: logger,
	}
}

// RunNode runs a node with cfg until ctx ends, printing the same
// "server key:", "tcp:", "http:", "admin:" and "ready" lines as
// `parley serve` on out. `parley bench node` (what SpawnNode starts) is
// this with NodeConfig.
func RunNode(ctx context.Context, cfg server.Config, out io.Writer) error {
	n, err := server.New(cfg)
	if err != nil {
		return fmt.Errorf("bench: node: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	select {
	case <-n.Ready():
	case err := <-done:
		return fmt.Errorf("bench: node: %w", err)
	}
	fmt.Fprintf(out, "server key: %s\ntcp: %s\nhttp: %s\nadmin: %s\nready\n", n.ServerKey(), n.TCPAddr(), n.HTTPAddr(), n.AdminAddr())
	return <-done
}
