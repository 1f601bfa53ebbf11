package e2e

import (
	"context"
	"fmt"
)

// Address names one device of one account.
type Address struct {
	Name     string
	DeviceID uint32
}

// String returns "name.device", libsignal's ProtocolAddress form.
func (a Address) String() string { return fmt.Sprintf("%s.%d", a.Name, a.DeviceID) }

// Direction tells IsTrustedIdentity whether the key is about to be used to
// send or was seen on a received message; stores may apply different policy.
type Direction int

const (
	// Sending: we are about to encrypt to the key.
	Sending Direction = iota
	// Receiving: the key arrived with a message.
	Receiving
)

// IdentityStore holds our identity and the remote identities we trust.
// Implementations must be safe for concurrent use.
type IdentityStore interface {
	IdentityKeyPair(ctx context.Context) (IdentityKeyPair, error)
	LocalRegistrationID(ctx context.Context) (uint32, error)
	// SaveIdentity records key as addr's identity; replaced reports whether
	// a different key was stored before.
	SaveIdentity(ctx context.Context, addr Address, key PublicKey) (replaced bool, err error)
	// IsTrustedIdentity is trust-on-first-use by default: an unknown address
	// is trusted, a known one only with the same key.
	IsTrustedIdentity(ctx context.Context, addr Address, key PublicKey, dir Direction) (bool, error)
	// Identity returns the stored key, or nil, nil when none.
	Identity(ctx context.Context, addr Address) (*PublicKey, error)
}

// SessionStore persists session records. LoadSession returns nil, nil when
// there is none. Records handed to StoreSession must not be retained and
// mutated by the store; implementations should store rec.Marshal() or a copy.
type SessionStore interface {
	LoadSession(ctx context.Context, addr Address) (*SessionRecord, error)
	StoreSession(ctx context.Context, addr Address, rec *SessionRecord) error
}

// PreKeyStore holds one-time Curve25519 prekeys. LoadPreKey returns an error
// wrapping ErrNoPreKey when id is unknown.
type PreKeyStore interface {
	LoadPreKey(ctx context.Context, id uint32) (PreKeyRecord, error)
	RemovePreKey(ctx context.Context, id uint32) error
}

// SignedPreKeyStore holds signed prekeys. LoadSignedPreKey returns an error
// wrapping ErrNoPreKey when id is unknown.
type SignedPreKeyStore interface {
	LoadSignedPreKey(ctx context.Context, id uint32) (SignedPreKeyRecord, error)
}

// KEMPreKeyStore holds ML-KEM prekeys. MarkKEMPreKeyUsed removes a one-time
// KEM prekey and keeps a last-resort one.
type KEMPreKeyStore interface {
	LoadKEMPreKey(ctx context.Context, id uint32) (KEMPreKeyRecord, error)
	MarkKEMPreKeyUsed(ctx context.Context, id uint32) error
}

// SenderKeyStore holds Sender Key records per (sender, distribution id).
// LoadSenderKey returns nil, nil when none.
type SenderKeyStore interface {
	StoreSenderKey(ctx context.Context, sender Address, distributionID [16]byte, rec *SenderKeyRecord) error
	LoadSenderKey(ctx context.Context, sender Address, distributionID [16]byte) (*SenderKeyRecord, error)
}

// Stores bundles the stores 1:1 sessions need.
type Stores struct {
	Identity      IdentityStore
	Sessions      SessionStore
	PreKeys       PreKeyStore
	SignedPreKeys SignedPreKeyStore
	KEMPreKeys    KEMPreKeyStore
}
