package client

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/parley-im/parley/client/storage"
)

// Storage is where the device keeps its state; see package storage.
type Storage = storage.Storage

// Dialer opens the byte stream to the node: TCP for native apps, a
// WebSocket (transport/ws) in the browser. The SDK runs Noise on top.
type Dialer interface {
	Dial(ctx context.Context, addr string) (net.Conn, error)
}

// DialerFunc adapts a function to Dialer.
type DialerFunc func(ctx context.Context, addr string) (net.Conn, error)

// Dial implements Dialer.
func (f DialerFunc) Dial(ctx context.Context, addr string) (net.Conn, error) { return f(ctx, addr) }

// Config configures a Client. Zero values get the documented defaults; the
// Config must not be changed after New.
type Config struct {
	Storage    Storage // required; owned by the caller (Close does not close it)
	Dialer     Dialer  // required for anything that talks to the node
	ServerAddr string  // passed to Dialer, e.g. "127.0.0.1:5222"

	Logger *slog.Logger     // default: discard
	Now    func() time.Time // default time.Now
	Rand   io.Reader        // default crypto/rand.Reader

	// Reconnect keeps the connection up after Connect: on a drop the SDK
	// redials with exponential backoff until Close.
	Reconnect bool
	// PingInterval keeps an idle connection alive (default 25s, under the
	// node's idle timeout).
	PingInterval time.Duration
	// RequestTimeout bounds one request/reply exchange (default 15s).
	RequestTimeout time.Duration
	// EventBuffer is the capacity of the Events channel (default 256). The
	// application must keep draining Events: a full channel pauses the
	// receive loop (and with it acknowledgements), it never drops events.
	EventBuffer int
	// HTTPClient carries media uploads and downloads (default
	// http.DefaultClient). Transfers are bounded by their context, not by
	// a client timeout, since files can be large.
	HTTPClient *http.Client
	// PreKeyBatch is how many one-time prekeys (and KEM prekeys) are
	// generated at registration and on each refill (default 100).
	PreKeyBatch int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 256
	}
	if c.PreKeyBatch <= 0 {
		c.PreKeyBatch = 100
	}
}
