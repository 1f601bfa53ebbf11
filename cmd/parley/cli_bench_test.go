package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/parley-im/parley/transport"
)

// asParleyEnv makes the test binary behave as the parley binary, so that
// `bench --spawn-node`, which re-executes os.Executable() as
// `parley bench node`, works under go test.
const asParleyEnv = "PARLEY_TEST_AS_PARLEY"

func TestMain(m *testing.M) {
	if os.Getenv(asParleyEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestBenchCLI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "sweep.jsonl")
	sweep := `{"scenario":"msgs","offered_msgs_per_s":1000,"delivered_msgs_per_s":999,"latency_p50_ms":1,"latency_p99_ms":3}
{"scenario":"msgs","offered_msgs_per_s":"max","delivered_msgs_per_s":5000,"latency_p50_ms":50,"latency_p99_ms":90}
`
	if err := os.WriteFile(in, []byte(sweep), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := transport.GenerateStaticKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key := k.Public().String()
	svg := filepath.Join(dir, "out.svg")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"group of one", []string{"bench", "group", "--server-key", key, "--size", "1"}, 2},
		{"group bad rate", []string{"bench", "group", "--server-key", key, "--rate", "fast"}, 1},
		{"unknown scenario", []string{"bench", "nope"}, 2},
		{"no scenario", []string{"bench"}, 2},
		{"bad server key", []string{"bench", "msgs", "--server-key", "x"}, 1},
		{"node env without a spawned node", []string{"bench", "msgs", "--server-key", key, "--node-env", "GOMAXPROCS=4"}, 2},
		{"node env not KEY=VALUE", []string{"bench", "msgs", "--spawn-node", "--node-env", "GOMAXPROCS"}, 1},
		{"no node key", []string{"bench", "conns", "--server", "127.0.0.1:1"}, 1},
		{"plot", []string{"bench", "plot", "--in", in, "--out", svg}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := parley(t, tc.args...); code != tc.code {
				t.Fatalf("parley %v = %d, want %d; stdout %q", tc.args, code, tc.code, out)
			}
		})
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.HasPrefix(string(b), "<svg") || !strings.Contains(string(b), "<circle") {
		t.Fatalf("plot wrote %d bytes (%v): want an SVG with points", len(b), err)
	}
}

// TestBenchGroupCLI runs `parley bench group` against a node it spawns
// (this test binary, as parley) and checks the JSON line it ends with.
func TestBenchGroupCLI(t *testing.T) {
	t.Setenv(asParleyEnv, "1") // inherited by the spawned node
	code, out := parley(t, "bench", "group", "--spawn-node", "--size", "6", "--senders", "2", "--messages", "10", "--timeout", "60s")
	if code != 0 {
		t.Fatalf("parley bench group = %d; stdout %q", code, out)
	}
	m := lastJSON(t, out)
	want := map[string]any{
		"scenario": "group", "size": 6.0, "sent": 20.0, "fanout_expected": 100.0, "delivered": 100.0,
		"missing": 0.0, "duplicates": 0.0, "exactly_once": true,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for _, k := range []string{"group_sends_per_s", "delivered_msgs_per_s", "fanout_latency_p99_ms", "last_member_latency_p99_ms", "first_tick_p99_ms"} {
		if v, ok := m[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v, want > 0", k, m[k])
		}
	}
	// How short of CPU node and bench were: /proc and the node's /metrics
	// are both there for a spawned node.
	for _, k := range []string{"node_cpu_wait_pct", "bench_cpu_wait_pct", "node_sched_latency_p99_ms"} {
		if v, ok := m[k].(float64); !ok || v < 0 {
			t.Errorf("%s = %v, want a figure >= 0", k, m[k])
		}
	}
	// The node's CPU comes from /proc in 10 ms clock ticks, and 20 small
	// group sends may cost the node less than one: present, not negative.
	for _, k := range []string{"node_cpu_us_per_delivery", "node_cpu_us_per_group_send"} {
		if v, ok := m[k].(float64); !ok || v < 0 {
			t.Errorf("%s = %v, want a figure >= 0", k, m[k])
		}
	}
}

// TestBenchNodeEnvCLI: --node-env reaches the spawned node, and the result
// says which GOMAXPROCS the node ran with.
func TestBenchNodeEnvCLI(t *testing.T) {
	t.Setenv(asParleyEnv, "1") // inherited by the spawned node
	want := runtime.GOMAXPROCS(0) + 1
	code, out := parley(t, "bench", "msgs", "--spawn-node", "--node-env", fmt.Sprintf("GOMAXPROCS=%d", want),
		"--pairs", "2", "--rate", "200", "--duration", "1s")
	if code != 0 {
		t.Fatalf("parley bench msgs = %d; stdout %q", code, out)
	}
	m := lastJSON(t, out)
	if m["node_gomaxprocs"] != float64(want) {
		t.Errorf("node_gomaxprocs = %v, want %d from --node-env", m["node_gomaxprocs"], want)
	}
	if m["exactly_once"] != true {
		t.Errorf("exactly_once = %v", m["exactly_once"])
	}
}

// lastJSON decodes the JSON object a bench scenario prints as its last line.
func lastJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	return m
}
