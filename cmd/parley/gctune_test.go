package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
)

func TestPhysicalMemory(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       int64
		ok         bool
	}{
		{"meminfo", "MemTotal:       24683656 kB\nMemFree:        22000000 kB\n", 24683656 << 10, true},
		{"not first", "Foo: 1 kB\nMemTotal: 2048 kB\n", 2 << 20, true},
		{"missing", "MemFree: 1 kB\n", 0, false},
		{"bad number", "MemTotal: x kB\n", 0, false},
		{"zero", "MemTotal: 0 kB\n", 0, false},
		{"other unit", "MemTotal: 5 MB\n", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "meminfo")
			if err := os.WriteFile(p, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := physicalMemory(p)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("physicalMemory = %d, %v; want %d (ok %v)", got, err, tc.want, tc.ok)
			}
		})
	}
}

// TestTuneCollector: the settings apply, and GOGC / GOMEMLIMIT in the
// environment win over them.
func TestTuneCollector(t *testing.T) {
	oldPercent := debug.SetGCPercent(100)
	oldLimit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	})
	log := slog.New(slog.DiscardHandler)
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	tuneCollector(300, 512, env(nil), log)
	if got := debug.SetGCPercent(100); got != 300 {
		t.Errorf("gc percent %d, want 300", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 512<<20 {
		t.Errorf("memory limit %d, want %d", got, 512<<20)
	}

	debug.SetMemoryLimit(1 << 40)
	tuneCollector(300, 512, env(map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}), log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("gc percent %d with GOGC set: the setting overrode the environment", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Errorf("memory limit %d with GOMEMLIMIT set: the setting overrode the environment", got)
	}

	if _, err := physicalMemory("/proc/meminfo"); err == nil {
		tuneCollector(400, 0, env(nil), log)
		total, _ := physicalMemory("/proc/meminfo")
		if got := debug.SetMemoryLimit(-1); got != total/2 {
			t.Errorf("default memory limit %d, want half of %d", got, total)
		}
	}
}
