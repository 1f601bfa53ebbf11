// Package blob defines Parley's blob storage: the Store interface for
// immutable opaque blobs (media ciphertext, never plaintext), the Uploads
// interface for resumable uploads that become blobs, their key rules and
// sentinel errors. Implementations live in fsblob (filesystem, the default)
// and s3blob (any S3-compatible service); blobtest is the conformance suite
// every implementation passes.
//
// This package owns storage only. It must not know about users, messages,
// media keys, HTTP, size caps or expiry policy: the node's media service
// grants upload slots, enforces the size cap, speaks tus and HTTP Range, and
// runs garbage collection through List, ListUploads, Delete and AbortUpload.
//
// # Keys and immutability
//
// A key is 1..128 bytes of [A-Za-z0-9_-] (see ValidKey): no '.', '/' or '\',
// so a key can never escape a store's directory or prefix. Blobs are
// create-only (Put and CreateUpload fail with ErrExists on a taken key) and
// never change, which is what lets the node send "Cache-Control: immutable"
// and lets a CDN cache forever. The node picks keys at random (128 bits), so
// a collision means a bug, not a race to be resolved.
//
// # Resumable uploads: our own Uploads, not tusd's stores
//
// The node implements tus (core + creation + termination) on top of Uploads
// rather than mounting tusd's handler with tusd's filestore or s3store:
//
//   - tusd's s3store talks to S3 through the AWS SDK; Parley's S3 client is
//     minio-go. Two S3 clients would double the dependency tree and the
//     configuration surface.
//   - tusd's stores keep their own object layout (an .info object per
//     upload, kept after completion, with the finished file at the upload's
//     id) and spool parts to local temporary files; our downloads, GC and
//     conformance suite would have to understand a second layout per
//     backend. With Uploads, a finished upload is simply a blob under its
//     key, made visible atomically, and both backends pass one suite.
//   - The size cap, slot authentication and expiry are node policy and need
//     hooks around every request either way; the tus core is five small
//     request types (OPTIONS, POST, HEAD, PATCH, DELETE) that map one to one
//     onto Uploads methods.
//
// Should the node later want tusd's handler (for extensions such as
// concatenation), a small adapter from tusd's DataStore interface to
// Uploads keeps this storage layer as it is.
//
// # Memory
//
// Every operation streams. fsblob needs one small copy buffer per call;
// s3blob needs one S3 part buffer (Config.PartSize, 5 MiB by default) per
// Put of unknown or large size and per active AppendUpload, because S3 parts
// other than the last must be at least 5 MiB.
package blob
