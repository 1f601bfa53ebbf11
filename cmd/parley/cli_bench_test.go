package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchCLI(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "sweep.jsonl")
	sweep := `{"scenario":"msgs","offered_msgs_per_s":1000,"delivered_msgs_per_s":999,"latency_p50_ms":1,"latency_p99_ms":3}
{"scenario":"msgs","offered_msgs_per_s":"max","delivered_msgs_per_s":5000,"latency_p50_ms":50,"latency_p99_ms":90}
`
	if err := os.WriteFile(in, []byte(sweep), 0o600); err != nil {
		t.Fatal(err)
	}
	svg := filepath.Join(dir, "out.svg")
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"group is not available yet", []string{"bench", "group", "--size", "10"}, 2},
		{"unknown scenario", []string{"bench", "nope"}, 2},
		{"no scenario", []string{"bench"}, 2},
		{"bad server key", []string{"bench", "msgs", "--server-key", "x"}, 1},
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
