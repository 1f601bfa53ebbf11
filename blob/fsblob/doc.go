// Package fsblob is the default blob store: blobs as files in a directory on
// the node's disk (by default <data dir>/blobs). It owns everything under
// that directory and nothing outside it.
//
// Layout (shards keep directories small whatever the number of blobs):
//
//	b/<2 hex>/<key>   finished blobs; the shard is the first byte of SHA-256(key)
//	up/<key>.data     bytes received so far for a pending upload
//	up/<key>.meta     its declared size and creation time
//	tmp/              Put's temporary files, removed on failure and at New
//
// Writes are atomic: bytes go to a temporary file, which is fsynced and then
// hard-linked into place (link fails if the name exists, which is what makes
// Put create-only without a check-then-act race), and the directory is
// fsynced. A crash leaves either the whole blob or none of it.
//
// ETag is "<size hex>-<mtime ns hex>-<inode hex>": free to compute on Stat
// (a content hash would mean rereading 100 MB or persisting hash state
// across upload appends), stable for the blob's life (blobs never change),
// and different for a different file under a reused key. Restoring from a
// backup changes ETags, which only costs a CDN a refetch.
//
// Appends to one upload are serialised within the process; the directory
// must not be shared by two running nodes.
package fsblob
