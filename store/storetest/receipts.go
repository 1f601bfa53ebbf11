package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// receiptsTo returns a makeReceipts callback that builds one entry for to
// per deleted entry (payload "r:" + the deleted payload) and records what it
// was given.
func receiptsTo(to protocol.Address, seen *[]store.Entry) func(context.Context, []store.Entry) []*store.Entry {
	return func(_ context.Context, deleted []store.Entry) []*store.Entry {
		*seen = append((*seen)[:0], deleted...)
		var out []*store.Entry
		for _, d := range deleted {
			out = append(out, &store.Entry{Device: to, Payload: append([]byte("r:"), d.Payload...), Expires: far})
		}
		return out
	}
}

func testPipelined(t *testing.T, fresh func(*testing.T) store.Store) {
	ctx := context.Background()
	bob, alice := addr("bob", 1), addr("alice", 1)

	t.Run("EnqueueAsyncKeepsCallOrder", func(t *testing.T) {
		s := fresh(t)
		var ps []store.Pending
		var all [][]*store.Entry
		for i := range 50 {
			es := entries(bob, 2, fmt.Sprint("batch", i))
			all = append(all, es)
			ps = append(ps, s.EnqueueAsync(ctx, es, nil))
		}
		var want []store.Entry
		for i := len(ps) - 1; i >= 0; i-- { // waiting order must not matter
			noErr(t, "Wait", ps[i].Wait())
			select {
			case <-ps[i].Done():
			default:
				t.Fatalf("Done not closed after Wait")
			}
		}
		for _, es := range all {
			want = append(want, values(es)...)
		}
		for i := 1; i < len(want); i++ {
			if want[i].Seq <= want[i-1].Seq {
				t.Fatalf("seqs %v do not follow call order", seqsOf(want))
			}
		}
		wantQueue(t, s, bob, want)
		noErr(t, "empty EnqueueAsync", s.EnqueueAsync(ctx, nil, nil).Wait())
	})

	t.Run("EnqueueAsyncRefusesBadInput", func(t *testing.T) {
		s := fresh(t)
		called := false
		p := s.EnqueueAsync(ctx, []*store.Entry{nil}, func([]*store.Entry) { called = true })
		<-p.Done()
		if p.Wait() == nil {
			t.Fatal("EnqueueAsync of a nil entry succeeded")
		}
		if called {
			t.Fatal("onVisible called for a refused batch")
		}
		wantQueue(t, s, bob, nil)
	})

	// onVisible is what lets a node deliver while the disk syncs: it must
	// come once per batch, in seq order, with the Seqs set, while the
	// batch is readable, and never after Done.
	t.Run("EnqueueAsyncVisibleBeforeDone", func(t *testing.T) {
		s := fresh(t)
		type seen struct {
			seqs     []uint64
			wasDone  bool
			readable bool
		}
		var ps []store.Pending
		var all [][]*store.Entry
		got := make(chan seen, 100)
		for i := range 20 {
			es := entries(bob, 3, fmt.Sprint("v", i))
			all = append(all, es)
			var p store.Pending
			ready := make(chan struct{})
			p = s.EnqueueAsync(ctx, es, func(vis []*store.Entry) {
				<-ready // p is assigned
				v := seen{seqs: seqsOf(values(vis))}
				select {
				case <-p.Done():
					v.wasDone = true
				default:
				}
				got <- v
			})
			close(ready)
			ps = append(ps, p)
		}
		for _, p := range ps {
			noErr(t, "Wait", p.Wait())
		}
		close(got)
		var order []uint64
		n := 0
		for v := range got {
			n++
			if v.wasDone {
				t.Errorf("onVisible of seqs %v ran after Done", v.seqs)
			}
			order = append(order, v.seqs...)
		}
		if n != len(all) {
			t.Fatalf("onVisible called %d times for %d batches", n, len(all))
		}
		var want []uint64
		for _, es := range all {
			want = append(want, seqsOf(values(es))...)
		}
		if fmt.Sprint(order) != fmt.Sprint(want) {
			t.Fatalf("onVisible saw seqs %v, Wait set %v", order, want)
		}
	})

	t.Run("EnqueueAsyncReadableAtVisible", func(t *testing.T) {
		s := fresh(t)
		visible := make(chan []store.Entry, 1)
		es := entries(bob, 2, "r")
		p := s.EnqueueAsync(ctx, es, func(vis []*store.Entry) { visible <- values(vis) })
		want := <-visible
		// Read from another goroutine than the store's: onVisible must not
		// call the store itself.
		got, err := s.ReadQueue(ctx, bob, 0, 10)
		noErr(t, "ReadQueue", err)
		if err := sameEntries(got, want); err != nil {
			t.Fatalf("ReadQueue after onVisible: %v", err)
		}
		noErr(t, "Wait", p.Wait())
	})

	t.Run("AckAndEnqueue", func(t *testing.T) {
		s := fresh(t)
		all := enqueue(t, s, entries(bob, 4, "m"))
		var seen []store.Entry
		got, err := s.AckAndEnqueue(ctx, bob, []uint64{all[2].Seq, all[0].Seq, all[3].Seq + 99}, receiptsTo(alice, &seen))
		noErr(t, "AckAndEnqueue", err)
		want := []store.Entry{all[0], all[2]}
		if err := sameEntries(got, want); err != nil {
			t.Fatalf("AckAndEnqueue returned: %v", err)
		}
		if err := sameEntries(seen, want); err != nil {
			t.Fatalf("makeReceipts was given: %v", err)
		}
		wantQueue(t, s, bob, []store.Entry{all[1], all[3]})
		receipts := readAll(t, s, alice)
		if len(receipts) != 2 || string(receipts[0].Payload) != "r:m 0" || string(receipts[1].Payload) != "r:m 2" {
			t.Fatalf("receipts queued: %+v", receipts)
		}

		// Acknowledging the same entries again deletes nothing and so
		// makes no receipt: receipts are sent exactly once.
		got, err = s.AckAndEnqueue(ctx, bob, []uint64{all[0].Seq, all[2].Seq}, receiptsTo(alice, &seen))
		noErr(t, "second AckAndEnqueue", err)
		if len(got) != 0 || len(seen) != 0 {
			t.Fatalf("second AckAndEnqueue deleted %v, callback saw %v", seqsOf(got), seqsOf(seen))
		}
		if n := len(readAll(t, s, alice)); n != 2 {
			t.Fatalf("alice has %d receipts after a repeated ack, want 2", n)
		}

		// A pure deletion (no receipts) is visible at once.
		got, err = s.AckAndEnqueue(ctx, alice, seqsOf(receipts), func(context.Context, []store.Entry) []*store.Entry { return nil })
		noErr(t, "AckAndEnqueue without receipts", err)
		if len(got) != 2 {
			t.Fatalf("deleted %v, want both receipts", seqsOf(got))
		}
		wantQueue(t, s, alice, nil)
	})

	t.Run("AckAndEnqueueAssignsReceiptSeqs", func(t *testing.T) {
		s := fresh(t)
		before := enqueue(t, s, entries(alice, 1, "a"))
		all := enqueue(t, s, entries(bob, 1, "m"))
		var made []*store.Entry
		_, err := s.AckAndEnqueue(ctx, bob, seqsOf(all), func(_ context.Context, d []store.Entry) []*store.Entry {
			made = []*store.Entry{{Device: alice, Payload: []byte("r"), Expires: far}}
			return made
		})
		noErr(t, "AckAndEnqueue", err)
		if made[0].Seq <= before[0].Seq {
			t.Fatalf("receipt seq %d, want above %d", made[0].Seq, before[0].Seq)
		}
		wantQueue(t, s, alice, append(before, *made[0]))
	})

	t.Run("AckAndEnqueueCallbackReadsTheStore", func(t *testing.T) {
		s := fresh(t)
		sender := register(t, s, "alice")
		all := enqueue(t, s, entries(bob, 1, "m"))
		_, err := s.AckAndEnqueue(ctx, bob, seqsOf(all), func(rctx context.Context, d []store.Entry) []*store.Entry {
			devs, err := s.Devices(rctx, "alice")
			if err != nil || len(devs) != 1 {
				t.Errorf("Devices inside makeReceipts: %v, %v", devs, err)
				return nil
			}
			return []*store.Entry{{Device: devs[0].Address, Payload: []byte("r"), Expires: far}}
		})
		noErr(t, "AckAndEnqueue", err)
		if n := len(readAll(t, s, sender.Address)); n != 1 {
			t.Fatalf("sender has %d receipts, want 1", n)
		}
	})

	t.Run("AckAndEnqueueBadReceiptChangesNothing", func(t *testing.T) {
		s := fresh(t)
		all := enqueue(t, s, entries(bob, 2, "m"))
		for _, tc := range []struct {
			name string
			make func(context.Context, []store.Entry) []*store.Entry
		}{
			{"NilEntry", func(context.Context, []store.Entry) []*store.Entry { return []*store.Entry{nil} }},
			{"Panic", func(context.Context, []store.Entry) []*store.Entry { panic("boom") }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.AckAndEnqueue(ctx, bob, seqsOf(all), tc.make)
				if err == nil {
					t.Fatal("AckAndEnqueue succeeded")
				}
				wantQueue(t, s, bob, all)
			})
		}
		// The store still works.
		_, err := s.AckAndEnqueue(ctx, bob, seqsOf(all), func(context.Context, []store.Entry) []*store.Entry { return nil })
		noErr(t, "AckAndEnqueue after failures", err)
		wantQueue(t, s, bob, nil)
	})

	t.Run("DevicesResultIsTheCallersCopy", func(t *testing.T) {
		s := fresh(t)
		_, err := s.Devices(ctx, "dora")
		wantErr(t, "Devices of an unknown handle", err, store.ErrNotFound)
		d := register(t, s, "dora")
		for range 2 { // the second read may come from a cache
			got, err := s.Devices(ctx, "dora")
			noErr(t, "Devices", err)
			if len(got) != 1 || sameDevice(got[0], d) != nil {
				t.Fatalf("Devices = %+v, want [%+v]", got, d)
			}
			got[0].Address.Device = 99
			got = append(got[:0], store.Device{})
		}
	})

	t.Run("AckAndEnqueueAfterClose", func(t *testing.T) {
		s := fresh(t)
		noErr(t, "Close", s.Close())
		_, err := s.AckAndEnqueue(ctx, bob, []uint64{1}, func(context.Context, []store.Entry) []*store.Entry { return nil })
		wantErr(t, "AckAndEnqueue after Close", err, store.ErrClosed)
		if err := s.EnqueueAsync(ctx, entries(bob, 1, "m"), nil).Wait(); !errors.Is(err, store.ErrClosed) {
			t.Fatalf("EnqueueAsync after Close: %v, want ErrClosed", err)
		}
	})
}
