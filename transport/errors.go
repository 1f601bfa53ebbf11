package transport

import (
	"errors"
	"fmt"
)

var (
	// ErrServerKeyChanged means the node presented (XX) or could not prove
	// (IK) a static key other than the one the client pinned. It is never
	// resolved automatically: the user must decide whether to trust the new
	// key. Use errors.As with *KeyChangedError for the keys involved.
	ErrServerKeyChanged = errors.New("transport: server key changed")

	// ErrHandshake wraps every handshake failure (bad record, failed Noise
	// message, unsupported pattern, timeout). A timeout also matches
	// os.ErrDeadlineExceeded.
	ErrHandshake = errors.New("transport: handshake failed")

	// ErrFrameTooLarge means a frame exceeds protocol.MaxFrameSize. On read
	// it is detected from the length header alone, before any allocation,
	// and the connection is closed.
	ErrFrameTooLarge = errors.New("transport: frame too large")

	// ErrDecrypt means a frame failed authentication (tampered, truncated to
	// a wrong length, or out of order). The connection is closed: its nonce
	// stream can no longer be trusted.
	ErrDecrypt = errors.New("transport: frame decryption failed")

	// ErrNonceExhausted means a direction has used all 2^64-1 Noise nonces;
	// a new handshake is required. Unreachable in practice, but checked so a
	// nonce is never reused.
	ErrNonceExhausted = errors.New("transport: nonce space exhausted, reconnect")

	// ErrClosed is returned by operations on a connection that is closed or
	// that an earlier error has made unusable.
	ErrClosed = errors.New("transport: connection closed")
)

// KeyChangedError details ErrServerKeyChanged. Presented is the key the node
// showed in an XX handshake; it is the zero key after a refused IK handshake,
// where the node's actual key is not learned.
type KeyChangedError struct {
	Pinned    PublicKey
	Presented PublicKey
}

func (e *KeyChangedError) Error() string {
	if e.Presented.IsZero() {
		return fmt.Sprintf("transport: server key changed: the server could not prove the pinned key %s (it has a different key, or the connection was tampered with)", e.Pinned)
	}
	return fmt.Sprintf("transport: server key changed: pinned %s, server presented %s", e.Pinned, e.Presented)
}

// Unwrap makes errors.Is(err, ErrServerKeyChanged) hold.
func (e *KeyChangedError) Unwrap() error { return ErrServerKeyChanged }
