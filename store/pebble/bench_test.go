package pebble_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
	"github.com/parley-im/parley/store/pebble"
)

func benchStore(b *testing.B) *pebble.Store {
	b.Helper()
	s, err := pebble.Open(b.TempDir(), pebble.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

var benchPayload = make([]byte, 512) // about one small ciphertext envelope

// BenchmarkEnqueueSync measures durable enqueue of one entry per call; with
// many writers, group commit should put many entries behind each fsync.
func BenchmarkEnqueueSync(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := benchStore(b)
			ctx := context.Background()
			enqueueLoop := func(next func() bool) {
				dev := protocol.Address{User: "bench", Device: nextDev.Add(1)}
				for next() {
					e := &store.Entry{Device: dev, Payload: benchPayload, Expires: time.Now().Add(time.Hour)}
					if err := s.Enqueue(ctx, []*store.Entry{e}); err != nil {
						b.Error(err)
						return
					}
				}
			}
			before := s.Stats()
			b.ResetTimer()
			if writers == 1 {
				enqueueLoop(b.Loop)
			} else {
				b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) { enqueueLoop(pb.Next) })
			}
			b.StopTimer()
			reportSyncs(b, before, s.Stats())
		})
	}
}

// nextDev gives each writer its own device, as in real traffic.
var nextDev atomic.Uint32

func reportSyncs(b *testing.B, before, after pebble.Stats) {
	entries := after.Entries - before.Entries
	syncs := after.Syncs - before.Syncs
	if secs := b.Elapsed().Seconds(); secs > 0 {
		b.ReportMetric(float64(entries)/secs, "entries/s")
	}
	if syncs > 0 {
		b.ReportMetric(float64(entries)/float64(syncs), "entries/sync")
		b.ReportMetric(float64(after.SyncTime-before.SyncTime)/float64(syncs)/1e3, "µs/sync")
	}
}

// fill enqueues n entries to dev in batches and returns their seqs.
func fill(b *testing.B, s *pebble.Store, dev protocol.Address, n int) []uint64 {
	b.Helper()
	var seqs []uint64
	for n > 0 {
		es := make([]*store.Entry, min(n, 1000))
		for i := range es {
			es[i] = &store.Entry{Device: dev, Payload: benchPayload}
		}
		if err := s.Enqueue(context.Background(), es); err != nil {
			b.Fatal(err)
		}
		for _, e := range es {
			seqs = append(seqs, e.Seq)
		}
		n -= len(es)
	}
	return seqs
}

// BenchmarkReadQueue reads a page of 100 entries from a 1,000-entry queue.
func BenchmarkReadQueue(b *testing.B) {
	s := benchStore(b)
	dev := protocol.Address{User: "bench", Device: 1}
	fill(b, s, dev, 1000)
	ctx := context.Background()
	for b.Loop() {
		es, err := s.ReadQueue(ctx, dev, 0, 100)
		if err != nil || len(es) != 100 {
			b.Fatalf("ReadQueue: %d entries, %v", len(es), err)
		}
	}
	b.ReportMetric(100, "entries/op")
}

// BenchmarkAck acknowledges one entry per call from one caller: one fsync
// per call, the delivery path's worst case.
func BenchmarkAck(b *testing.B) {
	s := benchStore(b)
	dev := protocol.Address{User: "bench", Device: 1}
	seqs := fill(b, s, dev, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		got, err := s.Ack(ctx, dev, seqs[i:i+1])
		if err != nil || len(got) != 1 {
			b.Fatalf("Ack: %d entries, %v", len(got), err)
		}
	}
}

// BenchmarkTakeBundle hands out bundles of one device (one fsync each).
func BenchmarkTakeBundle(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	d := store.Device{Address: protocol.Address{User: "bench", Device: 1}, IdentityKey: []byte("ik")}
	if err := s.CreateAccount(ctx, store.Account{Handle: "bench"}, d, ""); err != nil {
		b.Fatal(err)
	}
	if err := s.SetSignedPreKey(ctx, d.Address, store.SignedPreKey{ID: 1, PublicKey: make([]byte, 33), Signature: make([]byte, 64)}); err != nil {
		b.Fatal(err)
	}
	kem := make([]byte, 1569) // ML-KEM-1024 public key with its type byte
	for from := 0; from < b.N; from += pebble.MaxKeysPerUpload {
		n := min(b.N-from, pebble.MaxKeysPerUpload)
		pks := make([]store.PreKey, n)
		kks := make([]store.KEMPreKey, n)
		for i := range n {
			pks[i] = store.PreKey{ID: uint32(from + i + 1), PublicKey: make([]byte, 33)}
			kks[i] = store.KEMPreKey{ID: uint32(from + i + 1), PublicKey: kem, Signature: make([]byte, 64)}
		}
		if err := s.AddPreKeys(ctx, d.Address, pks); err != nil {
			b.Fatal(err)
		}
		if err := s.AddKEMPreKeys(ctx, d.Address, kks); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		bundle, err := s.TakeBundle(ctx, d.Address)
		if err != nil || bundle.PreKey == nil || bundle.KEMLastResort {
			b.Fatalf("TakeBundle: %+v, %v", bundle, err)
		}
	}
}
