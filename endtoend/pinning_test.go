package endtoend_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestServerKeyPinning: a device pins its node's key on first contact and
// refuses, with an error that says so, a node presenting another key —
// whether that node took over the old address or the device was pointed
// at it — and the refusal does not replace the pin.
func TestServerKeyPinning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// impostor starts node B (own data dir, so its own key); it may
		// stop node A first.
		impostor func(t *testing.T, a *node) *node
	}{
		{"new node on the same address", func(t *testing.T, a *node) *node {
			a.stop()
			return startNode(t, filepath.Join(t.TempDir(), "b"), "--listen", a.tcp)
		}},
		{"other node via --server", func(t *testing.T, a *node) *node {
			return startNode(t, filepath.Join(t.TempDir(), "b"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataA := filepath.Join(t.TempDir(), "a")
			a := startNode(t, dataA)
			alice := newDevice(t, a.tcp)
			alice.register(t, "alice")
			alice.must(t, "recv", "--json", "--timeout", "1s") // a second contact, now over the pinned key

			b := tc.impostor(t, a)
			if b.key == a.key {
				t.Fatalf("nodes A and B share the key %s", a.key)
			}
			impostor := &device{home: alice.home, server: b.tcp}
			r := impostor.run(t, "recv", "--json")
			if r.code == 0 {
				t.Fatalf("a node with another key was accepted: %s", r)
			}
			if !strings.Contains(r.stderr, "server key changed") {
				t.Errorf("the error does not say the server key changed: %s", r)
			}
			if strings.TrimSpace(r.stdout) != "" {
				t.Errorf("output from a refused node: %q", r.stdout)
			}

			// Back on the real node the device still works: the pin was kept.
			b.stop()
			if !a.running() {
				a = startNode(t, dataA, "--listen", a.tcp)
			}
			alice.must(t, "recv", "--json", "--timeout", "1s")
		})
	}
}
