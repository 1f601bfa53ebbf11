package pebble

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// maxListBytes bounds a stored signed device list (content + signature).
const maxListBytes = 16 << 10

func encodeDeviceList(l store.DeviceList) []byte {
	e := newEnc(len(l.Content) + len(l.Signature) + 16)
	e.i64(int64(l.Version))
	e.bytes(l.Content)
	e.bytes(l.Signature)
	return e.b
}

func decodeDeviceList(b []byte) (store.DeviceList, error) {
	d := newDec("device list", b)
	l := store.DeviceList{
		Version:   uint64(d.i64("version")),
		Content:   d.bytes("content", maxListBytes),
		Signature: d.bytes("signature", maxKeyBytes),
	}
	return l, d.done("device list")
}

func checkList(l store.DeviceList) error {
	if l.Version == 0 || len(l.Content) == 0 || len(l.Content) > maxListBytes || len(l.Signature) > maxKeyBytes {
		return fmt.Errorf("device list version %d, %d content bytes: %w", l.Version, len(l.Content), ErrInvalid)
	}
	return nil
}

// DeviceList implements store.DeviceLists.
func (s *Store) DeviceList(ctx context.Context, handle string) (store.DeviceList, error) {
	if err := checkName("handle", handle); err != nil {
		return store.DeviceList{}, fmt.Errorf("device list: %w: %w", store.ErrNotFound, err)
	}
	v, err := s.read(ctx, nameKey(pDeviceList, handle))
	if err != nil {
		return store.DeviceList{}, fmt.Errorf("device list of %s: %w", handle, err)
	}
	return decodeDeviceList(v)
}

// storedListVersion reads the current version (0 when none); callers hold
// accountsMu.
func (s *Store) storedListVersion(handle string) (uint64, error) {
	v, found, err := s.get(nameKey(pDeviceList, handle))
	if err != nil || !found {
		return 0, err
	}
	l, err := decodeDeviceList(v)
	return l.Version, err
}

// withAccount runs fn under closeMu's read side and accountsMu, after
// checking the account exists.
func (s *Store) withAccount(ctx context.Context, op, handle string, fn func() error) error {
	if err := checkName("handle", handle); err != nil {
		return fmt.Errorf("%s: %w: %w", op, ErrInvalid, err)
	}
	release, err := s.enter()
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, handle, err)
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, handle, err)
	}
	s.accountsMu.Lock()
	defer s.accountsMu.Unlock()
	if _, found, err := s.get(accountKey(handle)); err != nil {
		return fmt.Errorf("%s %s: %w", op, handle, err)
	} else if !found {
		return fmt.Errorf("%s %s: %w", op, handle, store.ErrNotFound)
	}
	if err := fn(); err != nil {
		return fmt.Errorf("%s %s: %w", op, handle, err)
	}
	return nil
}

func (s *Store) checkListVersion(handle string, l store.DeviceList) error {
	if err := checkList(l); err != nil {
		return err
	}
	cur, err := s.storedListVersion(handle)
	if err != nil {
		return err
	}
	if l.Version <= cur {
		return fmt.Errorf("list version %d after %d: %w", l.Version, cur, store.ErrStaleVersion)
	}
	return nil
}

// SetDeviceList implements store.DeviceLists.
func (s *Store) SetDeviceList(ctx context.Context, handle string, l store.DeviceList) error {
	return s.withAccount(ctx, "set device list", handle, func() error {
		if err := s.checkListVersion(handle, l); err != nil {
			return err
		}
		return s.commitStaged(ctx, func(g *groupState) error {
			g.sync = true
			return g.b.Set(nameKey(pDeviceList, handle), encodeDeviceList(l), nil)
		})
	})
}

// lastDeviceID is the highest id ever handed out: the stored counter or,
// for accounts that never linked, the highest existing device.
func (s *Store) lastDeviceID(handle string) (uint32, error) {
	last := uint32(1)
	if v, found, err := s.get(nameKey(pLastDevice, handle)); err != nil {
		return 0, err
	} else if found && len(v) == 4 {
		last = binary.BigEndian.Uint32(v)
	}
	lo, hi := devicesRange(handle)
	err := s.scan(lo, hi, func(k, _ []byte) (bool, error) {
		a, _, err := decodeAddr(k[1:])
		if err != nil {
			return false, err
		}
		last = max(last, a.Device)
		return true, nil
	})
	return last, err
}

// NextDeviceID implements store.DeviceLists.
func (s *Store) NextDeviceID(ctx context.Context, handle string) (uint32, error) {
	var next uint32
	err := s.withAccount(ctx, "next device id", handle, func() error {
		last, err := s.lastDeviceID(handle)
		next = last + 1
		return err
	})
	return next, err
}

// AddDevice implements store.DeviceLists.
func (s *Store) AddDevice(ctx context.Context, d store.Device, l store.DeviceList) error {
	handle := d.Address.User
	if err := checkAddr(d.Address); err != nil || d.Address.Device < 2 || len(d.IdentityKey) > maxKeyBytes {
		return fmt.Errorf("add device %s: %w", d.Address, ErrInvalid)
	}
	err := s.withAccount(ctx, "add device", handle, func() error {
		if err := s.checkListVersion(handle, l); err != nil {
			return err
		}
		last, err := s.lastDeviceID(handle)
		if err != nil {
			return err
		}
		if d.Address.Device != last+1 {
			return fmt.Errorf("device id %d, next is %d: %w", d.Address.Device, last+1, store.ErrDeviceExists)
		}
		if _, found, err := s.get(noiseKeyKey(d.NoiseKey)); err != nil {
			return err
		} else if found {
			return store.ErrKeyRegistered
		}
		err = s.commitStaged(ctx, func(g *groupState) error {
			g.sync = true
			for _, kv := range [][2][]byte{
				{deviceKey(d.Address), encodeDevice(d)},
				{noiseKeyKey(d.NoiseKey), appendAddr(nil, d.Address)},
				{nameKey(pLastDevice, handle), encodeU32(d.Address.Device)},
				{nameKey(pDeviceList, handle), encodeDeviceList(l)},
			} {
				if err := g.b.Set(kv[0], kv[1], nil); err != nil {
					return err
				}
			}
			return nil
		})
		s.devices.invalidate(handle) // even on failure: the batch may have landed
		return err
	})
	return err
}

// RemoveDevice implements store.DeviceLists. The queue goes with one range
// deletion staged in the committer's batch, so even entries enqueued for
// the device in the same batch are gone; their expiry index keys, if any
// slip through, point at nothing and are dropped by the next expiry run.
func (s *Store) RemoveDevice(ctx context.Context, a protocol.Address, l store.DeviceList) error {
	if err := checkAddr(a); err != nil || a.Device < 2 {
		return fmt.Errorf("remove device %s: only companions can be removed: %w", a, ErrInvalid)
	}
	return s.withAccount(ctx, "remove device", a.User, func() error {
		if err := s.checkListVersion(a.User, l); err != nil {
			return err
		}
		// The same deletion an operator's `devices remove` does (admin.go),
		// plus the new signed list in the same synced batch.
		err := s.deleteDevicesLocked(ctx, a.User, []protocol.Address{a}, func(g *groupState) error {
			return g.b.Set(nameKey(pDeviceList, a.User), encodeDeviceList(l), nil)
		})
		s.devices.invalidate(a.User)
		return err
	})
}

// RemovedDevice implements store.DeviceLists.
func (s *Store) RemovedDevice(ctx context.Context, noiseKey [32]byte) (protocol.Address, error) {
	v, err := s.read(ctx, removedKey(noiseKey))
	if err != nil {
		return protocol.Address{}, fmt.Errorf("removed device: %w", err)
	}
	a, rest, err := decodeAddr(v)
	if err != nil || len(rest) != 0 {
		return protocol.Address{}, fmt.Errorf("removed device: %w", errCorrupt)
	}
	return a, nil
}
