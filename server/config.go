package server

import (
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/parley-im/parley/blob/s3blob"
)

// Config configures a node. Every zero value means the documented default,
// so Config{} runs a node like `parley serve` with no flags. A Config is
// read once by New; changing it afterwards has no effect.
type Config struct {
	// DataDir holds the store, the node key (node.key) and the admin token
	// (admin.token). Default "./parley-data"; created 0700 if missing.
	DataDir string
	// Listen is the Noise-over-TCP address. Default "127.0.0.1:5222".
	Listen string
	// HTTP serves /healthz, /readyz and /ws. Default "127.0.0.1:8080".
	HTTP string
	// Admin serves the admin API. Default "127.0.0.1:8081". Keep it private.
	Admin string
	// Registration is "open" (anyone may register) or "invite" (a code
	// from the admin API is needed). Default "open".
	Registration string
	// QueueTTL is how long a queued entry waits for an offline device.
	// Default 30 days.
	QueueTTL time.Duration
	// HandshakeTimeout bounds the Noise handshake. Default 10 s.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that sent no frame for this long;
	// clients ping well within it. Default 3 min.
	IdleTimeout time.Duration
	// IdleRelease: a TCP connection without a frame for this long drops its
	// cipher state and its reader restarts on a minimal stack, so idle
	// connections stay cheap. Default 30 s; negative disables it.
	IdleRelease time.Duration
	// WriteTimeout bounds one write to a device. Default 15 s.
	WriteTimeout time.Duration
	// DeliveryWindow is the most unacknowledged Deliver frames per
	// connection. Default 256.
	DeliveryWindow int
	// PrekeyLowThreshold: a device whose one-time prekey or KEM prekey stock
	// falls below it is told to refill. Default 20.
	PrekeyLowThreshold int
	// FetchRate is how many bundles one device may fetch per minute (also
	// the burst). Default 120.
	FetchRate int
	// ExpireInterval is how often expired queue entries are deleted.
	// Default 1 min.
	ExpireInterval time.Duration
	// ShutdownTimeout bounds how long Run waits for sessions to end after
	// saying Goodbye. Default 5 s.
	ShutdownTimeout time.Duration
	// PublicURL is how devices reach the HTTP listener (upload and download
	// URLs are built on it), e.g. "https://chat.example.org" behind a
	// reverse proxy. Default "http://" + the bound HTTP address.
	PublicURL string
	// MediaMaxSize caps one media upload (ciphertext bytes). Default 100 MiB.
	MediaMaxSize int64
	// MediaTTL: media blobs older than this are deleted. Default 30 days.
	MediaTTL time.Duration
	// MediaGCInterval is how often old blobs and abandoned uploads (older
	// than 24 h) are collected. Default 1 h.
	MediaGCInterval time.Duration
	// S3 stores media in an S3-compatible bucket when S3.Endpoint is set;
	// otherwise media lives in DataDir/blobs.
	S3 s3blob.Config
	// Limits (limits.go). For each, 0 means the default and a negative
	// value turns the limit off.
	//
	// MaxConnections caps open connections; one over the cap completes its
	// handshake and is told Goodbye{SHUTTING_DOWN, retry_after}. Default 100000.
	MaxConnections int
	// SendRate is the Send and GroupSend frames one device may make per
	// minute, with bursts of SendBurst. Defaults 3000 (50 a second) and 500.
	SendRate, SendBurst int
	// RegisterRate is the registrations one client IP may make per minute
	// (also the burst). Default 10.
	RegisterRate int
	// MaxFanout is the most target devices of one Send or GroupSend.
	// Default 1000.
	MaxFanout int
	// MaxQueue is the most entries waiting for one device; a Send to a
	// device at the cap is refused with QUEUE_FULL (what is queued is
	// kept). Default 10000.
	MaxQueue int
	// PushURL is the push gateway's webhook; empty disables push (push.go).
	PushURL string
	// PushSecret keys the HMAC-SHA256 signature of every webhook call.
	// Required with PushURL.
	PushSecret string
	// PushWindow is how long push notices gather into one batch. Default 500 ms.
	PushWindow time.Duration
	// Multi-device, groups and typing (social.go). 0 means the default.
	//
	// MaxCompanions bounds an account's linked devices besides its
	// primary. Default 4.
	MaxCompanions int
	// MaxGroupSize bounds a group's members, creator included. Default 1024.
	MaxGroupSize int
	// LinkCodeTTL is how long a link code waits for approval. Default 10 min.
	LinkCodeTTL time.Duration
	// Logger receives the node's logs. Default: discard.
	Logger *slog.Logger
	// Now is the node's clock (timestamps, queue expiry, rate limits).
	// Default time.Now. Connection deadlines always use the real clock.
	Now func() time.Time
}

// Registration modes.
const (
	RegistrationOpen   = "open"
	RegistrationInvite = "invite"
)

func (c Config) withDefaults() (Config, error) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defD := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	defI := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	def(&c.DataDir, "./parley-data")
	def(&c.Listen, "127.0.0.1:5222")
	def(&c.HTTP, "127.0.0.1:8080")
	def(&c.Admin, "127.0.0.1:8081")
	def(&c.Registration, RegistrationOpen)
	defD(&c.QueueTTL, 30*24*time.Hour)
	defD(&c.HandshakeTimeout, 10*time.Second)
	defD(&c.IdleTimeout, 3*time.Minute)
	defD(&c.IdleRelease, 30*time.Second)
	defD(&c.WriteTimeout, 15*time.Second)
	defI(&c.DeliveryWindow, 256)
	defI(&c.PrekeyLowThreshold, 20)
	defI(&c.FetchRate, 120)
	defD(&c.ExpireInterval, time.Minute)
	defD(&c.ShutdownTimeout, 5*time.Second)
	defD(&c.MediaTTL, 30*24*time.Hour)
	defD(&c.MediaGCInterval, time.Hour)
	if c.MediaMaxSize == 0 {
		c.MediaMaxSize = 100 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if err := c.limitDefaults(); err != nil { // limits.go
		return c, err
	}
	if err := c.socialDefaults(); err != nil { // social.go
		return c, err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.Registration != RegistrationOpen && c.Registration != RegistrationInvite:
		return c, fmt.Errorf("%w: registration %q: want open or invite", ErrBadConfig, c.Registration)
	case c.QueueTTL < 0, c.HandshakeTimeout < 0, c.IdleTimeout < 0, c.WriteTimeout < 0, c.ExpireInterval < 0, c.ShutdownTimeout < 0:
		return c, fmt.Errorf("%w: durations must not be negative", ErrBadConfig)
	case c.MediaTTL < 0, c.MediaGCInterval < 0, c.MediaMaxSize < 0:
		return c, fmt.Errorf("%w: media limits must not be negative", ErrBadConfig)
	case c.PublicURL != "" && !validPublicURL(c.PublicURL):
		return c, fmt.Errorf("%w: public URL %q: want http(s)://host[:port][/path]", ErrBadConfig, c.PublicURL)
	case c.DeliveryWindow < 0, c.PrekeyLowThreshold < 0, c.FetchRate < 0:
		return c, fmt.Errorf("%w: limits must not be negative", ErrBadConfig)
	}
	return c, nil
}

func validPublicURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.RawQuery == "" && u.Fragment == ""
}
