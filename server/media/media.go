package media

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/blob"
	"github.com/parley-im/parley/protocol/pb"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxSize    = 100 << 20 // 100 MiB of ciphertext
	DefaultTTL        = 30 * 24 * time.Hour
	DefaultUploadTTL  = 24 * time.Hour
	DefaultSlotTTL    = 24 * time.Hour
	DefaultGCInterval = time.Hour
)

// Paths under the node's public HTTP address.
const (
	UploadsPath = "/media/v1/uploads/"
	BlobsPath   = "/media/v1/blobs/"
)

// BlobIDLen is the length of a blob id: 16 random bytes in unpadded base64url.
const BlobIDLen = 22

// Config configures a Service. Zero values mean the documented defaults.
type Config struct {
	// Backend stores uploads and blobs. Required.
	Backend blob.Backend
	// PublicURL is how devices reach the node's HTTP listener, e.g.
	// "https://chat.example.org" (no trailing slash needed). Required.
	PublicURL string
	// Secret keys the slot tokens' HMAC; at least 32 bytes (see
	// LoadOrCreateSecret). Required.
	Secret []byte
	// MaxSize caps one upload (ciphertext bytes). Default 100 MiB.
	MaxSize int64
	// SlotTTL is how long a granted slot's token works. Default 24 h.
	SlotTTL time.Duration
	// TTL: finished blobs older than this are deleted. Default 30 days.
	TTL time.Duration
	// UploadTTL: unfinished uploads older than this are discarded.
	// Default 24 h.
	UploadTTL time.Duration
	// GCInterval is how often the collector runs. Default 1 h.
	GCInterval time.Duration
	// Logger; default discard.
	Logger *slog.Logger
	// Now is the clock for token expiry and GC ages. Default time.Now.
	Now func() time.Time
	// Rand makes blob ids. Default crypto/rand.
	Rand io.Reader
}

// Service is the media service. It is safe for concurrent use.
type Service struct {
	cfg    Config
	log    *slog.Logger
	public string // PublicURL without trailing slash

	received atomic.Int64 // PATCH body bytes accepted, for tests and stats
}

// New checks cfg and returns a service.
func New(cfg Config) (*Service, error) {
	if cfg.Backend == nil {
		return nil, fmt.Errorf("%w: no blob backend", ErrBadConfig)
	}
	if len(cfg.Secret) < 32 {
		return nil, fmt.Errorf("%w: secret of %d bytes, need 32", ErrBadConfig, len(cfg.Secret))
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: public URL %q: want http(s)://host[:port]", ErrBadConfig, cfg.PublicURL)
	}
	if cfg.MaxSize < 0 || cfg.SlotTTL < 0 || cfg.TTL < 0 || cfg.UploadTTL < 0 || cfg.GCInterval < 0 {
		return nil, fmt.Errorf("%w: negative limit", ErrBadConfig)
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.SlotTTL == 0 {
		cfg.SlotTTL = DefaultSlotTTL
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.UploadTTL == 0 {
		cfg.UploadTTL = DefaultUploadTTL
	}
	if cfg.GCInterval == 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	cfg.Secret = append([]byte(nil), cfg.Secret...)
	return &Service{cfg: cfg, log: cfg.Logger, public: strings.TrimSuffix(cfg.PublicURL, "/")}, nil
}

// MaxSize is the effective upload cap.
func (s *Service) MaxSize() int64 { return s.cfg.MaxSize }

// BytesReceived counts upload body bytes the node accepted since start.
func (s *Service) BytesReceived() int64 { return s.received.Load() }

// Grant makes an upload slot for size bytes: a fresh random blob id and a
// token for it. It stores nothing; the size cap is checked here, before
// any byte is sent, and again on tus creation.
func (s *Service) Grant(size int64) (*pb.UploadSlot, error) {
	switch {
	case size <= 0:
		return nil, fmt.Errorf("%w: %d", ErrInvalidSize, size)
	case size > s.cfg.MaxSize:
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, size, s.cfg.MaxSize)
	}
	var raw [16]byte
	if _, err := io.ReadFull(s.cfg.Rand, raw[:]); err != nil {
		return nil, fmt.Errorf("media: blob id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(raw[:])
	exp := s.cfg.Now().Add(s.cfg.SlotTTL)
	return &pb.UploadSlot{
		UploadUrl:   s.public + UploadsPath + id,
		DownloadUrl: s.public + BlobsPath + id,
		Token:       s.token(id, size, exp.UnixMilli()),
		BlobId:      id,
		MaxSize:     s.cfg.MaxSize,
		ExpiresAtMs: exp.UnixMilli(),
	}, nil
}

// Handler serves the media paths (UploadsPath and BlobsPath prefixes).
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(UploadsPath+"{id}", s.serveUpload)
	mux.HandleFunc(BlobsPath+"{id}", s.serveBlob)
	return mux
}

// validID accepts exactly the ids Grant makes.
func validID(id string) bool {
	return len(id) == BlobIDLen && blob.ValidKey(id) == nil
}
