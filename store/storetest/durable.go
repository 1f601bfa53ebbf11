package storetest

import (
	"context"
	"testing"

	"github.com/parley-im/parley/store"
)

// RunDurable checks that what a store acknowledged survives Close and a
// reopen of the same directory; open must open (or create) the store in dir.
func RunDurable(t *testing.T, open func(t *testing.T, dir string) store.Store) {
	ctx := context.Background()
	reopen := func(t *testing.T, dir string) store.Store {
		t.Helper()
		s := open(t, dir)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}

	t.Run("EverythingSurvivesReopen", func(t *testing.T) {
		dir := t.TempDir()
		s := reopen(t, dir)
		invites := inviteFixtures(t, s)
		d := stock(t, s, 3, 3)
		bundle, err := s.TakeBundle(ctx, d.Address)
		noErr(t, "TakeBundle", err)
		newbie := device("newbie", 1)
		noErr(t, "CreateAccount with invite", s.CreateAccount(ctx, account("newbie"), newbie, "forever-code"))
		inv := invites["forever-code"]
		inv.UsedBy = "newbie"
		invites["forever-code"] = inv
		all := enqueue(t, s, entries(d.Address, 5, "m"))
		_, err = s.Ack(ctx, d.Address, []uint64{all[1].Seq, all[3].Seq})
		noErr(t, "Ack", err)
		var seen []store.Entry
		receiptDev := addr("sender", 1)
		_, err = s.AckAndEnqueue(ctx, d.Address, []uint64{all[4].Seq}, receiptsTo(receiptDev, &seen))
		noErr(t, "AckAndEnqueue", err)
		noErr(t, "Close", s.Close())

		s = reopen(t, dir)
		for _, want := range []store.Device{d, newbie} {
			got, err := s.DeviceByKey(ctx, want.NoiseKey)
			noErr(t, "DeviceByKey after reopen", err)
			if err := sameDevice(got, want); err != nil {
				t.Fatalf("device after reopen: %v", err)
			}
			_, err = s.Account(ctx, want.Address.User)
			noErr(t, "Account after reopen", err)
		}
		checkInvites(t, s, invites)
		wantCounts(t, s, d, 2, 2)
		next, err := s.TakeBundle(ctx, d.Address)
		noErr(t, "TakeBundle after reopen", err)
		if next.PreKey == nil || next.PreKey.ID == bundle.PreKey.ID || next.KEMPreKey.ID == bundle.KEMPreKey.ID {
			t.Fatalf("bundle after reopen = %+v, first bundle was %+v: a one-time key came back", next, bundle)
		}
		wantQueue(t, s, d.Address, []store.Entry{all[0], all[2]})
		if r := readAll(t, s, receiptDev); len(r) != 1 || string(r[0].Payload) != "r:m 4" {
			t.Fatalf("receipt after reopen: %+v", r)
		}
	})

	t.Run("SeqNeverReusedAcrossReopen", func(t *testing.T) {
		dir := t.TempDir()
		s := reopen(t, dir)
		bob := addr("bob", 1)
		all := enqueue(t, s, entries(bob, 4, "m"))
		_, err := s.Ack(ctx, bob, seqsOf(all)) // the queue is empty on disk now
		noErr(t, "Ack", err)
		noErr(t, "Close", s.Close())

		s = reopen(t, dir)
		wantQueue(t, s, bob, nil)
		next := enqueue(t, s, entries(bob, 2, "n"))
		if next[0].Seq <= all[3].Seq {
			t.Fatalf("after reopen seq %d reused (before: %v)", next[0].Seq, seqsOf(all))
		}
		noErr(t, "Close", s.Close())

		s = reopen(t, dir)
		again := enqueue(t, s, entries(bob, 1, "o"))
		if again[0].Seq <= next[1].Seq {
			t.Fatalf("after second reopen seq %d, last was %d", again[0].Seq, next[1].Seq)
		}
		wantQueue(t, s, bob, append(next, again...))
	})
}
