package client_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The SDK core must stay buildable for the browser: no Pebble, no server,
// no storage implementation in its dependency graph.
func TestCoreDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	cmd := exec.Command("go", "list", "-deps", ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list for js/wasm: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/cockroachdb/", "github.com/parley-im/parley/server", "github.com/parley-im/parley/store", "/client/storage/pebblekv"} {
			if strings.Contains(dep, banned) {
				t.Errorf("client core depends on %s", dep)
			}
		}
	}
}
