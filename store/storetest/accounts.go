package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/parley-im/parley/store"
)

func testAccounts(t *testing.T, fresh func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("CreateAndRead", func(t *testing.T) {
		s := fresh(t)
		want := register(t, s, "alice")
		a, err := s.Account(ctx, "alice")
		noErr(t, "Account", err)
		if a.Handle != "alice" || !a.CreatedAt.Equal(t0) || a.Disabled {
			t.Fatalf("Account = %+v, want handle alice created %v", a, t0)
		}
		got, err := s.Device(ctx, want.Address)
		noErr(t, "Device", err)
		if err := sameDevice(got, want); err != nil {
			t.Fatalf("Device: %v", err)
		}
		got, err = s.DeviceByKey(ctx, want.NoiseKey)
		noErr(t, "DeviceByKey", err)
		if err := sameDevice(got, want); err != nil {
			t.Fatalf("DeviceByKey: %v", err)
		}
		devs, err := s.Devices(ctx, "alice")
		noErr(t, "Devices", err)
		if len(devs) != 1 {
			t.Fatalf("Devices = %d devices, want 1", len(devs))
		}
		if err := sameDevice(devs[0], want); err != nil {
			t.Fatalf("Devices[0]: %v", err)
		}
		for range 2 { // read through whatever the store caches, twice
			ids, err := s.ActiveDeviceIDs(ctx, "alice")
			noErr(t, "ActiveDeviceIDs", err)
			if len(ids) != 1 || ids[0] != want.Address.Device {
				t.Fatalf("ActiveDeviceIDs = %v, want [%d]", ids, want.Address.Device)
			}
		}
	})

	t.Run("CreateRefused", func(t *testing.T) {
		other := device("bob", 1)
		other.NoiseKey = device("alice", 1).NoiseKey
		second := device("carol", 2)
		mismatch := device("dave", 1)
		for _, tc := range []struct {
			name    string
			account store.Account
			primary store.Device
			want    error // nil: any error
		}{
			{"HandleTaken", account("alice"), device("alice", 1), store.ErrHandleTaken},
			{"HandleTakenOtherKey", account("alice"), func() store.Device {
				d := device("alice", 1)
				d.NoiseKey = sha256.Sum256([]byte("fresh key"))
				return d
			}(), store.ErrHandleTaken},
			{"DeviceKeyTaken", account("bob"), other, store.ErrKeyRegistered},
			{"PrimaryNotDevice1", account("carol"), second, nil},
			{"PrimaryOfOtherUser", account("erin"), mismatch, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := fresh(t)
				register(t, s, "alice")
				err := s.CreateAccount(ctx, tc.account, tc.primary, "")
				if err == nil {
					t.Fatalf("CreateAccount succeeded, want an error")
				}
				if tc.want != nil {
					wantErr(t, "CreateAccount", err, tc.want)
				}
				if tc.account.Handle != "alice" {
					_, err := s.Account(ctx, tc.account.Handle)
					wantErr(t, "Account of refused handle", err, store.ErrNotFound)
				}
				got, err := s.DeviceByKey(ctx, device("alice", 1).NoiseKey)
				noErr(t, "DeviceByKey(alice)", err)
				if got.Address != addr("alice", 1) {
					t.Fatalf("alice's key now belongs to %v", got.Address)
				}
			})
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := fresh(t)
		register(t, s, "alice")
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"Account", func() error { _, err := s.Account(ctx, "nobody"); return err }},
			{"Device/unknown user", func() error { _, err := s.Device(ctx, addr("nobody", 1)); return err }},
			{"Device/unknown id", func() error { _, err := s.Device(ctx, addr("alice", 2)); return err }},
			{"DeviceByKey", func() error { _, err := s.DeviceByKey(ctx, sha256.Sum256([]byte("x"))); return err }},
			{"Devices", func() error { _, err := s.Devices(ctx, "nobody"); return err }},
			{"ActiveDeviceIDs", func() error { _, err := s.ActiveDeviceIDs(ctx, "nobody"); return err }},
		} {
			t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
		}
	})

	t.Run("ConcurrentSameHandle", func(t *testing.T) {
		s := fresh(t)
		const n = 8
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				d := device("zoe", 1)
				d.NoiseKey = sha256.Sum256(fmt.Appendf(nil, "zoe key %d", i))
				errs[i] = s.CreateAccount(ctx, account("zoe"), d, "")
			})
		}
		wg.Wait()
		wins := 0
		for i, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrHandleTaken):
				t.Errorf("caller %d: %v, want nil or ErrHandleTaken", i, err)
			}
		}
		if wins != 1 {
			t.Fatalf("%d registrations of one handle succeeded, want 1", wins)
		}
	})
}
