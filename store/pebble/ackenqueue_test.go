package pebble

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// TestSyncPolicy checks which queue writes wait for the disk: anything that
// adds entries or is a plain Ack syncs; an AckAndEnqueue that produced no
// receipt is committed without a sync of its own.
func TestSyncPolicy(t *testing.T) {
	ctx := context.Background()
	bob := protocol.Address{User: "bob", Device: 1}
	alice := protocol.Address{User: "alice", Device: 1}
	none := func(context.Context, []store.Entry) []*store.Entry { return nil }
	receipt := func(context.Context, []store.Entry) []*store.Entry {
		return []*store.Entry{{Device: alice, Payload: []byte("r"), Expires: time.Now().Add(time.Hour)}}
	}
	for _, tc := range []struct {
		name                 string
		op                   func(s *Store, seq uint64) error
		wantSyncs, wantNoSyn uint64
	}{
		{"Enqueue", func(s *Store, _ uint64) error {
			return s.Enqueue(ctx, []*store.Entry{{Device: bob, Payload: []byte("x")}})
		}, 1, 0},
		{"Ack", func(s *Store, seq uint64) error { _, err := s.Ack(ctx, bob, []uint64{seq}); return err }, 1, 0},
		{"AckAndEnqueueWithReceipt", func(s *Store, seq uint64) error {
			_, err := s.AckAndEnqueue(ctx, bob, []uint64{seq}, receipt)
			return err
		}, 0, 1}, // atomic with its deletion: durable with the next sync (doc.go)
		{"AckAndEnqueuePureDelete", func(s *Store, seq uint64) error {
			_, err := s.AckAndEnqueue(ctx, bob, []uint64{seq}, none)
			return err
		}, 0, 1},
		{"AckOfNothing", func(s *Store, seq uint64) error {
			_, err := s.AckAndEnqueue(ctx, bob, []uint64{seq + 100}, none)
			return err
		}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTest(t, t.TempDir())
			e := &store.Entry{Device: bob, Payload: []byte("m")}
			if err := s.Enqueue(ctx, []*store.Entry{e}); err != nil {
				t.Fatal(err)
			}
			before := s.Stats()
			if err := tc.op(s, e.Seq); err != nil {
				t.Fatal(err)
			}
			after := s.Stats()
			if got := after.Syncs - before.Syncs; got != tc.wantSyncs {
				t.Errorf("syncs: %d, want %d", got, tc.wantSyncs)
			}
			if got := after.Unsynced - before.Unsynced; got != tc.wantNoSyn {
				t.Errorf("unsynced commits: %d, want %d", got, tc.wantNoSyn)
			}
		})
	}
}
