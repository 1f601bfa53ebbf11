package pebble

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

func openTest(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// blockFirstCommit holds the committer in its first batch until release is
// closed, and reports how many requests that batch carries.
func blockFirstCommit(s *Store) (release chan struct{}, firstGroup *atomic.Int64) {
	release = make(chan struct{})
	firstGroup = new(atomic.Int64)
	var once sync.Once
	s.testHookBeforeCommit = func(n int) {
		once.Do(func() {
			firstGroup.Store(int64(n))
			<-release
		})
	}
	return release, firstGroup
}

// waitQueued waits until the first batch plus the requests queued behind it
// account for n callers: then every caller is committed or waiting.
func waitQueued(t *testing.T, s *Store, firstGroup *atomic.Int64, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for int(firstGroup.Load())+len(s.reqs) < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d+%d of %d requests reached the committer", firstGroup.Load(), len(s.reqs), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestGroupCommitSharesSyncs(t *testing.T) {
	s := openTest(t, t.TempDir())
	release, firstGroup := blockFirstCommit(s)
	const callers = 64
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			e := &store.Entry{Device: protocol.Address{User: "bob", Device: uint32(1 + i%3)}, Payload: fmt.Appendf(nil, "m%d", i)}
			errs[i] = s.Enqueue(context.Background(), []*store.Entry{e})
		})
	}
	waitQueued(t, s, firstGroup, callers)
	close(release)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	st := s.Stats()
	t.Logf("stats: %+v (%.1f entries per sync)", st, st.EntriesPerSync())
	// One sync for the first batch, one for everyone who queued behind it;
	// one in all when the first batch gathered them all, or when the syncer
	// took both batches before its first sync. Never one per caller.
	maxSyncs := uint64(2)
	if firstGroup.Load() == callers {
		maxSyncs = 1
	}
	if st.Syncs < 1 || st.Syncs > maxSyncs || st.Entries != callers || st.Requests != callers {
		t.Fatalf("%d callers took %d syncs for %d entries in %d requests (first batch %d); want 1 to %d syncs", callers, st.Syncs, st.Entries, st.Requests, firstGroup.Load(), maxSyncs)
	}
}

func TestCloseAnswersQueuedCallersWithErrClosed(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	release, firstGroup := blockFirstCommit(s)
	bob := protocol.Address{User: "bob", Device: 1}
	const callers = 10
	var wg sync.WaitGroup
	es := make([]*store.Entry, callers)
	errs := make([]error, callers)
	for i := range callers {
		es[i] = &store.Entry{Device: bob, Payload: fmt.Appendf(nil, "m%d", i)}
		wg.Go(func() { errs[i] = s.Enqueue(context.Background(), es[i:i+1]) })
	}
	waitQueued(t, s, firstGroup, callers)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	// Close must not finish while a batch is in flight, nor hang after it.
	for !s.closedForTest() {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	var committed []store.Entry
	for i, err := range errs {
		switch {
		case err == nil:
			committed = append(committed, *es[i])
		case !errors.Is(err, store.ErrClosed):
			t.Fatalf("caller %d: %v, want nil or ErrClosed", i, err)
		}
	}
	if len(committed) != int(firstGroup.Load()) {
		t.Fatalf("%d callers succeeded, want the %d of the batch in flight", len(committed), firstGroup.Load())
	}
	s2 := openTest(t, dir)
	got, err := s2.ReadQueue(context.Background(), bob, 0, 100)
	if err != nil {
		t.Fatalf("ReadQueue: %v", err)
	}
	if len(got) != len(committed) {
		t.Fatalf("after reopen %d entries, want the %d acknowledged", len(got), len(committed))
	}
}

func TestEnqueueRejectsBadEntries(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MaxPayload: 16})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bob := protocol.Address{User: "bob", Device: 1}
	for _, tc := range []struct {
		name string
		e    *store.Entry
		want error
	}{
		{"Nil", nil, ErrInvalid},
		{"NoUser", &store.Entry{Device: protocol.Address{Device: 1}}, ErrInvalid},
		{"Device0", &store.Entry{Device: protocol.Address{User: "bob"}}, ErrInvalid},
		{"TooLarge", &store.Entry{Device: bob, Payload: make([]byte, 17)}, ErrTooLarge},
		{"ExpiryOutOfRange", &store.Entry{Device: bob, Expires: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok := &store.Entry{Device: bob, Payload: []byte("fine")}
			err := s.Enqueue(context.Background(), []*store.Entry{ok, tc.e})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Enqueue: %v, want %v", err, tc.want)
			}
			if n, _ := s.QueueDepth(context.Background(), bob); n != 0 {
				t.Fatalf("a refused Enqueue stored %d entries", n)
			}
		})
	}
	if _, err := s.ReadQueue(context.Background(), bob, 0, 0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ReadQueue(limit 0): %v, want ErrInvalid", err)
	}
}

func TestEnqueueHonoursCancelledContext(t *testing.T) {
	s := openTest(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	bob := protocol.Address{User: "bob", Device: 1}
	err := s.Enqueue(ctx, []*store.Entry{{Device: bob, Payload: []byte("x")}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Enqueue with cancelled ctx: %v", err)
	}
	if n, _ := s.QueueDepth(context.Background(), bob); n != 0 {
		t.Fatalf("cancelled Enqueue stored %d entries", n)
	}
}

// TestMinSyncIntervalGathers: Enqueues that arrive within MinSyncInterval
// of a sync wait for the interval and then share one sync, instead of
// taking one each as they come.
func TestMinSyncIntervalGathers(t *testing.T) {
	s, err := Open(t.TempDir(), Options{MinSyncInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	bob := protocol.Address{User: "bob", Device: 1}
	enqueue := func() error { return s.Enqueue(ctx, []*store.Entry{{Device: bob, Payload: []byte("m")}}) }
	if err := enqueue(); err != nil { // the first sync: nothing to wait for
		t.Fatal(err)
	}
	before := s.Stats().Syncs
	const callers = 10
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { errs[i] = enqueue() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Each caller waits for its own commit, so one by one they would
	// take one sync each; within the interval they share.
	if got := s.Stats().Syncs - before; got != 1 {
		t.Fatalf("%d callers within the interval took %d syncs, want 1", callers, got)
	}
}
