package storetest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/store"
)

// RunAdmin runs the operator-side part of the suite (store.Admin and
// store.PushTokens). reopen, when not nil, opens a store on a directory
// that Checkpoint wrote, so the suite can prove a checkpoint restores.
func RunAdmin(t *testing.T, open func(t *testing.T) store.Store, reopen func(t *testing.T, dir string) store.Store) {
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	ctx := context.Background()

	t.Run("ListAccounts", func(t *testing.T) {
		s := fresh(t)
		want := []string{"al", "bo", "cy", "dee", "emma"}
		for _, h := range want {
			register(t, s, h)
		}
		var got []string
		after := ""
		for {
			page, err := s.ListAccounts(ctx, after, 2)
			noErr(t, "ListAccounts", err)
			if len(page) == 0 {
				break
			}
			if len(page) > 2 {
				t.Fatalf("page of %d, limit 2", len(page))
			}
			for _, a := range page {
				got = append(got, a.Handle)
			}
			after = page[len(page)-1].Handle
		}
		if len(got) != len(want) {
			t.Fatalf("listed %v, want every one of %v once", got, want)
		}
		seen := map[string]bool{}
		for _, h := range got {
			if seen[h] {
				t.Fatalf("%s listed twice: %v", h, got)
			}
			seen[h] = true
		}
	})

	t.Run("Disable", func(t *testing.T) {
		s := fresh(t)
		d := register(t, s, "alice")
		register(t, s, "bob")
		// Read first, so a store that caches accounts has alice cached
		// when the operator disables her.
		if a, err := s.Account(ctx, "alice"); err != nil || a.Disabled {
			t.Fatalf("before disable: %+v, %v", a, err)
		}
		if ids, err := s.ActiveDeviceIDs(ctx, "alice"); err != nil || len(ids) != 1 {
			t.Fatalf("ActiveDeviceIDs before disable = %v, %v", ids, err)
		}
		noErr(t, "disable", s.SetAccountDisabled(ctx, "alice", true))
		a, err := s.Account(ctx, "alice")
		noErr(t, "Account", err)
		got, err := s.DeviceByKey(ctx, d.NoiseKey)
		noErr(t, "DeviceByKey", err)
		if !a.Disabled || !got.Disabled {
			t.Fatalf("after disable: account disabled %v, device disabled %v", a.Disabled, got.Disabled)
		}
		devs, err := s.Devices(ctx, "alice")
		noErr(t, "Devices", err)
		if len(devs) != 1 || !devs[0].Disabled {
			t.Fatalf("Devices after disable = %+v", devs)
		}
		if ids, err := s.ActiveDeviceIDs(ctx, "alice"); err != nil || len(ids) != 0 {
			t.Fatalf("ActiveDeviceIDs after disable = %v, %v; want none", ids, err)
		}
		if b, _ := s.Account(ctx, "bob"); b.Disabled {
			t.Fatalf("bob disabled too")
		}
		noErr(t, "enable", s.SetAccountDisabled(ctx, "alice", false))
		if ids, err := s.ActiveDeviceIDs(ctx, "alice"); err != nil || len(ids) != 1 || ids[0] != d.Address.Device {
			t.Fatalf("ActiveDeviceIDs after enable = %v, %v; want [%d]", ids, err, d.Address.Device)
		}
		got, _ = s.DeviceByKey(ctx, d.NoiseKey)
		if a, _ := s.Account(ctx, "alice"); got.Disabled || a.Disabled {
			t.Fatalf("still disabled after enable: device %v, account %v", got.Disabled, a.Disabled)
		}
		wantErr(t, "disable unknown", s.SetAccountDisabled(ctx, "nobody", true), store.ErrNotFound)
	})

	t.Run("DeleteAccount", func(t *testing.T) {
		s := fresh(t)
		d := register(t, s, "alice")
		bob := register(t, s, "bob")
		noErr(t, "keys", s.AddPreKeys(ctx, d.Address, preKeys(1, 3)))
		noErr(t, "token", s.SetPushToken(ctx, d.Address, store.PushToken{Token: "tok", Platform: "fcm", UpdatedAt: t0}))
		gone := enqueue(t, s, entries(d.Address, 3, "for alice"))
		keep := enqueue(t, s, entries(bob.Address, 2, "for bob"))
		if _, err := s.Account(ctx, "alice"); err != nil { // cached, if the store caches
			t.Fatalf("Account before delete: %v", err)
		}
		noErr(t, "DeleteAccount", s.DeleteAccount(ctx, "alice"))
		if _, err := s.Account(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Account after delete: %v", err)
		}
		if _, err := s.DeviceByKey(ctx, d.NoiseKey); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("DeviceByKey after delete: %v", err)
		}
		if _, err := s.PushToken(ctx, d.Address); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PushToken after delete: %v", err)
		}
		if n, err := s.QueueDepth(ctx, d.Address); err != nil || n != 0 {
			t.Fatalf("queue after delete: %d, %v", n, err)
		}
		// A late ack of the deleted queue finds nothing (a store that
		// remembers recent entries must forget them too).
		if got, err := s.Ack(ctx, d.Address, seqsOf(gone)); err != nil || len(got) != 0 {
			t.Fatalf("Ack of a deleted queue returned %v, %v", seqsOf(got), err)
		}
		wantQueue(t, s, bob.Address, keep)
		if c, err := s.KeyCounts(ctx, d.Address); err == nil && c.PreKeys != 0 {
			t.Fatalf("prekeys left after delete: %+v", c)
		}
		// The handle is free again and a new key can take it.
		register(t, s, "alice")
		wantErr(t, "delete unknown", s.DeleteAccount(ctx, "nobody"), store.ErrNotFound)
	})

	t.Run("DeleteDevice", func(t *testing.T) {
		s := fresh(t)
		d := register(t, s, "alice")
		enqueue(t, s, entries(d.Address, 2, "x"))
		noErr(t, "DeleteDevice", s.DeleteDevice(ctx, d.Address))
		if _, err := s.Device(ctx, d.Address); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Device after delete: %v", err)
		}
		if a, err := s.RemovedDevice(ctx, d.NoiseKey); err != nil || a != d.Address {
			t.Fatalf("RemovedDevice = %v, %v; want %v", a, err, d.Address)
		}
		if _, err := s.Account(ctx, "alice"); err != nil {
			t.Fatalf("account went with its device: %v", err)
		}
		wantErr(t, "delete again", s.DeleteDevice(ctx, d.Address), store.ErrNotFound)
	})

	t.Run("QueueSpanAndTotals", func(t *testing.T) {
		s := fresh(t)
		a := register(t, s, "alice").Address
		b := register(t, s, "bob").Address
		if n, err := s.QueueSpan(ctx, a); err != nil || n != 0 {
			t.Fatalf("span of empty queue = %d, %v", n, err)
		}
		if e, err := s.EarliestExpiry(ctx); err != nil || !e.IsZero() {
			t.Fatalf("earliest expiry of empty store = %v, %v", e, err)
		}
		es := entries(a, 5, "a")
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
		for i, e := range es {
			e.Expires = exp.Add(time.Duration(i) * time.Minute)
		}
		got := enqueue(t, s, es)
		enqueue(t, s, entries(b, 3, "b"))
		if n, err := s.QueueSpan(ctx, a); err != nil || n < 5 {
			t.Fatalf("span = %d, %v; want at least the depth 5", n, err)
		}
		_, err := s.Ack(ctx, a, []uint64{got[0].Seq, got[1].Seq})
		noErr(t, "Ack", err)
		if n, err := s.QueueSpan(ctx, a); err != nil || n != 3 {
			t.Fatalf("span after acking the first two = %d, %v; want 3", n, err)
		}
		n, earliest, err := s.QueueTotals(ctx)
		noErr(t, "QueueTotals", err)
		if n != 6 {
			t.Fatalf("QueueTotals = %d entries, want 6", n)
		}
		if want := exp.Add(2 * time.Minute); !earliest.Equal(want) {
			t.Fatalf("earliest expiry %v, want %v", earliest, want)
		}
		if e, _ := s.EarliestExpiry(ctx); !e.Equal(earliest) {
			t.Fatalf("EarliestExpiry %v != QueueTotals' %v", e, earliest)
		}
	})

	t.Run("PushTokens", func(t *testing.T) {
		s := fresh(t)
		d := register(t, s, "alice")
		if _, err := s.PushToken(ctx, d.Address); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PushToken before set: %v", err)
		}
		want := store.PushToken{Token: "abc", Platform: "apns", UpdatedAt: t0}
		noErr(t, "set", s.SetPushToken(ctx, d.Address, want))
		got, err := s.PushToken(ctx, d.Address)
		noErr(t, "get", err)
		if got.Token != want.Token || got.Platform != want.Platform || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("PushToken = %+v, want %+v", got, want)
		}
		noErr(t, "clear", s.SetPushToken(ctx, d.Address, store.PushToken{}))
		if _, err := s.PushToken(ctx, d.Address); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("PushToken after clear: %v", err)
		}
		wantErr(t, "unknown device", s.SetPushToken(ctx, addr("nobody", 1), want), store.ErrNotFound)
		long := store.PushToken{Token: string(make([]byte, store.MaxPushTokenLen+1))}
		if err := s.SetPushToken(ctx, d.Address, long); err == nil {
			t.Fatalf("oversized token accepted")
		}
	})

	t.Run("Checkpoint", func(t *testing.T) {
		if reopen == nil {
			t.Skip("no reopen function")
		}
		s := fresh(t)
		d := register(t, s, "alice")
		want := enqueue(t, s, entries(d.Address, 4, "kept"))
		dir := filepath.Join(t.TempDir(), "backup")
		noErr(t, "Checkpoint", s.Checkpoint(ctx, dir))
		if err := s.Checkpoint(ctx, dir); !errors.Is(err, os.ErrExist) {
			t.Fatalf("second checkpoint into the same dir: %v", err)
		}
		// Written after the checkpoint: must not be in it.
		enqueue(t, s, entries(d.Address, 1, "later"))
		r := reopen(t, dir)
		defer r.Close()
		if _, err := r.Account(ctx, "alice"); err != nil {
			t.Fatalf("restored store lacks the account: %v", err)
		}
		wantQueue(t, r, d.Address, want)
	})
}
