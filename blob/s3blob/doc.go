// Package s3blob is the blob store for scale: blobs as objects in a bucket
// of any S3-compatible service, through github.com/minio/minio-go/v7. It
// owns the objects under its configured prefix in that bucket and nothing
// else; it never creates, deletes or reconfigures buckets except that
// Config.CreateBucket may create a missing one.
//
// Object layout under Config.Prefix:
//
//	b/<key>                 finished blobs
//	u/<key>.json            a pending upload: size, S3 multipart upload id, creation time
//	u/<key>.tail-<part>     received bytes too few for an S3 part (< PartSize)
//
// A pending upload is an S3 multipart upload on b/<key>. S3 refuses parts
// under 5 MiB except the last, while tus clients may send any chunk size and
// drop the connection anywhere, so bytes that do not fill a part are kept in
// a tail object named after the part they will start; the next append reads
// the tail back, prepends it and uploads full parts. A tail named for a part
// that already exists is stale (a crash between the two writes) and ignored,
// so the reported offset never counts a byte twice. CompleteMultipartUpload
// makes the blob visible atomically.
//
// Create-only is checked with a Stat before writing: two processes writing
// the same key at the same moment could both succeed (last wins). The node's
// keys are random, so this only matters for buggy callers.
//
// ETag is the server's (typically the MD5 of the content, or of the parts
// for multipart objects); it is opaque and stable.
//
// Operators should add a bucket lifecycle rule that aborts incomplete
// multipart uploads after a few days: a crash between creating a multipart
// upload and recording it leaves one this package cannot see.
package s3blob
