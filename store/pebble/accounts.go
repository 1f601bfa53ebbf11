package pebble

import (
	"context"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// CreateAccount implements store.Accounts. The checks and the write happen
// under accountsMu, so two registrations racing for one handle, one device
// key or one invite cannot both succeed.
func (s *Store) CreateAccount(ctx context.Context, a store.Account, primary store.Device, invite string) error {
	if err := checkName("handle", a.Handle); err != nil {
		return fmt.Errorf("create account: %w: %w", ErrInvalid, err)
	}
	if primary.Address.User != a.Handle || primary.Address.Device != 1 {
		return fmt.Errorf("create account %s: primary device %s must be %s.1: %w", a.Handle, primary.Address, a.Handle, ErrInvalid)
	}
	if len(primary.IdentityKey) > maxKeyBytes {
		return fmt.Errorf("create account %s: identity key of %d bytes: %w", a.Handle, len(primary.IdentityKey), ErrInvalid)
	}
	release, err := s.enter()
	if err != nil {
		return fmt.Errorf("create account %s: %w", a.Handle, err)
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create account %s: %w", a.Handle, err)
	}
	s.accountsMu.Lock()
	defer s.accountsMu.Unlock()

	if _, found, err := s.get(accountKey(a.Handle)); err != nil {
		return fmt.Errorf("create account %s: %w", a.Handle, err)
	} else if found {
		return fmt.Errorf("create account %s: %w", a.Handle, store.ErrHandleTaken)
	}
	if _, found, err := s.get(noiseKeyKey(primary.NoiseKey)); err != nil {
		return fmt.Errorf("create account %s: %w", a.Handle, err)
	} else if found {
		return fmt.Errorf("create account %s: %w", a.Handle, store.ErrKeyRegistered)
	}
	b := s.db.NewBatch()
	defer b.Close()
	if invite != "" {
		inv, err := s.usableInviteLocked(invite, a.CreatedAt)
		if err != nil {
			return fmt.Errorf("create account %s: %w", a.Handle, err)
		}
		inv.UsedBy = a.Handle
		_ = b.Set(inviteKey(invite), encodeInvite(inv), nil)
	}
	_ = b.Set(accountKey(a.Handle), encodeAccount(a), nil)
	_ = b.Set(deviceKey(primary.Address), encodeDevice(primary), nil)
	_ = b.Set(noiseKeyKey(primary.NoiseKey), appendAddr(nil, primary.Address), nil)
	err = b.Commit(pebble.Sync)
	s.devices.invalidate(a.Handle) // even on failure: the batch may have landed
	if err != nil {
		return fmt.Errorf("create account %s: commit: %w", a.Handle, err)
	}
	return nil
}

// Account implements store.Accounts.
func (s *Store) Account(ctx context.Context, handle string) (store.Account, error) {
	if err := checkName("handle", handle); err != nil {
		return store.Account{}, fmt.Errorf("account: %w: %w", store.ErrNotFound, err)
	}
	a, gen, ok := s.devices.account(handle)
	if ok {
		return a, nil
	}
	v, err := s.read(ctx, accountKey(handle))
	if err != nil {
		return store.Account{}, fmt.Errorf("account %s: %w", handle, err)
	}
	a, err = decodeAccount(v)
	if err != nil {
		return store.Account{}, fmt.Errorf("account %s: %w", handle, err)
	}
	s.devices.putAccount(handle, a, gen) // devcache.go
	return a, nil
}

// DeviceByKey implements store.Accounts through the noise-key index.
func (s *Store) DeviceByKey(ctx context.Context, noiseKey [32]byte) (store.Device, error) {
	v, err := s.read(ctx, noiseKeyKey(noiseKey))
	if err != nil {
		return store.Device{}, fmt.Errorf("device by key: %w", err)
	}
	a, rest, err := decodeAddr(v)
	if err != nil || len(rest) != 0 {
		return store.Device{}, fmt.Errorf("device by key: index value: %w", errCorrupt)
	}
	return s.Device(ctx, a)
}

// Device implements store.Accounts.
func (s *Store) Device(ctx context.Context, addr protocol.Address) (store.Device, error) {
	if err := checkAddr(addr); err != nil {
		return store.Device{}, fmt.Errorf("device: %w: %w", store.ErrNotFound, err)
	}
	v, err := s.read(ctx, deviceKey(addr))
	if err != nil {
		return store.Device{}, fmt.Errorf("device %s: %w", addr, err)
	}
	d, err := decodeDevice(v)
	if err != nil {
		return store.Device{}, fmt.Errorf("device %s: %w", addr, err)
	}
	return d, nil
}

// Devices implements store.Accounts: one range scan, ordered by device id,
// remembered until the account's devices change (devcache.go).
func (s *Store) Devices(ctx context.Context, handle string) ([]store.Device, error) {
	e, err := s.cachedDevices(ctx, handle)
	if err != nil {
		return nil, err
	}
	return slices.Clone(e.devs), nil
}

// ActiveDeviceIDs implements store.Accounts from the same cache as
// Devices; the slice is the cache's own.
func (s *Store) ActiveDeviceIDs(ctx context.Context, handle string) ([]uint32, error) {
	e, err := s.cachedDevices(ctx, handle)
	if err != nil {
		return nil, err
	}
	return e.active, nil
}

// cachedDevices returns handle's cache entry, scanning the devices when
// it has none.
func (s *Store) cachedDevices(ctx context.Context, handle string) (cachedDevices, error) {
	release, err := s.enterRead(ctx)
	if err != nil {
		return cachedDevices{}, fmt.Errorf("devices of %s: %w", handle, err)
	}
	e, gen, ok := s.devices.get(handle)
	release()
	if ok {
		return e, nil
	}
	out, err := s.scanDevices(ctx, handle)
	if err != nil {
		return cachedDevices{}, err
	}
	return s.devices.put(handle, out, gen), nil
}

func (s *Store) scanDevices(ctx context.Context, handle string) ([]store.Device, error) {
	if _, err := s.Account(ctx, handle); err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	release, err := s.enterRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("devices of %s: %w", handle, err)
	}
	defer release()
	var out []store.Device
	lo, hi := devicesRange(handle)
	err = s.scan(lo, hi, func(_, v []byte) (bool, error) {
		d, err := decodeDevice(v)
		if err != nil {
			return false, err
		}
		out = append(out, d)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("devices of %s: %w", handle, err)
	}
	return out, nil
}

// read gets one value, with store.ErrNotFound for a missing key.
func (s *Store) read(ctx context.Context, key []byte) ([]byte, error) {
	release, err := s.enterRead(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, found, err := s.get(key)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, store.ErrNotFound
	}
	return v, nil
}
