package store

import (
	"context"
	"errors"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Sentinels of the multi-device, group and presence parts.
var (
	// ErrDeviceExists: AddDevice with a device id the account already used.
	ErrDeviceExists = errors.New("store: device id already used")
	// ErrStaleVersion: a device list or group write whose version does not
	// follow the stored one (a concurrent change won).
	ErrStaleVersion = errors.New("store: stale version")
	// ErrLimit: a bounded set (contacts) is full.
	ErrLimit = errors.New("store: limit reached")
)

// DeviceList is an account's device list as its primary signed it. The
// store keeps the bytes; the node checks them before storing.
type DeviceList struct {
	Version   uint64 // strictly increasing per account
	Content   []byte // serialised pb.DeviceListContent
	Signature []byte // XEdDSA by the primary's identity key over Content
}

// DeviceLists keeps signed device lists and links or removes companion
// devices together with the list that names them.
type DeviceLists interface {
	// DeviceList returns the account's current signed list; ErrNotFound
	// when the primary never uploaded one (or the account is unknown).
	DeviceList(ctx context.Context, handle string) (DeviceList, error)
	// SetDeviceList stores l; ErrStaleVersion unless l.Version is greater
	// than the stored version (0 when none). Durable when it returns.
	SetDeviceList(ctx context.Context, handle string, l DeviceList) error
	// NextDeviceID is the id AddDevice will accept next: ids are never
	// reused, even after RemoveDevice.
	NextDeviceID(ctx context.Context, handle string) (uint32, error)
	// AddDevice stores a new companion device d of an existing account
	// with the list that names it, atomically and durably. d.Address.Device
	// must be NextDeviceID (ErrDeviceExists otherwise); ErrKeyRegistered
	// when d's Noise key belongs to a device; ErrStaleVersion as for
	// SetDeviceList.
	AddDevice(ctx context.Context, d Device, l DeviceList) error
	// RemoveDevice deletes a companion device, its prekeys, its whole queue
	// and its Noise key index, remembers the Noise key as removed (see
	// RemovedDevice), and stores l, atomically and durably. The primary
	// (device 1) cannot be removed (ErrInvalid-like error from the
	// implementation); ErrNotFound for an unknown device.
	RemoveDevice(ctx context.Context, addr protocol.Address, l DeviceList) error
	// RemovedDevice reports the address a Noise key had before its device
	// was removed; ErrNotFound for keys never removed.
	RemovedDevice(ctx context.Context, noiseKey [32]byte) (protocol.Address, error)
}

// Presence keeps what presence needs to survive a restart: last-seen
// times, the last-seen privacy setting, and each account's contacts (the
// users it sent messages to), which that setting may refer to. None of it
// needs a synced write: losing the last second of it in a crash is
// harmless.
type Presence interface {
	SetLastSeen(ctx context.Context, handle string, t time.Time) error
	// LastSeen is the zero time for a user never seen offline.
	LastSeen(ctx context.Context, handle string) (time.Time, error)
	// SetPrivacy stores the last-seen privacy setting (0 = everyone, the
	// default for accounts that never set one).
	SetPrivacy(ctx context.Context, handle string, setting uint8) error
	Privacy(ctx context.Context, handle string) (uint8, error)
	// AddContact records that owner sent something to peer. Idempotent;
	// ErrLimit when owner already has MaxContacts others.
	AddContact(ctx context.Context, owner, peer string) error
	IsContact(ctx context.Context, owner, peer string) (bool, error)
}

// MaxContacts bounds one account's contact set.
const MaxContacts = 4096
