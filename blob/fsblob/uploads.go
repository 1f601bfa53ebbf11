package fsblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/blob"
	"github.com/parley-im/parley/internal/ioctx"
)

// maxMetaLen bounds an upload's .meta file: two decimal int64s.
const maxMetaLen = 64

func (s *Store) upPath(key, ext string) string {
	return filepath.Join(s.root, "up", key+ext)
}

// CreateUpload implements blob.Uploads. The .meta file is written and
// synced before the empty .data file exists, so an upload is visible only
// once its size is known.
func (s *Store) CreateUpload(ctx context.Context, key string, size int64) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("fsblob: create upload %s: %w: %d", key, blob.ErrInvalidSize, size)
	}
	unlock := s.locks.Lock(key)
	defer unlock()
	if _, err := os.Lstat(s.blobPath(key)); err == nil {
		return fmt.Errorf("fsblob: create upload %s: %w", key, blob.ErrExists)
	}
	meta := formatMeta(size, time.Now())
	f, err := os.CreateTemp(s.tmpDir(), "meta-")
	if err != nil {
		return fmt.Errorf("fsblob: create upload %s: %w", key, err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(meta)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(f.Name(), s.upPath(key, ".meta"))
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("fsblob: create upload %s: %w", key, blob.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("fsblob: create upload %s: %w", key, err)
	}
	d, err := os.OpenFile(s.upPath(key, ".data"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err == nil {
		err = d.Close()
	}
	if err == nil {
		err = syncDir(filepath.Join(s.root, "up"))
	}
	if err != nil {
		_ = os.Remove(s.upPath(key, ".meta"))
		return fmt.Errorf("fsblob: create upload %s: %w", key, err)
	}
	return nil
}

func formatMeta(size int64, created time.Time) string {
	return strconv.FormatInt(size, 10) + " " + strconv.FormatInt(created.UnixNano(), 10) + "\n"
}

// parseMeta decodes a .meta file; it refuses anything but two non-negative
// decimal numbers.
func parseMeta(b []byte) (size int64, created time.Time, err error) {
	if len(b) > maxMetaLen {
		return 0, time.Time{}, fmt.Errorf("upload meta: %d bytes, max %d", len(b), maxMetaLen)
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, time.Time{}, fmt.Errorf("upload meta: %d fields, want 2", len(fields))
	}
	size, err = strconv.ParseInt(fields[0], 10, 64)
	if err != nil || size < 0 {
		return 0, time.Time{}, fmt.Errorf("upload meta: bad size %q", fields[0])
	}
	ns, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || ns < 0 {
		return 0, time.Time{}, fmt.Errorf("upload meta: bad time %q", fields[1])
	}
	return size, time.Unix(0, ns), nil
}

func (s *Store) readMeta(key string) (int64, time.Time, error) {
	f, err := os.Open(s.upPath(key, ".meta"))
	if err != nil {
		return 0, time.Time{}, notFound(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxMetaLen+1))
	if err != nil {
		return 0, time.Time{}, err
	}
	return parseMeta(b)
}

// UploadStatus implements blob.Uploads.
func (s *Store) UploadStatus(ctx context.Context, key string) (blob.UploadInfo, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.UploadInfo{}, err
	}
	unlock := s.locks.Lock(key)
	defer unlock()
	return s.statusLocked(key)
}

func (s *Store) statusLocked(key string) (blob.UploadInfo, error) {
	size, created, err := s.readMeta(key)
	if err != nil {
		return blob.UploadInfo{}, fmt.Errorf("fsblob: upload %s: %w", key, err)
	}
	fi, err := os.Stat(s.upPath(key, ".data"))
	if err != nil {
		return blob.UploadInfo{}, fmt.Errorf("fsblob: upload %s: %w", key, notFound(err))
	}
	return blob.UploadInfo{Key: key, Size: size, Offset: fi.Size(), Created: created}, nil
}

// AppendUpload implements blob.Uploads. Bytes are fsynced before the new
// offset is reported, also after a reader error, so a reported offset
// survives a crash.
func (s *Store) AppendUpload(ctx context.Context, key string, offset int64, r io.Reader) (int64, error) {
	if err := blob.ValidKey(key); err != nil {
		return 0, err
	}
	unlock := s.locks.Lock(key)
	defer unlock()
	st, err := s.statusLocked(key)
	if err != nil {
		return 0, err
	}
	if offset != st.Offset {
		return st.Offset, fmt.Errorf("fsblob: append %s: %w: at %d, upload is at %d", key, blob.ErrOffsetMismatch, offset, st.Offset)
	}
	f, err := os.OpenFile(s.upPath(key, ".data"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return st.Offset, fmt.Errorf("fsblob: append %s: %w", key, notFound(err))
	}
	n, copyErr := io.Copy(f, ioctx.Reader(ctx, io.LimitReader(r, st.Size-st.Offset)))
	syncErr := f.Sync()
	if cerr := f.Close(); syncErr == nil {
		syncErr = cerr
	}
	if syncErr != nil {
		// What reached the disk is unknown; report the offset from disk.
		cur, err := s.statusLocked(key)
		if err != nil {
			return st.Offset, fmt.Errorf("fsblob: append %s: %w", key, syncErr)
		}
		return cur.Offset, fmt.Errorf("fsblob: append %s: %w", key, syncErr)
	}
	off := st.Offset + n
	if copyErr != nil {
		return off, fmt.Errorf("fsblob: append %s at %d: %w", key, off, copyErr)
	}
	if off < st.Size {
		return off, nil
	}
	if err := s.publish(s.upPath(key, ".data"), key); err != nil {
		return off, fmt.Errorf("fsblob: finish upload %s: %w", key, err)
	}
	// The blob is durable under its name; the upload's names are leftovers.
	_ = os.Remove(s.upPath(key, ".meta"))
	_ = os.Remove(s.upPath(key, ".data"))
	return off, nil
}

// AbortUpload implements blob.Uploads.
func (s *Store) AbortUpload(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	unlock := s.locks.Lock(key)
	defer unlock()
	for _, ext := range []string{".meta", ".data"} {
		if err := os.Remove(s.upPath(key, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("fsblob: abort upload %s: %w", key, err)
		}
	}
	return nil
}

// ListUploads implements blob.Uploads.
func (s *Store) ListUploads(ctx context.Context, fn func(blob.UploadInfo) error) error {
	entries, err := os.ReadDir(filepath.Join(s.root, "up"))
	if err != nil {
		return fmt.Errorf("fsblob: list uploads: %w", err)
	}
	for _, e := range entries {
		key, ok := strings.CutSuffix(e.Name(), ".meta")
		if !ok || blob.ValidKey(key) != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		size, created, err := s.readMeta(key)
		if errors.Is(err, blob.ErrNotFound) {
			continue // finished or aborted while listing
		}
		if err != nil {
			return fmt.Errorf("fsblob: list uploads: %s: %w", key, err)
		}
		if err := fn(blob.UploadInfo{Key: key, Size: size, Offset: -1, Created: created}); err != nil {
			return err
		}
	}
	return nil
}
