package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/parley-im/parley/blob"
	"github.com/parley-im/parley/blob/internal/keylock"
)

// MinPartSize is S3's smallest allowed part other than the last.
const MinPartSize = 5 << 20

// Config says where the blobs live. The zero value of every optional field
// is a sensible default.
type Config struct {
	// Endpoint is "host:port", or a URL "http://host:port" /
	// "https://host:port" whose scheme then decides Secure.
	Endpoint  string
	Bucket    string
	AccessKey string
	SecretKey string
	// Region defaults to "us-east-1", which most S3-compatible servers accept.
	Region string
	// Secure turns TLS on.
	Secure bool
	// PathStyle addresses the bucket as http://host/bucket/key instead of
	// http://bucket.host/key; most self-hosted servers need it.
	PathStyle bool
	// Prefix puts every object under this path in the bucket, so one bucket
	// can hold several nodes or other data. Empty, or ending in "/".
	Prefix string
	// PartSize is the S3 part size for multipart writes, and the memory one
	// streaming Put or AppendUpload holds (default and minimum MinPartSize).
	PartSize int64
	// CreateBucket creates the bucket if it does not exist.
	CreateBucket bool
	// Transport replaces the HTTP transport (custom CAs, tests).
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Store is a blob.Backend on an S3-compatible bucket.
type Store struct {
	core     minio.Core
	bucket   string
	prefix   string
	partSize int64
	log      *slog.Logger
	locks    keylock.Map
	bufs     sync.Pool // *[]byte of partSize
}

var _ blob.Backend = (*Store)(nil)

// New connects to the service and checks that the bucket is reachable.
func New(ctx context.Context, cfg Config) (*Store, error) {
	endpoint, secure := cfg.Endpoint, cfg.Secure
	if rest, ok := strings.CutPrefix(endpoint, "http://"); ok {
		endpoint, secure = rest, false
	} else if rest, ok := strings.CutPrefix(endpoint, "https://"); ok {
		endpoint, secure = rest, true
	}
	endpoint = strings.TrimSuffix(endpoint, "/")
	if endpoint == "" || cfg.Bucket == "" {
		return nil, errors.New("s3blob: endpoint and bucket are required")
	}
	if cfg.Prefix != "" && !strings.HasSuffix(cfg.Prefix, "/") {
		return nil, fmt.Errorf("s3blob: prefix %q must end in /", cfg.Prefix)
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = MinPartSize
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("s3blob: part size %d below S3's minimum %d", cfg.PartSize, MinPartSize)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, ""),
		Secure:       secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    cfg.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3blob: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		core:     minio.Core{Client: c},
		bucket:   cfg.Bucket,
		prefix:   cfg.Prefix,
		partSize: cfg.PartSize,
		log:      log.With("component", "s3blob", "bucket", cfg.Bucket),
	}
	s.bufs.New = func() any { b := make([]byte, s.partSize); return &b }
	ok, err := c.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3blob: bucket %s: %w", cfg.Bucket, err)
	}
	if !ok {
		if !cfg.CreateBucket {
			return nil, fmt.Errorf("s3blob: bucket %s does not exist", cfg.Bucket)
		}
		err := c.MakeBucket(ctx, cfg.Bucket, minio.MakeBucketOptions{Region: cfg.Region})
		if err != nil && !isCode(err, "BucketAlreadyOwnedByYou", "BucketAlreadyExists") {
			return nil, fmt.Errorf("s3blob: create bucket %s: %w", cfg.Bucket, err)
		}
	}
	return s, nil
}

func (s *Store) blobName(key string) string { return s.prefix + "b/" + key }

func isCode(err error, codes ...string) bool {
	var er minio.ErrorResponse
	if !errors.As(err, &er) {
		return false
	}
	for _, c := range codes {
		if er.Code == c {
			return true
		}
	}
	return false
}

func isNotFound(err error) bool {
	if isCode(err, "NoSuchKey", "NotFound", "NoSuchUpload") {
		return true
	}
	var er minio.ErrorResponse
	return errors.As(err, &er) && er.StatusCode == http.StatusNotFound && er.Code != "NoSuchBucket"
}

// mapErr turns the service's not-found answers into blob.ErrNotFound.
func mapErr(err error) error {
	if isNotFound(err) {
		return fmt.Errorf("%w: %v", blob.ErrNotFound, err)
	}
	return err
}

// Put implements blob.Store. Blobs up to PartSize go in one PUT; larger or
// unknown-size ones as a multipart upload that minio-go aborts on error, so
// a failed Put leaves nothing visible.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	if size < -1 {
		return fmt.Errorf("s3blob: put %s: %w: %d", key, blob.ErrInvalidSize, size)
	}
	if err := s.checkFree(ctx, key); err != nil {
		return fmt.Errorf("s3blob: put %s: %w", key, err)
	}
	_, err := s.core.Client.PutObject(ctx, s.bucket, s.blobName(key), blob.ExactReader(r, size), size, minio.PutObjectOptions{
		PartSize:    uint64(s.partSize),
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return fmt.Errorf("s3blob: put %s: %w", key, err)
	}
	return nil
}

// checkFree returns blob.ErrExists if a blob has key.
func (s *Store) checkFree(ctx context.Context, key string) error {
	_, err := s.core.Client.StatObject(ctx, s.bucket, s.blobName(key), minio.StatObjectOptions{})
	switch {
	case err == nil:
		return blob.ErrExists
	case isNotFound(err):
		return nil
	default:
		return err
	}
}

func infoOf(key string, oi minio.ObjectInfo) blob.Info {
	return blob.Info{Key: key, Size: oi.Size, ModTime: oi.LastModified, ETag: strings.Trim(oi.ETag, `"`)}
}

// Stat implements blob.Store.
func (s *Store) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := blob.ValidKey(key); err != nil {
		return blob.Info{}, err
	}
	oi, err := s.core.Client.StatObject(ctx, s.bucket, s.blobName(key), minio.StatObjectOptions{})
	if err != nil {
		return blob.Info{}, fmt.Errorf("s3blob: stat %s: %w", key, mapErr(err))
	}
	return infoOf(key, oi), nil
}

// Open implements blob.Store. The range GET is pinned to the ETag seen by
// Stat, so the bytes and the Info always describe the same object.
func (s *Store) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, blob.Info, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, blob.Info{}, err
	}
	n, err := blob.ClampRange(info.Size, offset, length)
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("s3blob: open %s: %w", key, err)
	}
	if n == 0 {
		return io.NopCloser(bytes.NewReader(nil)), info, nil
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(offset, offset+n-1); err != nil {
		return nil, blob.Info{}, fmt.Errorf("s3blob: open %s: %w", key, err)
	}
	if info.ETag != "" {
		if err := opts.SetMatchETag(info.ETag); err != nil {
			return nil, blob.Info{}, fmt.Errorf("s3blob: open %s: %w", key, err)
		}
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, s.blobName(key), opts)
	if err != nil {
		return nil, blob.Info{}, fmt.Errorf("s3blob: open %s: %w", key, mapErr(err))
	}
	return rc, info, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := blob.ValidKey(key); err != nil {
		return err
	}
	err := s.core.Client.RemoveObject(ctx, s.bucket, s.blobName(key), minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("s3blob: delete %s: %w", key, err)
	}
	return nil
}

// List implements blob.Store (in key order, as S3 lists).
func (s *Store) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if err := blob.ValidPrefix(prefix); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx) // stops minio-go's lister when fn fails
	defer cancel()
	base := s.prefix + "b/"
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: base + prefix, Recursive: true}) {
		if oi.Err != nil {
			return fmt.Errorf("s3blob: list: %w", oi.Err)
		}
		key := strings.TrimPrefix(oi.Key, base)
		if blob.ValidKey(key) != nil {
			continue
		}
		if err := fn(infoOf(key, oi)); err != nil {
			return err
		}
	}
	return ctx.Err()
}
