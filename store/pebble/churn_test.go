package pebble

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// TestAckedEntriesLeaveNothingOnDisk checks what the single deletions of
// acknowledged entries buy: entries written and acknowledged before a
// flush leave no key and no tombstone in any sstable, through ack,
// repeated ack and expiry alike, and Pebble never reports a deletion of a
// key written twice.
func TestAckedEntriesLeaveNothingOnDisk(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	now := time.Now()
	devs := []protocol.Address{{User: "bob", Device: 1}, {User: "bob", Device: 2}, {User: "carol", Device: 1}}
	for round := range 20 {
		var es []*store.Entry
		for _, d := range devs {
			for i := range 50 {
				exp := now.Add(time.Hour)
				if i%10 == 0 {
					exp = time.Time{} // never expires: no index key
				}
				if round == 19 && i%2 == 1 {
					exp = now.Add(-time.Second) // already expired: goes by ExpireQueues
				}
				es = append(es, &store.Entry{Device: d, Payload: fmt.Appendf(nil, "m %d/%d", round, i), Expires: exp})
			}
		}
		if err := s.Enqueue(ctx, es); err != nil {
			t.Fatal(err)
		}
		if round%7 == 3 {
			// Entries that reach an sstable before their ack: the Set and
			// the deletion meet in a compaction instead of the flush.
			if err := s.db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if round == 19 {
			if n, err := s.ExpireQueues(ctx, now); err != nil || n != 75 {
				t.Fatalf("ExpireQueues = %d, %v; want 75 expired", n, err)
			}
		}
		for _, d := range devs {
			var seqs []uint64
			for _, e := range es {
				if e.Device == d {
					seqs = append(seqs, e.Seq)
				}
			}
			if _, err := s.AckAndEnqueue(ctx, d, seqs, nil); err != nil {
				t.Fatal(err)
			}
			if round%5 == 0 { // a replaced connection acknowledging again
				if _, err := s.Ack(ctx, d, seqs[:10]); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, d := range devs {
		if n, err := s.QueueDepth(ctx, d); err != nil || n != 0 {
			t.Fatalf("QueueDepth(%s) = %d, %v; want an empty queue", d, n, err)
		}
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		t.Fatal(err)
	}
	levels, err := s.db.SSTables(pebble.WithProperties())
	if err != nil {
		t.Fatal(err)
	}
	var entries, dels uint64
	for _, level := range levels {
		for _, tbl := range level {
			entries += tbl.Properties.NumEntries
			dels += tbl.Properties.NumDeletions
		}
	}
	// What is left are the three seq counters.
	if entries != uint64(len(devs)) || dels != 0 {
		t.Errorf("sstables hold %d keys and %d tombstones after every entry was acknowledged; want %d counters and no tombstone", entries, dels, len(devs))
	}
	if n := s.Stats().SingleDeleteMisuse; n != 0 {
		t.Errorf("Pebble found %d single deletions of keys written twice", n)
	}
}

// TestSeqCeilingSurvivesReopen checks the seq counter's reservation: seqs
// within one open store are consecutive, its key is not rewritten with
// every batch, and a reopened store continues above every seq handed out.
func TestSeqCeilingSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bob := protocol.Address{User: "bob", Device: 1}
	s := openTest(t, dir)
	var last uint64
	for i := range seqBlock + 10 { // crosses one ceiling
		e := &store.Entry{Device: bob, Payload: []byte("m")}
		if err := s.Enqueue(ctx, []*store.Entry{e}); err != nil {
			t.Fatal(err)
		}
		if e.Seq != last+1 {
			t.Fatalf("entry %d got seq %d after %d: seqs of one open store must be consecutive", i, e.Seq, last)
		}
		last = e.Seq
	}
	v, found, err := s.get(addrKey(pSeq, bob))
	if err != nil || !found {
		t.Fatalf("counter key: found %v, %v", found, err)
	}
	ceiling, err := decodeSeq(v)
	if err != nil {
		t.Fatal(err)
	}
	if ceiling < last || ceiling >= last+seqBlock {
		t.Fatalf("counter key holds %d after seq %d; want a ceiling in [%d, %d)", ceiling, last, last, last+seqBlock)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	e := &store.Entry{Device: bob, Payload: []byte("after")}
	if err := s.Enqueue(ctx, []*store.Entry{e}); err != nil {
		t.Fatal(err)
	}
	if e.Seq != ceiling+1 {
		t.Fatalf("after reopen seq %d; want %d (above the ceiling %d)", e.Seq, ceiling+1, ceiling)
	}
}
