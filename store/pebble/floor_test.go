package pebble

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/parley-im/parley/protocol"
)

// BenchmarkMessageFloor measures the least Pebble work a delivered message
// can cost: its entry written once and deleted once (two memtable inserts,
// their WAL bytes, the flush that finds them cancelled), and in
// "with-receipt" a DELIVERED receipt of its own treated the same way (four
// inserts), 256 messages per batch, without sync, seq counters, expiry
// index, reads or the committer. "entry-only" is a message whose receipt
// is shared with many others (one receipt per acknowledged burst). One op
// is one message. This is the store's share of issue 6's "node CPU per
// message" floor (docs/benchmarks.md, "What this machine allows").
func BenchmarkMessageFloor(b *testing.B) {
	for _, withReceipt := range []bool{true, false} {
		name := map[bool]string{true: "with-receipt", false: "entry-only"}[withReceipt]
		b.Run(name, func(b *testing.B) { messageFloor(b, withReceipt) })
	}
}

func messageFloor(b *testing.B, withReceipt bool) {
	opts := Options{}.withDefaults()
	db, err := pebble.Open(b.TempDir(), pebbleOptions(opts, opts.Logger, &stats{}))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const perBatch = 256
	recipients := floorDevices(100)
	payload := make([]byte, 300) // an envelope of a 160-byte ciphertext
	receipt := make([]byte, 60)
	var pending [][]byte // keys written by the previous batch, deleted by the next
	var seq uint64
	msgs := 0
	batch := db.NewBatch()
	cpu := processCPU()
	for b.Loop() {
		seq++
		to := recipients[seq%uint64(len(recipients))]
		if err := batch.Set(queueKey(to, seq), encodeEntry(time.Time{}, payload), nil); err != nil {
			b.Fatal(err)
		}
		pending = append(pending, queueKey(to, seq))
		if withReceipt {
			from := recipients[(seq+1)%uint64(len(recipients))]
			if err := batch.Set(queueKey(from, seq), encodeEntry(time.Time{}, receipt), nil); err != nil {
				b.Fatal(err)
			}
			pending = append(pending, queueKey(from, seq))
		}
		if msgs++; msgs%perBatch == 0 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			batch.Close()
			batch = db.NewBatch()
			// The next batch acknowledges these.
			for _, k := range pending {
				if err := batch.SingleDelete(k, nil); err != nil {
					b.Fatal(err)
				}
			}
			pending = pending[:0]
		}
	}
	batch.Close()
	// CPU, not wall time: the machine is shared, and flushes run on
	// Pebble's own goroutines.
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/msg")
}

// floorDevices names n devices, one per user.
func floorDevices(n int) []protocol.Address {
	devs := make([]protocol.Address, n)
	for i := range devs {
		devs[i] = protocol.Address{User: fmt.Sprintf("user%03d", i), Device: 1}
	}
	return devs
}

// processCPU is the process's user+system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFdatasyncLatency measures what every first tick waits for: one
// 4 KiB append to a file in the store's directory and the fdatasync that
// makes it durable, one op per sync, with a pause between syncs as at
// moderate load. It reports percentiles because issue 6's delivery-latency
// target is a p99 and a message cannot be delivered before its batch is
// durable (docs/benchmarks.md, "What this machine allows"). The directory
// is the test's temporary one: set TMPDIR to measure another disk.
func BenchmarkFdatasyncLatency(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "wal"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	var lat []time.Duration
	for b.Loop() {
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		time.Sleep(500 * time.Microsecond) // the committer's MinSyncInterval
	}
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(at(0.999), "p99.9-ms")
}

// BenchmarkDrainFloor measures the least Pebble work of draining a backlog
// that has reached the sstables: 100 devices × 3,000 entries with expiries,
// read in pages of 256 (an iterator each, as the pump reads), each page
// deleted (entry and expiry index key, SingleDelete) with one DELIVERED
// receipt queued for it, no sync. One op drains all 300,000 entries;
// cpu-ns/msg is what the store needs per drained message before any frame
// is encrypted or sent (docs/benchmarks.md, "What this machine allows").
func BenchmarkDrainFloor(b *testing.B) {
	const devices, perDevice, page = 100, 3000, 256
	opts := Options{}.withDefaults()
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		db, err := pebble.Open(b.TempDir(), pebbleOptions(opts, opts.Logger, &stats{}))
		if err != nil {
			b.Fatal(err)
		}
		exp := time.Now().Add(time.Hour)
		payload := make([]byte, 300)
		devs := floorDevices(devices)
		for i := range devs {
			batch := db.NewBatch()
			for seq := uint64(1); seq <= perDevice; seq++ {
				_ = batch.Set(queueKey(devs[i], seq), encodeEntry(exp, payload), nil)
				_ = batch.Set(expiryKey(exp.UnixNano(), devs[i], seq), nil, nil)
			}
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			batch.Close()
		}
		if err := db.Flush(); err != nil {
			b.Fatal(err)
		}
		sender := protocol.Address{User: "sender", Device: 1}
		start := processCPU()
		b.StartTimer()
		receiptSeq := uint64(0)
		for _, d := range devs {
			for after := uint64(0); ; {
				lo, hi := queueRange(d, after)
				it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
				if err != nil {
					b.Fatal(err)
				}
				batch := db.NewBatch()
				n := 0
				for ok := it.First(); ok && n < page; ok = it.Next() {
					v, err := it.ValueAndErr()
					if err != nil {
						b.Fatal(err)
					}
					e, payload, err := decodeEntry(v, maxStoredPayload)
					if err != nil || len(payload) != 300 {
						b.Fatal("bad entry", err)
					}
					seq, _ := decodeQueueSeq(it.Key())
					_ = batch.SingleDelete(queueKey(d, seq), nil)
					_ = batch.SingleDelete(expiryKey(e.UnixNano(), d, seq), nil)
					after = seq
					n++
				}
				if err := it.Close(); err != nil {
					b.Fatal(err)
				}
				if n == 0 {
					batch.Close()
					break
				}
				receiptSeq++
				_ = batch.Set(queueKey(sender, receiptSeq), encodeEntry(exp, make([]byte, 60)), nil)
				_ = batch.Set(expiryKey(exp.UnixNano(), sender, receiptSeq), nil, nil)
				if err := batch.Commit(pebble.NoSync); err != nil {
					b.Fatal(err)
				}
				batch.Close()
			}
		}
		b.StopTimer()
		cpu += processCPU() - start
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpu)/float64(b.N*devices*perDevice), "cpu-ns/msg")
}
