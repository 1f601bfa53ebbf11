package mediacrypt

import "errors"

// Sentinel errors. Every error this package returns wraps one of these (or
// an I/O error from the caller's reader or writer), so callers use errors.Is.
var (
	// ErrTruncated: the stream ended before a valid final chunk, for example
	// a download cut at a chunk boundary or inside the header.
	ErrTruncated = errors.New("mediacrypt: stream truncated")
	// ErrTampered: a chunk failed authentication. The stream was modified,
	// reordered, duplicated, cut inside a chunk (indistinguishable from a
	// modified last chunk), has data after its final chunk, or the key is
	// wrong.
	ErrTampered = errors.New("mediacrypt: stream tampered or wrong key")
	// ErrInvalidHeader: the header names an unknown version or an
	// out-of-range chunk size.
	ErrInvalidHeader = errors.New("mediacrypt: invalid header")
	// ErrInvalidKey: a media key is not exactly KeySize bytes.
	ErrInvalidKey = errors.New("mediacrypt: invalid media key")
	// ErrHashMismatch: the stream decrypted but its ciphertext or plaintext
	// SHA-256 differs from the one the sender announced.
	ErrHashMismatch = errors.New("mediacrypt: hash mismatch")
	// ErrClosed: Write or Close on a Writer that is already closed.
	ErrClosed = errors.New("mediacrypt: writer closed")
)
