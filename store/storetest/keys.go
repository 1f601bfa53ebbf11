package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/parley-im/parley/store"
)

func preKeys(from, n uint32) []store.PreKey {
	ks := make([]store.PreKey, n)
	for i := range ks {
		id := from + uint32(i)
		ks[i] = store.PreKey{ID: id, PublicKey: fmt.Appendf(nil, "prekey %d", id)}
	}
	return ks
}

func kemPreKeys(from, n uint32) []store.KEMPreKey {
	ks := make([]store.KEMPreKey, n)
	for i := range ks {
		id := from + uint32(i)
		ks[i] = store.KEMPreKey{ID: id, PublicKey: fmt.Appendf(nil, "kem prekey %d", id), Signature: fmt.Appendf(nil, "kem sig %d", id)}
	}
	return ks
}

var (
	signed     = store.SignedPreKey{ID: 7, PublicKey: []byte("signed prekey"), Signature: []byte("signed sig")}
	lastResort = store.KEMPreKey{ID: 99, PublicKey: []byte("last resort"), Signature: []byte("last resort sig")}
)

// stock registers alice and uploads a signed prekey, a last-resort KEM key
// and nPre/nKEM one-time keys (prekey ids from 1, KEM ids from 1001).
func stock(t *testing.T, s store.Store, nPre, nKEM uint32) store.Device {
	t.Helper()
	ctx := context.Background()
	d := register(t, s, "alice")
	noErr(t, "SetSignedPreKey", s.SetSignedPreKey(ctx, d.Address, signed))
	noErr(t, "SetLastResortKEMPreKey", s.SetLastResortKEMPreKey(ctx, d.Address, lastResort))
	noErr(t, "AddPreKeys", s.AddPreKeys(ctx, d.Address, preKeys(1, nPre)))
	noErr(t, "AddKEMPreKeys", s.AddKEMPreKeys(ctx, d.Address, kemPreKeys(1001, nKEM)))
	return d
}

func wantCounts(t *testing.T, s store.Store, d store.Device, pre, kem int) {
	t.Helper()
	c, err := s.KeyCounts(context.Background(), d.Address)
	noErr(t, "KeyCounts", err)
	if c.PreKeys != pre || c.KEMPreKeys != kem {
		t.Fatalf("KeyCounts = %+v, want {PreKeys:%d KEMPreKeys:%d}", c, pre, kem)
	}
}

func testKeys(t *testing.T, fresh func(*testing.T) store.Store) {
	ctx := context.Background()

	t.Run("UnknownDevice", func(t *testing.T) {
		s := fresh(t)
		register(t, s, "alice")
		ghost := addr("alice", 5)
		for _, tc := range []struct {
			name string
			call func() error
		}{
			{"SetSignedPreKey", func() error { return s.SetSignedPreKey(ctx, ghost, signed) }},
			{"SetLastResortKEMPreKey", func() error { return s.SetLastResortKEMPreKey(ctx, ghost, lastResort) }},
			{"AddPreKeys", func() error { return s.AddPreKeys(ctx, ghost, preKeys(1, 2)) }},
			{"AddKEMPreKeys", func() error { return s.AddKEMPreKeys(ctx, ghost, kemPreKeys(1, 2)) }},
			{"TakeBundle", func() error { _, err := s.TakeBundle(ctx, ghost); return err }},
			{"KeyCounts", func() error { _, err := s.KeyCounts(ctx, ghost); return err }},
		} {
			t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.call(), store.ErrNotFound) })
		}
	})

	t.Run("TakeBundleMissingKeys", func(t *testing.T) {
		for _, tc := range []struct {
			name                  string
			signed, kemLastResort bool
			oneTimeKEM            uint32
		}{
			{"NoSignedPreKey", false, true, 1},
			{"NoKEMKeyAtAll", true, false, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				s := fresh(t)
				d := register(t, s, "alice")
				if tc.signed {
					noErr(t, "SetSignedPreKey", s.SetSignedPreKey(ctx, d.Address, signed))
				}
				if tc.kemLastResort {
					noErr(t, "SetLastResortKEMPreKey", s.SetLastResortKEMPreKey(ctx, d.Address, lastResort))
				}
				noErr(t, "AddPreKeys", s.AddPreKeys(ctx, d.Address, preKeys(1, 3)))
				noErr(t, "AddKEMPreKeys", s.AddKEMPreKeys(ctx, d.Address, kemPreKeys(1001, tc.oneTimeKEM)))
				_, err := s.TakeBundle(ctx, d.Address)
				wantErr(t, "TakeBundle", err, store.ErrNotFound)
				wantCounts(t, s, d, 3, int(tc.oneTimeKEM)) // nothing consumed by a failed take
			})
		}
	})

	t.Run("TakeBundleConsumesThenFallsBack", func(t *testing.T) {
		s := fresh(t)
		d := stock(t, s, 2, 3)
		wantCounts(t, s, d, 2, 3)
		pre := map[uint32]bool{}
		kem := map[uint32]bool{}
		for i := range 5 {
			b, err := s.TakeBundle(ctx, d.Address)
			noErr(t, "TakeBundle", err)
			if err := sameDevice(b.Device, d); err != nil {
				t.Fatalf("bundle %d device: %v", i, err)
			}
			if b.SignedPreKey.ID != signed.ID || !bytes.Equal(b.SignedPreKey.PublicKey, signed.PublicKey) || !bytes.Equal(b.SignedPreKey.Signature, signed.Signature) {
				t.Fatalf("bundle %d signed prekey = %+v, want %+v", i, b.SignedPreKey, signed)
			}
			if i < 2 {
				if b.PreKey == nil {
					t.Fatalf("bundle %d: no one-time prekey, want one", i)
				}
				if want := fmt.Sprintf("prekey %d", b.PreKey.ID); string(b.PreKey.PublicKey) != want || pre[b.PreKey.ID] {
					t.Fatalf("bundle %d prekey = %d %q (seen before: %v)", i, b.PreKey.ID, b.PreKey.PublicKey, pre[b.PreKey.ID])
				}
				pre[b.PreKey.ID] = true
			} else if b.PreKey != nil {
				t.Fatalf("bundle %d: prekey %d, want none left", i, b.PreKey.ID)
			}
			if i < 3 {
				k := b.KEMPreKey
				if b.KEMLastResort || kem[k.ID] || string(k.PublicKey) != fmt.Sprintf("kem prekey %d", k.ID) || string(k.Signature) != fmt.Sprintf("kem sig %d", k.ID) {
					t.Fatalf("bundle %d KEM = %+v last resort %v (seen before: %v), want a fresh one-time key", i, k, b.KEMLastResort, kem[k.ID])
				}
				kem[k.ID] = true
			} else if !b.KEMLastResort || b.KEMPreKey.ID != lastResort.ID || !bytes.Equal(b.KEMPreKey.PublicKey, lastResort.PublicKey) || !bytes.Equal(b.KEMPreKey.Signature, lastResort.Signature) {
				t.Fatalf("bundle %d KEM = %+v last resort %v, want the last-resort key", i, b.KEMPreKey, b.KEMLastResort)
			}
			wantCounts(t, s, d, max(0, 1-i), max(0, 2-i))
		}
	})

	t.Run("UploadReplaces", func(t *testing.T) {
		s := fresh(t)
		d := stock(t, s, 1, 1)
		newSigned := store.SignedPreKey{ID: 8, PublicKey: []byte("new signed"), Signature: []byte("new sig")}
		newLR := store.KEMPreKey{ID: 100, PublicKey: []byte("new last resort"), Signature: []byte("new lr sig")}
		noErr(t, "SetSignedPreKey", s.SetSignedPreKey(ctx, d.Address, newSigned))
		noErr(t, "SetLastResortKEMPreKey", s.SetLastResortKEMPreKey(ctx, d.Address, newLR))
		noErr(t, "AddPreKeys", s.AddPreKeys(ctx, d.Address, []store.PreKey{{ID: 1, PublicKey: []byte("replaced")}}))
		wantCounts(t, s, d, 1, 1)
		b, err := s.TakeBundle(ctx, d.Address)
		noErr(t, "TakeBundle", err)
		if b.SignedPreKey.ID != 8 || string(b.SignedPreKey.PublicKey) != "new signed" {
			t.Fatalf("signed prekey = %+v, want the replacement", b.SignedPreKey)
		}
		if b.PreKey == nil || string(b.PreKey.PublicKey) != "replaced" {
			t.Fatalf("prekey = %+v, want the replaced id 1", b.PreKey)
		}
		b, err = s.TakeBundle(ctx, d.Address)
		noErr(t, "TakeBundle", err)
		if !b.KEMLastResort || b.KEMPreKey.ID != 100 || string(b.KEMPreKey.PublicKey) != "new last resort" {
			t.Fatalf("KEM = %+v, want the new last-resort key", b.KEMPreKey)
		}
	})

	t.Run("DevicesAreSeparate", func(t *testing.T) {
		s := fresh(t)
		d := stock(t, s, 3, 3)
		bob := register(t, s, "bob")
		noErr(t, "SetSignedPreKey bob", s.SetSignedPreKey(ctx, bob.Address, signed))
		noErr(t, "AddKEMPreKeys bob", s.AddKEMPreKeys(ctx, bob.Address, kemPreKeys(1, 1)))
		wantCounts(t, s, bob, 0, 1)
		b, err := s.TakeBundle(ctx, bob.Address)
		noErr(t, "TakeBundle bob", err)
		if b.PreKey != nil || b.KEMLastResort || b.Device.Address != bob.Address {
			t.Fatalf("bob's bundle = %+v, want bob's own one-time KEM key and no prekey", b)
		}
		wantCounts(t, s, d, 3, 3)
	})

	t.Run("ConcurrentTakeBundle", func(t *testing.T) {
		s := fresh(t)
		const keys, callers = 60, 100
		d := stock(t, s, keys, keys)
		bundles := make([]store.Bundle, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Go(func() {
				<-start
				bundles[i], errs[i] = s.TakeBundle(ctx, d.Address)
			})
		}
		close(start)
		wg.Wait()
		pre := map[uint32]int{}
		kem := map[uint32]int{}
		var lastResorts, noPre int
		for i, b := range bundles {
			noErr(t, fmt.Sprintf("TakeBundle %d", i), errs[i])
			if b.PreKey == nil {
				noPre++
			} else if pre[b.PreKey.ID]++; pre[b.PreKey.ID] > 1 {
				t.Errorf("prekey %d handed out twice", b.PreKey.ID)
			}
			if b.KEMLastResort {
				lastResorts++
			} else if kem[b.KEMPreKey.ID]++; kem[b.KEMPreKey.ID] > 1 {
				t.Errorf("KEM prekey %d handed out twice", b.KEMPreKey.ID)
			}
		}
		if len(pre) != keys || noPre != callers-keys || len(kem) != keys || lastResorts != callers-keys {
			t.Fatalf("%d distinct prekeys + %d without, %d distinct KEM + %d last resort; want %d + %d each",
				len(pre), noPre, len(kem), lastResorts, keys, callers-keys)
		}
		wantCounts(t, s, d, 0, 0)
	})
}
