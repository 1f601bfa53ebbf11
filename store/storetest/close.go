package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/store"
)

func testClose(t *testing.T, fresh func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("MethodsAfterClose", func(t *testing.T) {
		s := fresh(t)
		d := register(t, s, "alice")
		noErr(t, "Close", s.Close())
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"CreateAccount", func() error { return s.CreateAccount(ctx, account("bob"), device("bob", 1), "") }},
			{"Account", func() error { _, err := s.Account(ctx, "alice"); return err }},
			{"DeviceByKey", func() error { _, err := s.DeviceByKey(ctx, d.NoiseKey); return err }},
			{"Device", func() error { _, err := s.Device(ctx, d.Address); return err }},
			{"Devices", func() error { _, err := s.Devices(ctx, "alice"); return err }},
			{"SetSignedPreKey", func() error { return s.SetSignedPreKey(ctx, d.Address, signed) }},
			{"SetLastResortKEMPreKey", func() error { return s.SetLastResortKEMPreKey(ctx, d.Address, lastResort) }},
			{"AddPreKeys", func() error { return s.AddPreKeys(ctx, d.Address, preKeys(1, 1)) }},
			{"AddKEMPreKeys", func() error { return s.AddKEMPreKeys(ctx, d.Address, kemPreKeys(1, 1)) }},
			{"TakeBundle", func() error { _, err := s.TakeBundle(ctx, d.Address); return err }},
			{"KeyCounts", func() error { _, err := s.KeyCounts(ctx, d.Address); return err }},
			{"Enqueue", func() error { return s.Enqueue(ctx, entries(d.Address, 1, "x")) }},
			{"ReadQueue", func() error { _, err := s.ReadQueue(ctx, d.Address, 0, 10); return err }},
			{"Ack", func() error { _, err := s.Ack(ctx, d.Address, []uint64{1}); return err }},
			{"QueueDepth", func() error { _, err := s.QueueDepth(ctx, d.Address); return err }},
			{"ExpireQueues", func() error { _, err := s.ExpireQueues(ctx, time.Now()); return err }},
			{"CreateInvite", func() error { return s.CreateInvite(ctx, store.Invite{Code: "c", CreatedAt: t0}) }},
			{"UseInvite", func() error { return s.UseInvite(ctx, "c", "bob", t0) }},
			{"Invites", func() error { _, err := s.Invites(ctx); return err }},
			{"RevokeInvite", func() error { return s.RevokeInvite(ctx, "c") }},
		} {
			t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrClosed) })
		}
		_ = s.Close() // must not panic
	})

	t.Run("CloseUnderLoad", func(t *testing.T) {
		s := fresh(t)
		var wg sync.WaitGroup
		stop := make(chan struct{})
		started := make(chan struct{}, 20)
		for w := range 20 {
			wg.Go(func() {
				for i := 0; ; i++ {
					err := s.Enqueue(ctx, entries(addr(fmt.Sprintf("user%d", w), 1), 2, "load"))
					if i == 0 {
						started <- struct{}{}
					}
					if errors.Is(err, store.ErrClosed) {
						return
					}
					if err != nil {
						t.Errorf("Enqueue during Close: %v, want nil or ErrClosed", err)
						return
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			})
		}
		for range 20 {
			<-started
		}
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			noErr(t, "Close", err)
		case <-time.After(30 * time.Second):
			close(stop)
			t.Fatal("Close did not return within 30s while writers were running")
		}
		writers := make(chan struct{})
		go func() { wg.Wait(); close(writers) }()
		select {
		case <-writers:
		case <-time.After(30 * time.Second):
			close(stop)
			t.Fatal("writers still blocked 30s after Close")
		}
	})
}
