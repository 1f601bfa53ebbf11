// Package procfs reads the "Key:   value unit" files of Linux's /proc
// (meminfo, PID/status), a process's CPU time from PID/stat and its
// threads' time waiting for a CPU from PID/task/*/schedstat. It owns that
// parsing and nothing else, and imports only the standard library, so the
// node (its collector settings) and the load generator (its memory and CPU
// figures) read those files one way.
package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Field is one line's number and the unit after it ("kB", or "" for
// counts such as Threads).
type Field struct {
	Value int64
	Unit  string
}

// ReadFields parses path's "Key: value [unit]" lines. Lines without a
// colon or whose first word is not a whole number are skipped.
func ReadFields(path string) (map[string]Field, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("procfs: %w", err)
	}
	out := make(map[string]Field)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		fd := Field{Value: n}
		if len(f) > 1 {
			fd.Unit = f[1]
		}
		out[k] = fd
	}
	return out, nil
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports;
// /proc/PID/stat counts CPU time in it.
const clockTicks = 100

// ProcessCPU is the user+system CPU time pid has used (fields 14 and 15 of
// /proc/PID/stat).
func ProcessCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("procfs: %w", err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime from a /proc/PID/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("procfs: stat: no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14 → f[11].
	if len(f) < 13 {
		return 0, fmt.Errorf("procfs: stat: %d fields", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil || u < 0 || s < 0 {
		return 0, fmt.Errorf("procfs: stat: bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// ProcessRunDelay is how long pid's threads have been ready to run while
// waiting for a CPU: the second field of every /proc/PID/task/TID/schedstat,
// summed. A thread that exits takes its share along, so between two
// readings the difference can fall short; Go programs rarely end threads.
func ProcessRunDelay(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("procfs: %w", err)
	}
	var sum time.Duration
	read := 0
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended between the listing and the read
		}
		d, err := parseSchedstat(b)
		if err != nil {
			return 0, err
		}
		sum += d
		read++
	}
	if read == 0 {
		return 0, fmt.Errorf("procfs: no schedstat under %s (kernel without CONFIG_SCHEDSTATS?)", dir)
	}
	return sum, nil
}

// parseSchedstat reads the run-queue wait from a schedstat line: "time on
// CPU, time waiting to run (both ns), timeslices".
func parseSchedstat(b []byte) (time.Duration, error) {
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("procfs: schedstat: %d fields", len(f))
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || ns < 0 {
		return 0, fmt.Errorf("procfs: schedstat: bad wait %q", f[1])
	}
	return time.Duration(ns), nil
}
