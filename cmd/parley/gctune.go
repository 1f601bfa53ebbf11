package main

import (
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/parley-im/parley/internal/procfs"
)

// Defaults of the node's collector settings (gc_percent, memory_limit_mb).
const (
	// defaultGCPercent lets the heap grow to 5× what is live before a
	// collection. A node's live heap is small (1.3 KB per idle
	// connection) while traffic allocates fast, so with Go's default of
	// 100 the collector was 13 % of the node's CPU at 45,000 msgs/s;
	// at 400, node CPU per message fell 31–34 → 26.4 µs
	// (docs/benchmarks.md). Idle memory is unaffected: parked
	// connections trigger a collection and return pages to the OS.
	defaultGCPercent = 400
	// defaultMemoryShare is the part of physical memory the Go heap may
	// take before the collector works harder than gc_percent says, so a
	// high gc_percent cannot run the machine out of memory.
	defaultMemoryShare = 2 // half
)

// tuneCollector applies gc_percent and memory_limit_mb to this process.
// GOGC and GOMEMLIMIT in the environment win, as Go documents them.
// memLimitMB: 0 means half of physical memory, negative means none.
func tuneCollector(gcPercent, memLimitMB int, getenv func(string) string, log *slog.Logger) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
		log.Debug("collector", "gc_percent", gcPercent)
	}
	if getenv("GOMEMLIMIT") != "" || memLimitMB < 0 {
		return
	}
	limit := int64(memLimitMB) << 20
	if memLimitMB == 0 {
		total, err := physicalMemory("/proc/meminfo")
		if err != nil {
			log.Warn("no default memory limit for the collector", "err", err)
			return
		}
		limit = total / defaultMemoryShare
	}
	debug.SetMemoryLimit(limit)
	log.Debug("collector", "memory_limit_bytes", limit)
}

// physicalMemory reads MemTotal from a /proc/meminfo-format file.
func physicalMemory(path string) (int64, error) {
	fields, err := procfs.ReadFields(path)
	if err != nil {
		return 0, fmt.Errorf("read physical memory: %w", err)
	}
	f, ok := fields["MemTotal"]
	switch {
	case !ok:
		return 0, fmt.Errorf("%s: no MemTotal line", path)
	case f.Unit != "kB" || f.Value <= 0:
		return 0, fmt.Errorf("%s: bad MemTotal %d %s", path, f.Value, f.Unit)
	}
	return f.Value << 10, nil
}
