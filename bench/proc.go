package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-im/parley/internal/procfs"
)

// ProcSample is one reading of a process and of the kernel.
type ProcSample struct {
	At        time.Time
	RSS       int64 // bytes, VmRSS
	CPU       time.Duration
	RunDelay  time.Duration // threads' time waiting for a CPU; -1 unknown
	Threads   int
	Slab      int64 // bytes, system-wide
	SUnreclm  int64 // bytes, system-wide SUnreclaim
	MemTotal  int64 // bytes
	TCPInUse  int64 // sockets, /proc/net/sockstat
	TCPMemPgs int64 // pages of TCP buffer memory
}

// sampleProc reads pid's memory and CPU plus the kernel's slab and socket
// figures. pid 0 reads only the kernel.
func sampleProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now(), RunDelay: -1}
	if pid > 0 {
		st, err := readKV(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			return s, err
		}
		s.RSS = st["VmRSS"] * 1024
		s.Threads = int(st["Threads"])
		cpu, err := procCPU(pid)
		if err != nil {
			return s, err
		}
		s.CPU = cpu
		s.RunDelay = runDelay(pid)
	}
	mi, err := readKV("/proc/meminfo")
	if err != nil {
		return s, err
	}
	s.Slab, s.SUnreclm, s.MemTotal = mi["Slab"]*1024, mi["SUnreclaim"]*1024, mi["MemTotal"]*1024
	if b, err := os.ReadFile("/proc/net/sockstat"); err == nil {
		s.TCPInUse, s.TCPMemPgs = parseSockstat(b)
	}
	return s, nil
}

// readKV reads a /proc "Key:   123 kB" file (status, meminfo); values
// keep their unit (kB for sizes).
func readKV(path string) (map[string]int64, error) {
	fields, err := procfs.ReadFields(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	out := make(map[string]int64, len(fields))
	for k, f := range fields {
		out[k] = f.Value
	}
	return out, nil
}

// runDelay is how long pid's threads have waited for a CPU, -1 when the
// kernel does not say (no schedstats).
func runDelay(pid int) time.Duration {
	d, err := procfs.ProcessRunDelay(pid)
	if err != nil {
		return -1
	}
	return d
}

// waitBetween is the wait between two runDelay readings; false when either
// is unknown or a thread ended in between and took its share along
// (procfs.ProcessRunDelay), which could make it negative.
func waitBetween(before, after time.Duration) (time.Duration, bool) {
	if before < 0 || after < before {
		return 0, false
	}
	return after - before, true
}

// procCPU is utime+stime of pid.
func procCPU(pid int) (time.Duration, error) { return procfs.ProcessCPU(pid) }

// parseSockstat returns "TCP: inuse N … mem M".
func parseSockstat(b []byte) (inuse, mem int64) {
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		for i := 1; i+1 < len(f); i += 2 {
			n, _ := strconv.ParseInt(f[i+1], 10, 64)
			switch f[i] {
			case "inuse":
				inuse = n
			case "mem":
				mem = n
			}
		}
	}
	return inuse, mem
}

// selfRSS is this process's VmRSS in bytes (0 if unreadable).
func selfRSS() int64 {
	st, err := readKV("/proc/self/status")
	if err != nil {
		return 0
	}
	return st["VmRSS"] * 1024
}

// selfCPU is this process's user+system CPU time (getrusage, microsecond
// resolution), so the bench can report what its own side of a handshake
// costs next to the node's.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
