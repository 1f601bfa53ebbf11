package pebble

import (
	"context"
	"fmt"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// MaxKeysPerUpload bounds one AddPreKeys/AddKEMPreKeys call.
const MaxKeysPerUpload = 10000

// keyLock returns the stripe lock that serialises prekey changes of a device.
func (s *Store) keyLock(a protocol.Address) *sync.Mutex {
	return &s.keyMu[s.stripe(a)%keyStripes]
}

// withDevice runs fn under the device's key lock after checking that the
// device exists; prekeys of unknown devices are refused with ErrNotFound.
func (s *Store) withDevice(ctx context.Context, op string, a protocol.Address, fn func(store.Device) error) error {
	if err := checkAddr(a); err != nil {
		return fmt.Errorf("%s: %w: %w", op, store.ErrNotFound, err)
	}
	release, err := s.enter()
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, a, err)
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, a, err)
	}
	mu := s.keyLock(a)
	mu.Lock()
	defer mu.Unlock()
	v, found, err := s.get(deviceKey(a))
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, a, err)
	}
	if !found {
		return fmt.Errorf("%s %s: device: %w", op, a, store.ErrNotFound)
	}
	d, err := decodeDevice(v)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, a, err)
	}
	if err := fn(d); err != nil {
		return fmt.Errorf("%s %s: %w", op, a, err)
	}
	return nil
}

func checkKey(k keyRecord) error {
	if len(k.PublicKey) == 0 || len(k.PublicKey) > maxKeyBytes || len(k.Signature) > maxKeyBytes {
		return fmt.Errorf("key %d: public key of %d bytes, signature of %d: %w", k.ID, len(k.PublicKey), len(k.Signature), ErrInvalid)
	}
	return nil
}

// setKey writes one signed key durably.
func (s *Store) setKey(ctx context.Context, op string, prefix byte, a protocol.Address, k keyRecord) error {
	if err := checkKey(k); err != nil {
		return fmt.Errorf("%s %s: %w", op, a, err)
	}
	return s.withDevice(ctx, op, a, func(store.Device) error {
		return s.db.Set(addrKey(prefix, a), encodeKey(k), pebble.Sync)
	})
}

// SetSignedPreKey implements store.Keys.
func (s *Store) SetSignedPreKey(ctx context.Context, a protocol.Address, k store.SignedPreKey) error {
	return s.setKey(ctx, "set signed prekey", pSignedPre, a, keyRecord(k))
}

// SetLastResortKEMPreKey implements store.Keys.
func (s *Store) SetLastResortKEMPreKey(ctx context.Context, a protocol.Address, k store.KEMPreKey) error {
	return s.setKey(ctx, "set last-resort KEM prekey", pLastResort, a, keyRecord(k))
}

// addKeys writes one-time keys in one durable batch.
func (s *Store) addKeys(ctx context.Context, op string, prefix byte, a protocol.Address, ks []keyRecord) error {
	if len(ks) > MaxKeysPerUpload {
		return fmt.Errorf("%s %s: %d keys, limit %d: %w", op, a, len(ks), MaxKeysPerUpload, ErrInvalid)
	}
	for _, k := range ks {
		if err := checkKey(k); err != nil {
			return fmt.Errorf("%s %s: %w", op, a, err)
		}
	}
	if len(ks) == 0 {
		return nil
	}
	return s.withDevice(ctx, op, a, func(store.Device) error {
		b := s.db.NewBatch()
		defer b.Close()
		for _, k := range ks {
			_ = b.Set(oneTimeKey(prefix, a, k.ID), encodeKey(k), nil)
		}
		return b.Commit(pebble.Sync)
	})
}

// AddPreKeys implements store.Keys.
func (s *Store) AddPreKeys(ctx context.Context, a protocol.Address, ks []store.PreKey) error {
	recs := make([]keyRecord, len(ks))
	for i, k := range ks {
		recs[i] = keyRecord{ID: k.ID, PublicKey: k.PublicKey}
	}
	return s.addKeys(ctx, "add prekeys", pPreKey, a, recs)
}

// AddKEMPreKeys implements store.Keys.
func (s *Store) AddKEMPreKeys(ctx context.Context, a protocol.Address, ks []store.KEMPreKey) error {
	recs := make([]keyRecord, len(ks))
	for i, k := range ks {
		recs[i] = keyRecord(k)
	}
	return s.addKeys(ctx, "add KEM prekeys", pKEMPreKey, a, recs)
}

// firstKey returns the lowest-id one-time key under prefix|addr.
func (s *Store) firstKey(prefix byte, a protocol.Address) (key []byte, k keyRecord, found bool, err error) {
	lo, hi := idRange(prefix, a)
	err = s.scan(lo, hi, func(kk, v []byte) (bool, error) {
		k, err = decodeKey(v)
		if err != nil {
			return false, err
		}
		key, found = append([]byte(nil), kk...), true
		return false, nil
	})
	return key, k, found, err
}

// TakeBundle implements store.Keys. The device's key lock makes the
// read-and-delete atomic against other TakeBundle calls; the deletion is
// synced before the bundle is handed out, so a crash cannot hand the same
// one-time key out again.
func (s *Store) TakeBundle(ctx context.Context, a protocol.Address) (store.Bundle, error) {
	var bundle store.Bundle
	err := s.withDevice(ctx, "take bundle", a, func(d store.Device) error {
		bundle.Device = d
		v, found, err := s.get(addrKey(pSignedPre, a))
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no signed prekey: %w", store.ErrNotFound)
		}
		spk, err := decodeKey(v)
		if err != nil {
			return err
		}
		bundle.SignedPreKey = store.SignedPreKey(spk)

		var consume [][]byte
		pk, k, found, err := s.firstKey(pPreKey, a)
		if err != nil {
			return err
		}
		if found {
			bundle.PreKey = &store.PreKey{ID: k.ID, PublicKey: k.PublicKey}
			consume = append(consume, pk)
		}
		kk, k, found, err := s.firstKey(pKEMPreKey, a)
		if err != nil {
			return err
		}
		if found {
			bundle.KEMPreKey = store.KEMPreKey(k)
			consume = append(consume, kk)
		} else {
			v, found, err := s.get(addrKey(pLastResort, a))
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("no KEM prekey: %w", store.ErrNotFound)
			}
			lr, err := decodeKey(v)
			if err != nil {
				return err
			}
			bundle.KEMPreKey, bundle.KEMLastResort = store.KEMPreKey(lr), true
		}
		if len(consume) == 0 {
			return nil
		}
		b := s.db.NewBatch()
		defer b.Close()
		for _, key := range consume {
			_ = b.Delete(key, nil)
		}
		return b.Commit(pebble.Sync)
	})
	if err != nil {
		return store.Bundle{}, err
	}
	return bundle, nil
}

// KeyCounts implements store.Keys by counting the two one-time key ranges.
func (s *Store) KeyCounts(ctx context.Context, a protocol.Address) (store.KeyCounts, error) {
	var c store.KeyCounts
	err := s.withDevice(ctx, "key counts", a, func(store.Device) error {
		count := func(prefix byte) (int, error) {
			n := 0
			lo, hi := idRange(prefix, a)
			err := s.scan(lo, hi, func(_, _ []byte) (bool, error) { n++; return true, nil })
			return n, err
		}
		var err error
		if c.PreKeys, err = count(pPreKey); err != nil {
			return err
		}
		c.KEMPreKeys, err = count(pKEMPreKey)
		return err
	})
	return c, err
}
