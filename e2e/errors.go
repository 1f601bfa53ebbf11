package e2e

import "errors"

// Sentinel errors. Callers test for them with errors.Is; every error returned
// by this package wraps one of these (or a store's own error) with context.
var (
	// ErrUntrustedIdentity: the remote identity key differs from the one the
	// IdentityStore trusts for that address. Save the new key (after the user
	// has verified it) and retry.
	ErrUntrustedIdentity = errors.New("e2e: untrusted identity key")
	// ErrDuplicateMessage: the message key for this counter was already used
	// (a replay, or a redelivery after a crash).
	ErrDuplicateMessage = errors.New("e2e: duplicate message")
	// ErrInvalidMessage: the ciphertext is malformed, truncated, fails its MAC
	// or cannot be decrypted by any known session state.
	ErrInvalidMessage = errors.New("e2e: invalid message")
	// ErrInvalidSignature: a signed prekey, KEM prekey or other signature does
	// not verify under the claimed identity key.
	ErrInvalidSignature = errors.New("e2e: invalid signature")
	// ErrNoSession: there is no session with the remote address.
	ErrNoSession = errors.New("e2e: no session")
	// ErrInvalidKey: a key has the wrong length, type byte or is not a valid
	// curve point / KEM key.
	ErrInvalidKey = errors.New("e2e: invalid key")
	// ErrTooManySkipped: the message is further ahead in its chain than
	// Config.MaxSkip allows, so its key is not derived.
	ErrTooManySkipped = errors.New("e2e: too many skipped messages")
	// ErrNoSenderKey: no sender key state for the (sender, distribution id).
	ErrNoSenderKey = errors.New("e2e: no sender key")
	// ErrUnsupportedVersion: a message or stored record carries a version this
	// build does not speak.
	ErrUnsupportedVersion = errors.New("e2e: unsupported version")
	// ErrNoPreKey: a prekey message names a prekey the local stores no longer
	// hold (already used, or never uploaded).
	ErrNoPreKey = errors.New("e2e: prekey not found")
	// ErrKEMRequired: a bundle or prekey message lacks the post-quantum KEM
	// part and Config.AllowNoKEM is false.
	ErrKEMRequired = errors.New("e2e: KEM prekey required")
	// ErrInvalidRecord: a stored record (session, prekey) cannot be parsed.
	ErrInvalidRecord = errors.New("e2e: invalid stored record")
)
