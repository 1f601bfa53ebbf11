package pebble_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
	"github.com/parley-im/parley/store/pebble"
)

// crashDirEnv makes the test binary act as the crashing child.
const crashDirEnv = "PARLEY_STORE_CRASH_CHILD_DIR"

// TestCrashKeepsAcknowledgedEntries re-executes the test binary as a child
// that enqueues from several goroutines and prints every seq Enqueue
// acknowledged; the parent SIGKILLs it mid-stream and checks that every
// printed entry is on disk after reopening.
func TestCrashKeepsAcknowledgedEntries(t *testing.T) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		crashChild(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashKeepsAcknowledgedEntries$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		dev     protocol.Address
		seq     uint64
		payload string
	}
	var acks []ack
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var a ack
		if _, err := fmt.Sscanf(sc.Text(), "ack %s %d %s", &a.dev.User, &a.seq, &a.payload); err != nil {
			continue // the test framework's own output
		}
		a.dev.Device = 1
		acks = append(acks, a)
		if len(acks) == 300 && !killed {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred code runs
				t.Fatalf("kill child: %v", err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acks before being killed: %v\n%s", len(acks), err, stderr.Bytes())
	}
	t.Logf("child acknowledged %d entries before SIGKILL", len(acks))

	s, err := pebble.Open(dir, pebble.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	stored := map[protocol.Address]map[uint64]string{}
	for _, a := range acks {
		if stored[a.dev] == nil {
			es, err := s.ReadQueue(ctx, a.dev, 0, pebble.MaxReadLimit)
			if err != nil {
				t.Fatalf("ReadQueue(%v): %v", a.dev, err)
			}
			stored[a.dev] = map[uint64]string{}
			for i, e := range es {
				if i > 0 && e.Seq <= es[i-1].Seq {
					t.Fatalf("%v: seq %d after %d", a.dev, e.Seq, es[i-1].Seq)
				}
				stored[a.dev][e.Seq] = string(e.Payload)
			}
		}
		if got, ok := stored[a.dev][a.seq]; !ok || got != a.payload {
			t.Fatalf("acknowledged entry %v/%d %q lost after crash (found %q, %v)", a.dev, a.seq, a.payload, got, ok)
		}
	}
	// The counters survived too: new entries continue above everything stored.
	for dev, seqs := range stored {
		e := &store.Entry{Device: dev, Payload: []byte("after crash")}
		if err := s.Enqueue(ctx, []*store.Entry{e}); err != nil {
			t.Fatalf("Enqueue after crash: %v", err)
		}
		for seq := range seqs {
			if e.Seq <= seq {
				t.Fatalf("%v: seq %d after crash, already stored %d", dev, e.Seq, seq)
			}
		}
	}
}

// crashChild enqueues until it is killed, printing "ack <user> <seq>
// <payload>" only after Enqueue returned.
func crashChild(dir string) {
	s, err := pebble.Open(dir, pebble.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	deadline := time.Now().Add(time.Minute) // never outlive a lost parent for long
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			user := fmt.Sprintf("user%d", w%4)
			dev := protocol.Address{User: user, Device: 1}
			for i := 0; time.Now().Before(deadline); i++ {
				es := make([]*store.Entry, 1+i%3)
				for j := range es {
					es[j] = &store.Entry{Device: dev, Payload: fmt.Appendf(nil, "%s/w%d/%d/%d", user, w, i, j)}
				}
				if err := s.Enqueue(context.Background(), es); err != nil {
					fmt.Fprintln(os.Stderr, "child enqueue:", err)
					os.Exit(2)
				}
				mu.Lock()
				for _, e := range es {
					fmt.Fprintf(os.Stdout, "ack %s %d %s\n", user, e.Seq, e.Payload)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	os.Exit(3)
}
