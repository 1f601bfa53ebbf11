package endtoend_test

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestOfflineQueueOrderAndTTL: an offline device's queue keeps many
// messages in order until it connects, and a message that waited longer
// than --queue-ttl is never delivered.
func TestOfflineQueueOrderAndTTL(t *testing.T) {
	t.Parallel()
	t.Run("order", func(t *testing.T) {
		t.Parallel()
		count := 200
		if testing.Short() {
			count = 60
		}
		n := startNode(t, filepath.Join(t.TempDir(), "data"))
		alice, bob := newDevice(t, n.tcp), newDevice(t, n.tcp)
		alice.register(t, "alice")
		bob.register(t, "bob")

		// One `chat` session types every line: one process, count sends,
		// each returning at its first tick.
		want := make([]string, count)
		var input strings.Builder
		for i := range want {
			want[i] = fmt.Sprintf("queued-%03d", i)
			input.WriteString(want[i] + "\n")
		}
		input.WriteString("/quit\n")
		r := alice.start(t, strings.NewReader(input.String()), "chat", "bob").wait()
		if r.code != 0 {
			t.Fatalf("chat: %s", r)
		}
		if ticks := strings.Count(r.stdout, "✓ sent"); ticks != count {
			t.Fatalf("chat showed %d first ticks for %d messages:\n%s", ticks, count, r)
		}

		r = bob.must(t, "recv", "--json")
		msgs, _ := messagesOf(t, r)
		if got := texts(msgs); !slices.Equal(got, want) {
			t.Errorf("bob received %d messages, want %d in order; first difference at %d\n got %q\nwant %q",
				len(got), len(want), firstDiff(got, want), got[:min(len(got), 5)], want[:5])
		}
	})
	t.Run("ttl", func(t *testing.T) {
		t.Parallel()
		// Long enough that a fresh message reliably reaches bob within it
		// on a loaded machine, short enough to wait out.
		const ttl = 6 * time.Second
		n := startNode(t, filepath.Join(t.TempDir(), "data"), "--queue-ttl", ttl.String())
		alice, bob := newDevice(t, n.tcp), newDevice(t, n.tcp)
		alice.register(t, "alice")
		bob.register(t, "bob")

		alice.sendOK(t, "bob", "stale")
		acked := time.Now() // the node set the entry's expiry before this
		// Waiting for the clock is the point of this test: no event says
		// "an entry expired" (expiry only shows as absence).
		time.Sleep(time.Until(acked.Add(ttl + 500*time.Millisecond)))

		alice.sendOK(t, "bob", "fresh")
		r := bob.must(t, "recv", "--json")
		if got := receivedTexts(t, r); !slices.Equal(got, []string{"fresh"}) {
			t.Errorf("with --queue-ttl %s: want only [fresh] after the stale message expired, got %q", ttl, got)
		}
	})
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
