// Package procfs reads the "Key:   value unit" files of Linux's /proc
// (meminfo, PID/status). It owns that parsing and nothing else, and
// imports only the standard library, so the node (its collector settings)
// and the load generator (its memory figures) read those files one way.
package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
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
