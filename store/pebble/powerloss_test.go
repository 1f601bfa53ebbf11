package pebble

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// TestPowerLossKeepsAnsweredEnqueues cuts the power under a busy store:
// Pebble's crashable in-memory filesystem is cloned with exactly the data
// that was synced, the way a disk looks after the machine loses power
// (SIGKILL, TestCrashKeepsAcknowledgedEntries, leaves the page cache
// intact and so cannot test syncs). Every Enqueue answered before the cut
// must be in the store reopened on that disk. The committer applies
// batches without a sync and the syncer makes them durable with a later
// record, so this fails if an answer ever comes before the sync that
// covers its batch.
func TestPowerLossKeepsAnsweredEnqueues(t *testing.T) {
	for round := range 3 {
		t.Run(fmt.Sprintf("cut%d", round), func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			s, err := Open("db", Options{fs: mem})
			if err != nil {
				t.Fatal(err)
			}
			var (
				mu       sync.Mutex
				answered []store.Entry
				stop     atomic.Bool
				wg       sync.WaitGroup
			)
			ctx := context.Background()
			for w := range 6 {
				wg.Go(func() {
					dev := protocol.Address{User: fmt.Sprintf("user%d", w%3), Device: 1}
					for i := 0; !stop.Load(); i++ {
						es := make([]*store.Entry, 1+i%3)
						for j := range es {
							es[j] = &store.Entry{Device: dev, Payload: fmt.Appendf(nil, "w%d/%d/%d", w, i, j)}
						}
						if err := s.Enqueue(ctx, es); err != nil {
							t.Errorf("enqueue: %v", err)
							return
						}
						ack := i%4 == 3
						mu.Lock()
						for j, e := range es {
							if !(ack && j == 0) { // an acked entry may be there or not
								answered = append(answered, *e)
							}
						}
						mu.Unlock()
						if ack {
							// Unsynced deletions and receipts between the
							// synced batches, as a node's acks are.
							if _, err := s.AckAndEnqueue(ctx, dev, []uint64{es[0].Seq}, func(context.Context, []store.Entry) []*store.Entry {
								return []*store.Entry{{Device: protocol.Address{User: "sender", Device: 1}, Payload: []byte("receipt")}}
							}); err != nil {
								t.Errorf("ack: %v", err)
								return
							}
						}
					}
				})
			}
			time.Sleep(time.Duration(50+50*round) * time.Millisecond)
			mu.Lock()
			want := append([]store.Entry(nil), answered...)
			mu.Unlock()
			cut := mem.CrashClone(vfs.CrashCloneCfg{}) // synced data only
			stop.Store(true)
			wg.Wait()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if len(want) < 50 {
				t.Fatalf("only %d entries answered before the cut: the test proves nothing", len(want))
			}

			after, err := Open("db", Options{fs: cut})
			if err != nil {
				t.Fatalf("reopen after the cut: %v", err)
			}
			defer after.Close()
			lost := 0
			for _, e := range want {
				got, err := after.ReadQueue(ctx, e.Device, e.Seq-1, 1)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0].Seq != e.Seq || string(got[0].Payload) != string(e.Payload) {
					lost++
					if lost <= 5 {
						t.Errorf("%s seq %d (%q) was answered before the cut and is gone: %v", e.Device, e.Seq, e.Payload, got)
					}
				}
			}
			t.Logf("%d answered entries before the cut, %d lost", len(want), lost)
		})
	}
}
