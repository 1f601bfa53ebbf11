package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// far is an expiry no test reaches.
var far = time.Now().Add(30 * 24 * time.Hour)

func entries(dev protocol.Address, n int, tag string) []*store.Entry {
	es := make([]*store.Entry, n)
	for i := range es {
		es[i] = &store.Entry{Device: dev, Payload: fmt.Appendf(nil, "%s %d", tag, i), Expires: far}
	}
	return es
}

func enqueue(t *testing.T, s store.Store, es []*store.Entry) []store.Entry {
	t.Helper()
	noErr(t, "Enqueue", s.Enqueue(context.Background(), es))
	return values(es)
}

func readAll(t *testing.T, s store.Store, dev protocol.Address) []store.Entry {
	t.Helper()
	got, err := s.ReadQueue(context.Background(), dev, 0, 1000)
	noErr(t, "ReadQueue", err)
	return got
}

func wantQueue(t *testing.T, s store.Store, dev protocol.Address, want []store.Entry) {
	t.Helper()
	if err := sameEntries(readAll(t, s, dev), want); err != nil {
		t.Fatalf("queue of %v: %v", dev, err)
	}
	n, err := s.QueueDepth(context.Background(), dev)
	noErr(t, "QueueDepth", err)
	if n != len(want) {
		t.Fatalf("QueueDepth(%v) = %d, want %d", dev, n, len(want))
	}
}

func testQueues(t *testing.T, fresh func(*testing.T) store.Store) {
	ctx := context.Background()
	bob := addr("bob", 1)

	t.Run("EnqueueAssignsIncreasingSeqs", func(t *testing.T) {
		s := fresh(t)
		var all []store.Entry
		for round := range 3 {
			got := enqueue(t, s, entries(bob, 3, fmt.Sprint("round", round)))
			all = append(all, got...)
		}
		for i, e := range all {
			if e.Seq == 0 || i > 0 && e.Seq <= all[i-1].Seq {
				t.Fatalf("seqs %v: not strictly increasing from 1", seqsOf(all))
			}
		}
		wantQueue(t, s, bob, all)
		noErr(t, "empty Enqueue", s.Enqueue(ctx, nil))
	})

	t.Run("ReadQueue", func(t *testing.T) {
		s := fresh(t)
		all := enqueue(t, s, entries(bob, 10, "m"))
		for _, tc := range []struct {
			name  string
			dev   protocol.Address
			after uint64
			limit int
			want  []store.Entry
		}{
			{"All", bob, 0, 100, all},
			{"Limit", bob, 0, 3, all[:3]},
			{"LimitOne", bob, 0, 1, all[:1]},
			{"After", bob, all[4].Seq, 100, all[5:]},
			{"AfterAndLimit", bob, all[4].Seq, 2, all[5:7]},
			{"AfterLast", bob, all[9].Seq, 100, nil},
			{"OtherDevice", addr("bob", 2), 0, 100, nil},
			{"OtherUser", addr("bobby", 1), 0, 100, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ReadQueue(ctx, tc.dev, tc.after, tc.limit)
				noErr(t, "ReadQueue", err)
				if err := sameEntries(got, tc.want); err != nil {
					t.Fatal(err)
				}
			})
		}
	})

	t.Run("ManyDevicesInOneEnqueue", func(t *testing.T) {
		s := fresh(t)
		devs := []protocol.Address{addr("bob", 1), addr("bob", 2), addr("carol", 1)}
		var es []*store.Entry
		for i := range 12 {
			d := devs[i%len(devs)]
			es = append(es, &store.Entry{Device: d, Payload: fmt.Appendf(nil, "%v #%d", d, i), Expires: far})
		}
		enqueue(t, s, es)
		for _, d := range devs {
			var want []store.Entry
			for _, e := range es {
				if e.Device == d {
					if len(want) > 0 && e.Seq <= want[len(want)-1].Seq {
						t.Fatalf("%v: seq %d after %d in one batch", d, e.Seq, want[len(want)-1].Seq)
					}
					want = append(want, *e)
				}
			}
			wantQueue(t, s, d, want)
		}
	})

	t.Run("Ack", func(t *testing.T) {
		s := fresh(t)
		all := enqueue(t, s, entries(bob, 5, "m"))
		other := enqueue(t, s, entries(addr("carol", 1), 2, "c"))
		got, err := s.Ack(ctx, bob, []uint64{all[3].Seq, all[1].Seq, all[4].Seq + 1000})
		noErr(t, "Ack", err)
		if err := sameEntries(sortedBySeq(got), []store.Entry{all[1], all[3]}); err != nil {
			t.Fatalf("Ack returned: %v", err)
		}
		got, err = s.Ack(ctx, bob, []uint64{all[1].Seq})
		noErr(t, "second Ack", err)
		if len(got) != 0 {
			t.Fatalf("second Ack of seq %d returned %v, want nothing", all[1].Seq, seqsOf(got))
		}
		got, err = s.Ack(ctx, bob, []uint64{all[0].Seq, all[0].Seq})
		noErr(t, "Ack of a repeated seq", err)
		if err := sameEntries(got, all[:1]); err != nil {
			t.Fatalf("Ack of a repeated seq: %v", err)
		}
		got, err = s.Ack(ctx, addr("carol", 1), []uint64{all[2].Seq + 5000})
		noErr(t, "Ack of unknown seq", err)
		if len(got) != 0 {
			t.Fatalf("Ack of unknown seq returned %v", seqsOf(got))
		}
		wantQueue(t, s, bob, []store.Entry{all[2], all[4]})
		wantQueue(t, s, addr("carol", 1), other) // acks are per device
	})

	t.Run("SeqNeverReusedAfterAck", func(t *testing.T) {
		s := fresh(t)
		all := enqueue(t, s, entries(bob, 3, "m"))
		_, err := s.Ack(ctx, bob, seqsOf(all))
		noErr(t, "Ack", err)
		wantQueue(t, s, bob, nil)
		next := enqueue(t, s, entries(bob, 1, "n"))
		if next[0].Seq <= all[2].Seq {
			t.Fatalf("seq %d reused after ack of %v", next[0].Seq, seqsOf(all))
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s := fresh(t)
		now := time.Now()
		es := []*store.Entry{
			{Device: bob, Payload: []byte("expired"), Expires: now.Add(-time.Hour)},
			{Device: bob, Payload: []byte("fresh"), Expires: now.Add(time.Hour)},
			{Device: bob, Payload: []byte("forever")},
			{Device: addr("carol", 1), Payload: []byte("carol expired"), Expires: now.Add(-2 * time.Hour)},
		}
		all := enqueue(t, s, es)
		wantQueue(t, s, bob, all[1:3])
		wantQueue(t, s, addr("carol", 1), nil)

		n, err := s.ExpireQueues(ctx, now)
		noErr(t, "ExpireQueues", err)
		if n != 2 {
			t.Fatalf("ExpireQueues(now) = %d, want 2", n)
		}
		got, err := s.Ack(ctx, bob, []uint64{all[0].Seq})
		noErr(t, "Ack of expired", err)
		if len(got) != 0 {
			t.Fatalf("Ack of a removed expired entry returned %v", seqsOf(got))
		}
		n, err = s.ExpireQueues(ctx, now)
		noErr(t, "ExpireQueues again", err)
		if n != 0 {
			t.Fatalf("second ExpireQueues(now) = %d, want 0", n)
		}
		n, err = s.ExpireQueues(ctx, now.Add(2*time.Hour))
		noErr(t, "ExpireQueues(later)", err)
		if n != 1 {
			t.Fatalf("ExpireQueues(now+2h) = %d, want 1", n)
		}
		wantQueue(t, s, bob, all[2:3])
		n, err = s.ExpireQueues(ctx, now.Add(100*365*24*time.Hour))
		noErr(t, "ExpireQueues(far future)", err)
		if n != 0 {
			t.Fatalf("ExpireQueues removed %d entries without expiry", n)
		}
		wantQueue(t, s, bob, all[2:3])
	})

	t.Run("ExpireMany", func(t *testing.T) {
		s := fresh(t)
		past := time.Now().Add(-time.Minute)
		var es []*store.Entry
		for i := range 2500 { // more than one expiry chunk in any sane implementation
			es = append(es, &store.Entry{Device: addr(fmt.Sprintf("user%d", i%7), 1), Payload: []byte{byte(i)}, Expires: past})
		}
		enqueue(t, s, es)
		n, err := s.ExpireQueues(ctx, time.Now())
		noErr(t, "ExpireQueues", err)
		if n != len(es) {
			t.Fatalf("ExpireQueues = %d, want %d", n, len(es))
		}
	})

	t.Run("ConcurrentEnqueueOrderedVisibility", func(t *testing.T) {
		s := fresh(t)
		const writers, perWriter = 50, 10
		var (
			mu       sync.Mutex
			assigned = map[uint64]string{} // seq → payload
			wg       sync.WaitGroup
			done     = make(chan struct{})
		)
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					es := entries(bob, 1+i%2, fmt.Sprintf("w%d/%d", w, i))
					if err := s.Enqueue(ctx, es); err != nil {
						t.Errorf("Enqueue: %v", err)
						return
					}
					mu.Lock()
					for _, e := range es {
						if prev, dup := assigned[e.Seq]; dup {
							t.Errorf("seq %d given to %q and %q", e.Seq, prev, e.Payload)
						}
						assigned[e.Seq] = string(e.Payload)
					}
					mu.Unlock()
				}
			})
		}
		// The reader polls like the delivery pump: always after the last seq
		// it saw. If seq N were ever visible before N-1, it would skip N-1.
		var seen []store.Entry
		readerErr := make(chan error, 1)
		go func() {
			var last uint64
			for finished := false; ; {
				select {
				case <-done:
					finished = true
				default:
				}
				got, err := s.ReadQueue(ctx, bob, last, 7)
				if err != nil {
					readerErr <- err
					return
				}
				seen = append(seen, got...)
				if len(got) > 0 {
					last = got[len(got)-1].Seq
				} else if finished {
					readerErr <- nil
					return
				}
			}
		}()
		wg.Wait()
		close(done)
		noErr(t, "reader", <-readerErr)

		if len(seen) != len(assigned) {
			t.Fatalf("reader saw %d entries, writers stored %d", len(seen), len(assigned))
		}
		for i, e := range seen {
			if i > 0 && e.Seq <= seen[i-1].Seq {
				t.Fatalf("reader saw seq %d after %d", e.Seq, seen[i-1].Seq)
			}
			if want, ok := assigned[e.Seq]; !ok || string(e.Payload) != want {
				t.Fatalf("reader saw seq %d = %q, writers stored %q (known: %v)", e.Seq, e.Payload, want, ok)
			}
		}
		n, err := s.QueueDepth(ctx, bob)
		noErr(t, "QueueDepth", err)
		if n != len(assigned) {
			t.Fatalf("QueueDepth = %d, want %d", n, len(assigned))
		}
	})

	t.Run("ConcurrentEnqueueAndAck", func(t *testing.T) {
		s := fresh(t)
		all := enqueue(t, s, entries(bob, 40, "m"))
		var wg sync.WaitGroup
		acked := make([][]store.Entry, 4)
		for i := range acked {
			wg.Go(func() {
				got, err := s.Ack(ctx, bob, seqsOf(all)) // everyone races for every seq
				if err != nil {
					t.Errorf("Ack: %v", err)
				}
				acked[i] = got
			})
			wg.Go(func() {
				if err := s.Enqueue(ctx, entries(addr("carol", 1), 5, "c")); err != nil {
					t.Errorf("Enqueue: %v", err)
				}
			})
		}
		wg.Wait()
		var union []store.Entry
		for _, a := range acked {
			union = append(union, a...)
		}
		if err := sameEntries(sortedBySeq(union), all); err != nil {
			t.Fatalf("concurrent Acks together returned: %v (each entry exactly once)", err)
		}
		wantQueue(t, s, bob, nil)
		n, err := s.QueueDepth(ctx, addr("carol", 1))
		noErr(t, "QueueDepth", err)
		if n != 20 {
			t.Fatalf("QueueDepth(carol) = %d, want 20", n)
		}
	})

	t.Run("DepthOfUnknownDevice", func(t *testing.T) {
		s := fresh(t)
		n, err := s.QueueDepth(ctx, addr("nobody", 1))
		noErr(t, "QueueDepth", err)
		if n != 0 {
			t.Fatalf("QueueDepth = %d, want 0", n)
		}
	})
}
