package e2e

import "fmt"

// PreKeyBundle is what the server hands out for one remote device: enough to
// start a session without the device being online.
type PreKeyBundle struct {
	RegistrationID uint32
	DeviceID       uint32
	IdentityKey    PublicKey

	PreKeyID uint32
	PreKey   *PublicKey // nil when the server ran out of one-time prekeys

	SignedPreKeyID        uint32
	SignedPreKey          PublicKey
	SignedPreKeySignature []byte

	KEMPreKeyID        uint32
	KEMPreKey          *KEMPublicKey // nil only if Config.AllowNoKEM
	KEMPreKeySignature []byte
}

// verify checks both prekey signatures under the bundle's identity key and
// the KEM policy.
func (b *PreKeyBundle) verify(allowNoKEM bool) error {
	if b.IdentityKey.IsZero() || b.SignedPreKey.IsZero() {
		return fmt.Errorf("bundle: missing identity or signed prekey: %w", ErrInvalidKey)
	}
	if b.PreKey != nil && b.PreKey.IsZero() {
		return fmt.Errorf("bundle: empty one-time prekey: %w", ErrInvalidKey)
	}
	if !b.IdentityKey.VerifySignature(b.SignedPreKey.Bytes(), b.SignedPreKeySignature) {
		return fmt.Errorf("bundle: signed prekey %d: %w", b.SignedPreKeyID, ErrInvalidSignature)
	}
	if b.KEMPreKey == nil || b.KEMPreKey.IsZero() {
		if !allowNoKEM {
			return fmt.Errorf("bundle: no KEM prekey: %w", ErrKEMRequired)
		}
		return nil
	}
	if !b.IdentityKey.VerifySignature(b.KEMPreKey.Bytes(), b.KEMPreKeySignature) {
		return fmt.Errorf("bundle: KEM prekey %d: %w", b.KEMPreKeyID, ErrInvalidSignature)
	}
	return nil
}
