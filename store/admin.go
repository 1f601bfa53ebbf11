package store

import (
	"context"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Admin is what the operator's tools and the node's monitoring need beyond
// the daily work of sessions.
type Admin interface {
	// ListAccounts returns up to limit accounts whose handles sort after
	// after, in handle order (page with the last handle returned).
	ListAccounts(ctx context.Context, after string, limit int) ([]Account, error)
	// SetAccountDisabled sets the Disabled flag of the account and of every
	// one of its devices, durably; ErrNotFound for an unknown handle.
	SetAccountDisabled(ctx context.Context, handle string, disabled bool) error
	// DeleteDevice removes one device on the operator's word: its record,
	// Noise key index, prekeys, push token and whole queue, and remembers
	// the Noise key as removed (see DeviceLists.RemovedDevice). The signed
	// device list is the primary's to change and is left as it is.
	// ErrNotFound for an unknown device.
	DeleteDevice(ctx context.Context, addr protocol.Address) error
	// DeleteAccount removes the account, every device as DeleteDevice
	// does, its device list, presence records and contacts. Group
	// memberships are the caller's to end first (through Groups), so that
	// members learn of it. ErrNotFound for an unknown handle.
	DeleteAccount(ctx context.Context, handle string) error
	// QueueSpan is the distance between the first and the last seq in a
	// device's queue plus one (0 when empty): an upper bound of its depth
	// found with two seeks, so it can guard every send.
	QueueSpan(ctx context.Context, dev protocol.Address) (int, error)
	// QueueTotals counts every queued entry and reports the earliest expiry
	// (zero when none expire). It scans every queue: for start-up and
	// occasional sampling only.
	QueueTotals(ctx context.Context) (entries int, earliest time.Time, err error)
	// EarliestExpiry is the earliest expiry of any queued entry (zero when
	// none), found with one seek.
	EarliestExpiry(ctx context.Context) (time.Time, error)
	// Checkpoint writes a consistent, openable copy of the store into dir,
	// which must not exist, while the store keeps serving.
	Checkpoint(ctx context.Context, dir string) error
}

// PushToken is how the operator's push gateway reaches a device that is
// offline. The node never interprets Token.
type PushToken struct {
	Token     string
	Platform  string // e.g. "apns", "fcm", "unifiedpush"; free-form, bounded
	UpdatedAt time.Time
}

// Bounds of a push token record.
const (
	MaxPushTokenLen    = 4096
	MaxPushPlatformLen = 32
)

// PushTokens keeps each device's push token.
type PushTokens interface {
	// SetPushToken replaces the device's token; an empty Token removes it.
	// ErrNotFound for an unknown device.
	SetPushToken(ctx context.Context, addr protocol.Address, t PushToken) error
	// PushToken returns the device's token; ErrNotFound when it has none.
	PushToken(ctx context.Context, addr protocol.Address) (PushToken, error)
}
