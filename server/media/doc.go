// Package media is the node's media service: it grants upload slots,
// speaks the tus 1.0 protocol (core + creation + termination) for resumable
// uploads of media ciphertext, serves finished blobs over HTTP with Range,
// ETag and immutable caching, and garbage-collects old blobs and abandoned
// uploads. Everything it stores is ciphertext made on a device with
// e2e/mediacrypt; it never sees a media key, a file name or a MIME type.
//
// HTTP surface (mounted by the node on its public HTTP listener):
//
//	OPTIONS           /media/v1/uploads/{blob_id}   tus discovery (no auth)
//	POST              /media/v1/uploads/{blob_id}   tus creation: Upload-Length = the slot's size
//	HEAD              /media/v1/uploads/{blob_id}   Upload-Offset: where to resume
//	PATCH             /media/v1/uploads/{blob_id}   append at Upload-Offset (application/offset+octet-stream)
//	DELETE            /media/v1/uploads/{blob_id}   tus termination
//	GET, HEAD         /media/v1/blobs/{blob_id}     download: Range, ETag, Cache-Control immutable
//
// Upload requests carry "Authorization: Bearer <slot token>". A token is
// stateless: base64url(size || expiry || HMAC-SHA256(node secret, blob id,
// size, expiry)), checked in constant time, so granting a slot writes
// nothing and a node restart keeps every slot valid. The secret lives in
// the node's data directory (media.secret).
//
// Downloads need no authentication: the URL holds 128 random bits and is
// known only to the devices that received it inside an end-to-end message,
// and the bytes are ciphertext whose key travels the same way. This lets a
// CDN or caching reverse proxy serve them without knowing anything about
// Parley accounts.
//
// The package owns the HTTP protocol, the slot tokens, the size cap and
// the expiry policy. It must not know about sessions, frames, users or the
// message store; it reaches storage only through blob.Backend.
package media
