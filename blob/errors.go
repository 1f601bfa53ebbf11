package blob

import "errors"

// Sentinel errors shared by every store. Implementations wrap them with
// context, so callers test with errors.Is.
var (
	// ErrNotFound: no blob (or no pending upload) has that key.
	ErrNotFound = errors.New("blob: not found")
	// ErrInvalidKey: the key breaks the key rules (see ValidKey).
	ErrInvalidKey = errors.New("blob: invalid key")
	// ErrExists: a blob or a pending upload already has that key; blobs are
	// create-only, so nothing was written.
	ErrExists = errors.New("blob: already exists")
	// ErrInvalidRange: a read asked for an offset outside [0, size] or a
	// length below -1.
	ErrInvalidRange = errors.New("blob: invalid range")
	// ErrSizeMismatch: the reader gave fewer or more bytes than the declared
	// size; nothing became visible.
	ErrSizeMismatch = errors.New("blob: size mismatch")
	// ErrInvalidSize: a declared size is negative where a size is required.
	ErrInvalidSize = errors.New("blob: invalid size")
	// ErrOffsetMismatch: an append did not start at the upload's current
	// offset (the tus protocol answers 409 Conflict).
	ErrOffsetMismatch = errors.New("blob: upload offset mismatch")
)
