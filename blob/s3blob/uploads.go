package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/parley-im/parley/blob"
)

func (s *Store) stateName(key string) string { return s.prefix + "u/" + key + ".json" }

func (s *Store) tailPrefix(key string) string { return s.prefix + "u/" + key + ".tail-" }

// tailName names the tail that will begin part number part.
func (s *Store) tailName(key string, part int) string {
	return fmt.Sprintf("%s%05d", s.tailPrefix(key), part)
}

// CreateUpload implements blob.Uploads.
func (s *Store) CreateUpload(ctx context.Context, key string, size int64) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("s3blob: create upload %s: %w: %d", key, blob.ErrInvalidSize, size)
	}
	unlock := s.locks.Lock(key)
	defer unlock()
	if err := s.checkFree(ctx, key); err != nil {
		return fmt.Errorf("s3blob: create upload %s: %w", key, err)
	}
	if _, err := s.loadState(ctx, key); err == nil {
		return fmt.Errorf("s3blob: create upload %s: %w", key, blob.ErrExists)
	} else if !errors.Is(err, blob.ErrNotFound) {
		return fmt.Errorf("s3blob: create upload %s: %w", key, err)
	}
	st := uploadState{Size: size, Created: time.Now().UTC()}
	if size > 0 {
		id, err := s.core.NewMultipartUpload(ctx, s.bucket, s.blobName(key), minio.PutObjectOptions{ContentType: "application/octet-stream"})
		if err != nil {
			return fmt.Errorf("s3blob: create upload %s: %w", key, err)
		}
		st.UploadID = id
	}
	b, err := encodeState(st)
	if err == nil {
		_, err = s.core.Client.PutObject(ctx, s.bucket, s.stateName(key), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{ContentType: "application/json"})
	}
	if err != nil {
		if st.UploadID != "" {
			_ = s.core.AbortMultipartUpload(context.WithoutCancel(ctx), s.bucket, s.blobName(key), st.UploadID)
		}
		return fmt.Errorf("s3blob: create upload %s: %w", key, err)
	}
	return nil
}

func (s *Store) loadState(ctx context.Context, key string) (uploadState, error) {
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, s.stateName(key), minio.GetObjectOptions{})
	if err != nil {
		return uploadState{}, mapErr(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxStateLen+1))
	if err != nil {
		return uploadState{}, err
	}
	return decodeState(b)
}

// progress is what a pending upload holds: parts 1..len(parts) and a tail
// for the next part.
type progress struct {
	parts    []minio.ObjectPart
	partsLen int64
	tailLen  int64
}

func (p progress) offset() int64 { return p.partsLen + p.tailLen }

func (s *Store) progressOf(ctx context.Context, key string, st uploadState) (progress, error) {
	var p progress
	if st.Size == 0 {
		return p, nil
	}
	var all []minio.ObjectPart
	marker := 0
	for {
		res, err := s.core.ListObjectParts(ctx, s.bucket, s.blobName(key), st.UploadID, marker, 1000)
		if err != nil {
			return p, mapErr(err)
		}
		all = append(all, res.ObjectParts...)
		if !res.IsTruncated || res.NextPartNumberMarker <= marker {
			break
		}
		marker = res.NextPartNumberMarker
	}
	slices.SortFunc(all, func(a, b minio.ObjectPart) int { return a.PartNumber - b.PartNumber })
	// Only a gapless run from part 1 counts; anything after a gap is a
	// failed write that the next append overwrites.
	for _, part := range all {
		if part.PartNumber != len(p.parts)+1 {
			break
		}
		p.parts = append(p.parts, part)
		p.partsLen += part.Size
	}
	oi, err := s.core.Client.StatObject(ctx, s.bucket, s.tailName(key, len(p.parts)+1), minio.StatObjectOptions{})
	switch {
	case err == nil:
		p.tailLen = oi.Size
	case !isNotFound(err):
		return p, err
	}
	return p, nil
}

// statusLocked loads a pending upload; an upload whose multipart upload is
// gone (completed or aborted before a crash cut the cleanup short) is
// cleaned up and reported as not found.
func (s *Store) statusLocked(ctx context.Context, key string) (uploadState, progress, error) {
	st, err := s.loadState(ctx, key)
	if err != nil {
		return st, progress{}, fmt.Errorf("s3blob: upload %s: %w", key, err)
	}
	p, err := s.progressOf(ctx, key, st)
	if errors.Is(err, blob.ErrNotFound) {
		s.cleanup(ctx, key)
		return st, p, fmt.Errorf("s3blob: upload %s: %w", key, err)
	}
	if err != nil {
		return st, p, fmt.Errorf("s3blob: upload %s: %w", key, err)
	}
	return st, p, nil
}

// UploadStatus implements blob.Uploads.
func (s *Store) UploadStatus(ctx context.Context, key string) (blob.UploadInfo, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.UploadInfo{}, err
	}
	unlock := s.locks.Lock(key)
	defer unlock()
	st, p, err := s.statusLocked(ctx, key)
	if err != nil {
		return blob.UploadInfo{}, err
	}
	return blob.UploadInfo{Key: key, Size: st.Size, Offset: p.offset(), Created: st.Created}, nil
}

// AppendUpload implements blob.Uploads. It fills part-sized buffers, uploads
// each as the next S3 part, and keeps a short remainder as the tail object.
func (s *Store) AppendUpload(ctx context.Context, key string, offset int64, r io.Reader) (int64, error) {
	if err := blob.ValidKey(key); err != nil {
		return 0, err
	}
	unlock := s.locks.Lock(key)
	defer unlock()
	st, p, err := s.statusLocked(ctx, key)
	if err != nil {
		return 0, err
	}
	if offset != p.offset() {
		return p.offset(), fmt.Errorf("s3blob: append %s: %w: at %d, upload is at %d", key, blob.ErrOffsetMismatch, offset, p.offset())
	}
	if st.Size == 0 {
		if err := s.finishEmpty(ctx, key); err != nil {
			return 0, err
		}
		return 0, nil
	}

	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	buf := *bp
	// The tail's bytes start the next part.
	filled := 0
	if p.tailLen > 0 {
		rc, _, _, err := s.core.GetObject(ctx, s.bucket, s.tailName(key, len(p.parts)+1), minio.GetObjectOptions{})
		if err != nil {
			return p.offset(), fmt.Errorf("s3blob: append %s: read tail: %w", key, err)
		}
		n, err := io.ReadFull(rc, buf[:p.tailLen])
		rc.Close()
		if err != nil {
			return p.offset(), fmt.Errorf("s3blob: append %s: read tail: %w", key, err)
		}
		filled = n
	}
	durableTail := filled // bytes of buf already safe in the tail object
	src := io.LimitReader(r, st.Size-p.offset())
	for {
		n, rerr := io.ReadFull(src, buf[filled:])
		filled += n
		complete := p.partsLen+int64(filled) == st.Size
		if filled < len(buf) && !complete {
			// The reader ended (or failed) short of a part: keep the
			// remainder as the tail so the client need not resend it.
			if filled > durableTail {
				if err := s.putTail(ctx, key, len(p.parts)+1, buf[:filled]); err != nil {
					return p.partsLen + int64(durableTail), fmt.Errorf("s3blob: append %s: %w", key, err)
				}
			}
			return p.partsLen + int64(filled), readErr(key, rerr)
		}
		if filled > 0 {
			num := len(p.parts) + 1
			part, err := s.core.PutObjectPart(ctx, s.bucket, s.blobName(key), st.UploadID, num, bytes.NewReader(buf[:filled]), int64(filled), minio.PutObjectPartOptions{})
			if err != nil {
				return p.partsLen + int64(durableTail), fmt.Errorf("s3blob: append %s: part %d: %w", key, num, err)
			}
			if part.Size == 0 {
				part.Size = int64(filled)
			}
			part.PartNumber = num
			p.parts = append(p.parts, part)
			p.partsLen += int64(filled)
			if durableTail > 0 { // now stale: its bytes are in part num
				s.removeQuiet(ctx, s.tailName(key, num))
			}
			filled, durableTail = 0, 0
		}
		if complete {
			if err := s.finish(ctx, key, st, p.parts); err != nil {
				return p.partsLen, err
			}
			return st.Size, nil
		}
		if rerr != nil {
			return p.partsLen, readErr(key, rerr)
		}
	}
}

// readErr hides the reader simply ending: a tus PATCH may carry any part of
// the upload.
func readErr(key string, err error) error {
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return fmt.Errorf("s3blob: append %s: %w", key, err)
}

func (s *Store) putTail(ctx context.Context, key string, part int, b []byte) error {
	_, err := s.core.Client.PutObject(ctx, s.bucket, s.tailName(key, part), bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{
		ContentType:      "application/octet-stream",
		DisableMultipart: true,
	})
	if err != nil {
		return fmt.Errorf("save tail: %w", err)
	}
	return nil
}

func (s *Store) finish(ctx context.Context, key string, st uploadState, parts []minio.ObjectPart) error {
	if err := s.checkFree(ctx, key); err != nil {
		return fmt.Errorf("s3blob: finish upload %s: %w", key, err)
	}
	complete := make([]minio.CompletePart, len(parts))
	for i, p := range parts {
		complete[i] = minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag}
	}
	if _, err := s.core.CompleteMultipartUpload(ctx, s.bucket, s.blobName(key), st.UploadID, complete, minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("s3blob: finish upload %s: %w", key, err)
	}
	s.cleanup(ctx, key)
	return nil
}

func (s *Store) finishEmpty(ctx context.Context, key string) error {
	if err := s.checkFree(ctx, key); err != nil {
		return fmt.Errorf("s3blob: finish upload %s: %w", key, err)
	}
	_, err := s.core.Client.PutObject(ctx, s.bucket, s.blobName(key), bytes.NewReader(nil), 0, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("s3blob: finish upload %s: %w", key, err)
	}
	s.cleanup(ctx, key)
	return nil
}

// cleanup removes an upload's state and tails. It runs after the outcome
// is decided, so failures are only logged: leftovers are found again by
// ListUploads and collected.
func (s *Store) cleanup(ctx context.Context, key string) {
	ctx = context.WithoutCancel(ctx)
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.tailPrefix(key), Recursive: true}) {
		if oi.Err != nil {
			s.log.Warn("listing upload tails", "key", key, "err", oi.Err)
			break
		}
		s.removeQuiet(ctx, oi.Key)
	}
	s.removeQuiet(ctx, s.stateName(key))
}

func (s *Store) removeQuiet(ctx context.Context, name string) {
	if err := s.core.Client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{}); err != nil && !isNotFound(err) {
		s.log.Warn("removing upload leftover", "object", name, "err", err)
	}
}

// AbortUpload implements blob.Uploads.
func (s *Store) AbortUpload(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	unlock := s.locks.Lock(key)
	defer unlock()
	st, err := s.loadState(ctx, key)
	if errors.Is(err, blob.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("s3blob: abort upload %s: %w", key, err)
	}
	if st.UploadID != "" {
		err := s.core.AbortMultipartUpload(ctx, s.bucket, s.blobName(key), st.UploadID)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("s3blob: abort upload %s: %w", key, err)
		}
	}
	s.cleanup(ctx, key)
	return nil
}

// ListUploads implements blob.Uploads.
func (s *Store) ListUploads(ctx context.Context, fn func(blob.UploadInfo) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	base := s.prefix + "u/"
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("s3blob: list uploads: %w", oi.Err)
		}
		key, ok := strings.CutSuffix(strings.TrimPrefix(oi.Key, base), ".json")
		if !ok || blob.ValidKey(key) != nil {
			continue
		}
		st, err := s.loadState(ctx, key)
		if errors.Is(err, blob.ErrNotFound) {
			continue // finished or aborted while listing
		}
		if err != nil {
			return fmt.Errorf("s3blob: list uploads: %s: %w", key, err)
		}
		if err := fn(blob.UploadInfo{Key: key, Size: st.Size, Offset: -1, Created: st.Created}); err != nil {
			return err
		}
	}
	return ctx.Err()
}
