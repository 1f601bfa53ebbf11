package fsblob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/parley-im/parley/blob"
	"github.com/parley-im/parley/blob/internal/keylock"
	"github.com/parley-im/parley/internal/ioctx"
)

// DefaultSubdir is where the node keeps blobs inside its data directory.
const DefaultSubdir = "blobs"

// Store is a blob.Backend on a local directory.
type Store struct {
	root  string
	locks keylock.Map
}

var _ blob.Backend = (*Store)(nil)

// New opens (creating if needed) a store rooted at dir and removes temporary
// files a crash may have left.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("fsblob: empty directory")
	}
	s := &Store{root: dir}
	for _, d := range []string{s.root, filepath.Join(s.root, "b"), filepath.Join(s.root, "up"), s.tmpDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("fsblob: %w", err)
		}
	}
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return nil, fmt.Errorf("fsblob: %w", err)
	}
	for _, e := range entries {
		_ = os.Remove(filepath.Join(s.tmpDir(), e.Name()))
	}
	return s, nil
}

func (s *Store) tmpDir() string { return filepath.Join(s.root, "tmp") }

func shard(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:1])
}

func (s *Store) blobPath(key string) string {
	return filepath.Join(s.root, "b", shard(key), key)
}

func infoOf(key string, fi fs.FileInfo) blob.Info {
	mt := fi.ModTime()
	etag := strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(mt.UnixNano(), 16)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		// mtime ticks are coarse (milliseconds on many kernels); the inode
		// tells apart two files written in the same tick.
		etag += "-" + strconv.FormatUint(uint64(st.Ino), 16)
	}
	return blob.Info{Key: key, Size: fi.Size(), ModTime: mt, ETag: etag}
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if size < -1 {
		return fmt.Errorf("fsblob: put %s: %w: %d", key, blob.ErrInvalidSize, size)
	}
	// Refuse early so a taken key does not cost a full upload; the link
	// below is what actually guarantees create-only.
	if _, err := os.Lstat(s.blobPath(key)); err == nil {
		return fmt.Errorf("fsblob: put %s: %w", key, blob.ErrExists)
	}
	f, err := os.CreateTemp(s.tmpDir(), "put-")
	if err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful link this only drops the temp name
	_, err = io.Copy(f, ioctx.Reader(ctx, blob.ExactReader(r, size)))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	if err := s.publish(tmp, key); err != nil {
		return fmt.Errorf("fsblob: put %s: %w", key, err)
	}
	return nil
}

// publish links a complete, synced file to its blob name. The link either
// creates the name or fails with EEXIST, never replacing a blob.
func (s *Store) publish(src, key string) error {
	dst := s.blobPath(key)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Link(src, dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// A crash after an upload's link but before its cleanup leaves
			// the same file under both names: that is a finished publish.
			a, errA := os.Stat(src)
			b, errB := os.Stat(dst)
			if errA == nil && errB == nil && os.SameFile(a, b) {
				return nil
			}
			return blob.ErrExists
		}
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return nil, blob.Info{}, err
	}
	f, err := os.Open(s.blobPath(key))
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("fsblob: open %s: %w", key, notFound(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, blob.Info{}, fmt.Errorf("fsblob: open %s: %w", key, err)
	}
	info := infoOf(key, fi)
	n, err := blob.ClampRange(info.Size, offset, length)
	if err != nil {
		f.Close()
		return nil, blob.Info{}, fmt.Errorf("fsblob: open %s: %w", key, err)
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, blob.Info{}, fmt.Errorf("fsblob: open %s: %w", key, err)
	}
	return &rangeFile{Reader: io.LimitReader(f, n), f: f}, info, nil
}

type rangeFile struct {
	io.Reader
	f *os.File
}

func (r *rangeFile) Close() error { return r.f.Close() }

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	fi, err := os.Stat(s.blobPath(key))
	if err != nil {
		return blob.Info{}, fmt.Errorf("fsblob: stat %s: %w", key, notFound(err))
	}
	return infoOf(key, fi), nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if err := os.Remove(s.blobPath(key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("fsblob: delete %s: %w", key, err)
	}
	return nil
}

// List implements blob.Store. It reads one shard directory at a time, so
// memory grows with the largest shard, not with the store.
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return err
	}
	shards, err := os.ReadDir(filepath.Join(s.root, "b"))
	if err != nil {
		return fmt.Errorf("fsblob: list: %w", err)
	}
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		entries, err := os.ReadDir(filepath.Join(s.root, "b", sh.Name()))
		if err != nil {
			return fmt.Errorf("fsblob: list: %w", err)
		}
		for _, e := range entries {
			name := e.Name()
			if len(name) < len(prefix) || name[:len(prefix)] != prefix || blob.ValidKey(name) != nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted while listing
			}
			if err != nil {
				return fmt.Errorf("fsblob: list: %w", err)
			}
			if err := fn(infoOf(name, fi)); err != nil {
				return err
			}
		}
	}
	return nil
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return blob.ErrNotFound
	}
	return err
}
