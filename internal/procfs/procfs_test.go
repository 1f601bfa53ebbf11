package procfs

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestReadFields(t *testing.T) {
	p := filepath.Join(t.TempDir(), "status")
	text := "Name:\tparley\nThreads:\t11\nVmRSS:\t  120568 kB\nbroken line\nMemTotal: x kB\n"
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFields(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Field{"Threads": {11, ""}, "VmRSS": {120568, "kB"}}
	if len(got) != len(want) {
		t.Fatalf("ReadFields = %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %+v, want %+v", k, got[k], w)
		}
	}
	if _, err := ReadFields(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("a missing file read without error")
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name string
		stat string
		want time.Duration
		ok   bool
	}{
		{"plain", "4242 (parley) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0", 3250 * time.Millisecond, true},
		{"name with spaces and parens", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0", 30 * time.Millisecond, true},
		{"no name", "7 a R 1", 0, false},
		{"too short", "7 (x) R 1 2 3", 0, false},
		{"not a number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 u s 0 0 20 0 1 0", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("parseStatCPU = %v, %v; want %v (ok %v)", got, err, tt.want, tt.ok)
			}
		})
	}
}

// TestProcessCPUOfSelf: spinning makes the process's CPU time go up (it
// counts in 10 ms ticks), so the right fields are read.
func TestProcessCPUOfSelf(t *testing.T) {
	before, err := ProcessCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		for i := 0; i < 1e6; i++ {
			_ = i * i
		}
		now, err := ProcessCPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now > before {
			return
		}
	}
	t.Fatal("5 s of spinning did not move the process's CPU time")
}

func TestParseSchedstat(t *testing.T) {
	tests := []struct {
		name string
		line string
		want time.Duration
		ok   bool
	}{
		{"on cpu, waiting, slices", "1234567 89000 42\n", 89 * time.Microsecond, true},
		{"one field", "1234567\n", 0, false},
		{"not a number", "1234567 x 42\n", 0, false},
		{"negative", "1 -5 1\n", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSchedstat([]byte(tt.line))
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("parseSchedstat = %v, %v; want %v (ok %v)", got, err, tt.want, tt.ok)
			}
		})
	}
}

// TestProcessRunDelayOfSelf: more spinning threads than CPUs must wait for
// one, and that wait shows up.
func TestProcessRunDelayOfSelf(t *testing.T) {
	before, err := ProcessRunDelay(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	n := runtime.NumCPU() + 2
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
				}
			}()
		}
		wg.Wait()
		now, err := ProcessRunDelay(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now-before >= 10*time.Millisecond {
			return
		}
	}
	t.Fatalf("%d threads spinning on %d CPUs for 5 s waited less than 10 ms for a CPU", n, runtime.NumCPU())
}
