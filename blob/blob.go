package blob

import (
	"context"
	"io"
	"time"
)

// Info describes one stored blob.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ETag is an opaque validator, stable for the blob's life (blobs never
	// change), suitable for an HTTP ETag once quoted. Each store documents
	// how it is made; callers only compare it.
	ETag string
}

// Store keeps immutable opaque blobs (for Parley: media ciphertext).
//
// Blobs are create-only: a key is written once and never replaced, so every
// reader, cache and CDN may treat a blob as immutable. A Put or an upload to
// a key that exists fails with ErrExists. To change content, write a new key.
//
// Implementations are safe for concurrent use and stream: memory use does
// not grow with blob size.
type Store interface {
	// Put stores size bytes from r under key. size -1 means unknown (read r
	// to EOF). The blob becomes visible only once complete: a reader error,
	// a size mismatch (ErrSizeMismatch) or a cancelled ctx leave nothing
	// behind. ErrExists if the key is taken.
	Put(ctx context.Context, key string, r io.Reader, size int64) error

	// Open reads length bytes starting at offset; length -1 reads to the end,
	// and a length past the end is clamped (as HTTP ranges are). offset must
	// lie in [0, size], else ErrInvalidRange. Info describes the whole blob.
	// The caller closes the reader.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, Info, error)

	// Stat describes a blob or returns ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)

	// Delete removes a blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error

	// List calls fn for every blob whose key starts with prefix, in an
	// unspecified order, stopping at fn's first error (returned as is).
	// Blobs written or deleted during a listing may or may not be seen.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// UploadInfo describes a pending resumable upload.
type UploadInfo struct {
	Key     string    // the blob it becomes
	Size    int64     // total bytes declared at creation
	Offset  int64     // bytes durably received; -1 in ListUploads
	Created time.Time // for expiring abandoned uploads
}

// Uploads stages a blob in pieces, so a client can resume after a dropped
// connection (the tus protocol's creation and core extensions map onto it
// one to one: POST → CreateUpload, HEAD → UploadStatus, PATCH →
// AppendUpload, DELETE → AbortUpload).
//
// An upload is addressed by the key of the blob it becomes. Appends to one
// upload are serialised inside one process; several nodes appending to the
// same upload at once are not supported (the node routes an upload to one
// process, as tus servers do with their lock).
type Uploads interface {
	// CreateUpload reserves key for a blob of exactly size bytes (size ≥ 0,
	// else ErrInvalidSize). ErrExists if a blob or an upload has that key.
	// Enforcing a size cap is the caller's job and happens before this call.
	CreateUpload(ctx context.Context, key string, size int64) error

	// UploadStatus reports a pending upload, or ErrNotFound when there is
	// none (never created, aborted, or already finished: then Stat finds the
	// blob).
	UploadStatus(ctx context.Context, key string) (UploadInfo, error)

	// AppendUpload writes r at offset, which must equal the upload's current
	// offset (else ErrOffsetMismatch), reading at most the bytes still
	// missing. It returns the new durable offset, also when r fails midway:
	// whatever was made durable counts, so the client resumes from there. r
	// ending early is normal (a partial chunk) and not an error. When the
	// offset reaches the declared size the blob becomes visible atomically
	// under key and the upload disappears.
	AppendUpload(ctx context.Context, key string, offset int64, r io.Reader) (int64, error)

	// AbortUpload discards a pending upload; a missing one is not an error.
	AbortUpload(ctx context.Context, key string) error

	// ListUploads calls fn for every pending upload (Offset is -1), for
	// expiring abandoned ones, stopping at fn's first error.
	ListUploads(ctx context.Context, fn func(UploadInfo) error) error
}

// Backend is what the node needs from a blob store: finished blobs and
// resumable uploads that become blobs. fsblob and s3blob implement it.
type Backend interface {
	Store
	Uploads
}
