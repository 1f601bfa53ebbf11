package store

import (
	"context"
	"errors"
	"time"

	"github.com/parley-im/parley/protocol"
)

// Sentinel errors; implementations wrap them so callers use errors.Is.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrHandleTaken   = errors.New("store: handle taken")
	ErrKeyRegistered = errors.New("store: device key already registered")
	ErrInviteInvalid = errors.New("store: invite unknown, used, revoked or expired")
	ErrClosed        = errors.New("store: closed")
)

// Device is one registered device of an account.
type Device struct {
	Address        protocol.Address
	NoiseKey       [32]byte // the device's Noise static public key: how it authenticates
	RegistrationID uint32   // Signal registration id
	IdentityKey    []byte   // Signal identity public key (libsignal serialisation)
	CreatedAt      time.Time
	Disabled       bool
}

// Account is a user: a handle and its devices (device 1 is the primary).
type Account struct {
	Handle    string
	CreatedAt time.Time
	Disabled  bool
}

// SignedPreKey, PreKey and KEMPreKey are stored as the device uploaded them:
// the store does not interpret key bytes.
type SignedPreKey struct {
	ID        uint32
	PublicKey []byte
	Signature []byte
}

type PreKey struct {
	ID        uint32
	PublicKey []byte
}

type KEMPreKey struct {
	ID        uint32
	PublicKey []byte
	Signature []byte
}

// Bundle is what TakeBundle hands out for one device.
type Bundle struct {
	Device        Device
	SignedPreKey  SignedPreKey
	PreKey        *PreKey   // nil when the device has no one-time prekeys left
	KEMPreKey     KEMPreKey // one-time if any left, else the last-resort key
	KEMLastResort bool
}

// KeyCounts is how many one-time keys a device has left on the node.
type KeyCounts struct {
	PreKeys    int
	KEMPreKeys int
}

// Accounts keeps accounts and devices.
type Accounts interface {
	// CreateAccount stores a new account with its primary device (whose
	// Address.Device must be 1). ErrHandleTaken or ErrKeyRegistered when they
	// exist. A non-empty invite code is consumed in the same atomic write
	// (ErrInviteInvalid when it is not usable at a.CreatedAt). The write is
	// durable when it returns.
	CreateAccount(ctx context.Context, a Account, primary Device, invite string) error
	Account(ctx context.Context, handle string) (Account, error)
	// DeviceByKey finds the device that owns a Noise static key.
	DeviceByKey(ctx context.Context, noiseKey [32]byte) (Device, error)
	Device(ctx context.Context, addr protocol.Address) (Device, error)
	// Devices lists an account's devices, ordered by id; ErrNotFound for an
	// unknown handle.
	Devices(ctx context.Context, handle string) ([]Device, error)
	// ActiveDeviceIDs lists the ids of an account's devices that are not
	// disabled, ascending; ErrNotFound for an unknown handle. Every Send
	// asks it twice, so the slice may be shared: callers must not modify
	// it.
	ActiveDeviceIDs(ctx context.Context, handle string) ([]uint32, error)
}

// Keys keeps each device's Signal prekeys.
type Keys interface {
	// SetSignedPreKey replaces the device's signed prekey.
	SetSignedPreKey(ctx context.Context, addr protocol.Address, k SignedPreKey) error
	// SetLastResortKEMPreKey replaces the device's last-resort KEM prekey.
	SetLastResortKEMPreKey(ctx context.Context, addr protocol.Address, k KEMPreKey) error
	// AddPreKeys and AddKEMPreKeys add one-time keys; an id already stored is
	// replaced.
	AddPreKeys(ctx context.Context, addr protocol.Address, ks []PreKey) error
	AddKEMPreKeys(ctx context.Context, addr protocol.Address, ks []KEMPreKey) error
	// TakeBundle atomically removes and returns one one-time prekey and one
	// one-time KEM prekey (falling back to the last-resort KEM key). Two
	// concurrent calls never return the same one-time key. ErrNotFound when the
	// device has no signed prekey or no KEM key at all.
	TakeBundle(ctx context.Context, addr protocol.Address) (Bundle, error)
	KeyCounts(ctx context.Context, addr protocol.Address) (KeyCounts, error)
}

// Entry is one item of a device's queue. The payload is opaque to the store.
type Entry struct {
	Device  protocol.Address
	Seq     uint64 // assigned by Enqueue, strictly increasing per device, never reused once durable
	Payload []byte
	Expires time.Time // zero: never expires
}

// Pending is an EnqueueAsync in progress.
type Pending interface {
	// Done is closed once the outcome is known.
	Done() <-chan struct{}
	// Wait waits for Done and returns what Enqueue would have returned; on
	// success the entries' Seq fields are set. It may be called repeatedly.
	Wait() error
}

// Queues keeps the per-device message queues.
type Queues interface {
	// Enqueue appends entries (to any number of devices) in one batch and
	// returns only after the batch is synced to stable storage. It assigns each
	// entry's Seq in place. Concurrent callers share syncs (group commit).
	Enqueue(ctx context.Context, entries []*Entry) error
	// ReadQueue returns up to limit entries of a device with Seq > after, in
	// order, skipping expired ones.
	ReadQueue(ctx context.Context, dev protocol.Address, after uint64, limit int) ([]Entry, error)
	// Ack deletes the given entries of a device and returns the ones that
	// existed (so the caller can send receipts exactly once). The deletion is
	// durable when it returns.
	Ack(ctx context.Context, dev protocol.Address, seqs []uint64) ([]Entry, error)
	// EnqueueAsync is Enqueue without the wait: it hands the batch to the
	// store and returns; the Pending reports the outcome. Batches handed over
	// one after another by one goroutine (by Enqueue or EnqueueAsync) get
	// their seqs in that order, so a session can keep many sends in flight
	// without reordering a device's queue.
	//
	// onVisible, when not nil, is called once the batch is readable
	// (ReadQueue returns it) and the entries' Seq are set, before it is
	// durable: a node can deliver to online devices while the disk syncs,
	// and answer the sender (Done) only once it has. Calls come in seq
	// order, batch after batch. A crash before Done may lose a visible
	// batch (its sender was never answered), and the seqs it used may then
	// be handed out again after the restart. onVisible runs on the store's writer
	// goroutine: it must be quick and must not call the store. It is not
	// called for a batch that fails before becoming visible.
	EnqueueAsync(ctx context.Context, entries []*Entry, onVisible func([]*Entry)) Pending
	// AckAndEnqueue deletes the given entries of a device and, in the same
	// atomic batch, enqueues the entries makeReceipts builds from the ones
	// that existed (receipts to their senders), so a crash can lose neither
	// half without the other. It returns the deleted entries in seq order and
	// sets the receipts' Seq. makeReceipts runs before the batch is written,
	// while the store holds off Close: it must be quick, must not call the
	// store's write methods, must read the store only with the ctx it is
	// given (reads with another ctx may deadlock against Close) and must not
	// keep the slice. When it returns no entries the deletion may
	// become durable only with the store's next synced write: a crash before
	// that redelivers those entries, which devices drop as duplicates.
	AckAndEnqueue(ctx context.Context, dev protocol.Address, seqs []uint64, makeReceipts func(ctx context.Context, deleted []Entry) []*Entry) ([]Entry, error)
	// QueueDepth counts a device's unexpired entries.
	QueueDepth(ctx context.Context, dev protocol.Address) (int, error)
	// ExpireQueues deletes every entry whose Expires is before now and
	// reports how many it deleted.
	ExpireQueues(ctx context.Context, now time.Time) (int, error)
}

// Invite is a registration code made by the operator.
type Invite struct {
	Code      string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
	UsedBy    string    // handle that used it; empty while unused
	Revoked   bool
}

// Invites keeps registration invites.
type Invites interface {
	CreateInvite(ctx context.Context, inv Invite) error
	// UseInvite marks an unused, unexpired, unrevoked invite as used by handle;
	// ErrInviteInvalid otherwise.
	UseInvite(ctx context.Context, code, handle string, now time.Time) error
	Invites(ctx context.Context) ([]Invite, error)
	RevokeInvite(ctx context.Context, code string) error
}

// Store is everything a node keeps.
type Store interface {
	Accounts
	Keys
	Queues
	Invites
	DeviceLists // devices.go
	Groups      // groups.go
	Presence    // devices.go
	Admin       // admin.go
	PushTokens  // admin.go
	Close() error
}
