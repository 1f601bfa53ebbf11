package bench

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// TestMain turns the test binary into a bench worker when the parent
// (Conns) re-executes it, as `parley bench worker` does for the real binary.
func TestMain(m *testing.M) {
	if os.Getenv(WorkerEnv) == "1" {
		if err := RunWorker(context.Background(), os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startNode runs a real node in this process and returns it as a target.
func startNode(t *testing.T, cfg server.Config) (*servertest.Node, Common) {
	t.Helper()
	n := servertest.Start(t, cfg)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return n, Common{
		Target: Target{
			Addr: n.TCPAddr().String(), ServerKey: n.ServerKey(), PID: os.Getpid(),
			Admin: n.AdminAddr().String(), AdminToken: n.AdminToken(), HTTP: n.HTTPAddr().String(),
		},
		WorkerArgv: []string{exe},
	}
}

// decodeLast parses the JSON line a Result prints last.
func decodeLast(t *testing.T, r *Result) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.JSON(), &m); err != nil {
		t.Fatalf("result JSON %s: %v", r.JSON(), err)
	}
	return m
}

func num(t *testing.T, m map[string]any, key string) float64 {
	t.Helper()
	v, ok := m[key].(float64)
	if !ok {
		t.Fatalf("result has no number %q: %v", key, m)
	}
	return v
}
