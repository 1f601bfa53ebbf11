package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/transport"
)

// Client is one device. It is safe for concurrent use.
type Client struct {
	cfg Config
	log *slog.Logger
	st  storage.Storage

	// cryptoMu serialises every read-modify-write of Signal state and
	// history (send encryption, receive processing, status updates), so the
	// txns built under it never interleave. Never held across network waits.
	cryptoMu sync.Mutex
	lastTS   uint64 // guarded by cryptoMu: history keys strictly increase

	mu          sync.Mutex
	acct        *localpb.Account // guarded by mu; nil before Register
	identity    e2e.IdentityKeyPair
	noiseKey    transport.StaticKey
	conn        *conn         // guarded by mu; nil when disconnected
	closed      bool          // guarded by mu
	statusCh    chan struct{} // guarded by mu; closed and replaced on every status change
	keysBusy    bool          // guarded by mu: a prekey refill is running
	supervising bool          // guarded by mu: the reconnect loop runs
	outboxBusy  bool          // guarded by mu: a resend pass runs (outbox.go)
	outboxMore  bool          // guarded by mu: another pass was asked for meanwhile

	events chan Event
	done   chan struct{} // closed by Close
	lost   chan struct{} // buffered 1: a connection ended (wakes the reconnect loop)
	wg     sync.WaitGroup

	// testHookBeforeAck, when set, runs after a batch of deliveries is
	// committed and before it is acknowledged; returning an error drops
	// the connection without the ack (a simulated crash).
	testHookBeforeAck atomic.Pointer[func() error]
	// testHookGroupSend, when set, sees every GroupSend before it leaves
	// (tests capture sender-key ciphertexts with it).
	testHookGroupSend atomic.Pointer[func(*pb.GroupSend)]

	push pushQueue // presence notices on their way to Events (presence.go)
}

// New opens a device on cfg.Storage. An unregistered device is fine: call
// Register before anything else.
func New(cfg Config) (*Client, error) {
	if cfg.Storage == nil {
		return nil, errors.New("client: Config.Storage is required")
	}
	cfg.setDefaults()
	c := &Client{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "client"),
		st:       cfg.Storage,
		events:   make(chan Event, cfg.EventBuffer),
		done:     make(chan struct{}),
		lost:     make(chan struct{}, 1),
		statusCh: make(chan struct{}),
	}
	if err := c.loadAccount(context.Background()); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) loadAccount(ctx context.Context) error {
	b, err := c.st.Get(ctx, keyAccount)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load account: %w", err)
	}
	a, err := decodeAccount(b)
	if err != nil {
		return err
	}
	return c.setAccount(a)
}

// setAccount installs a (decoded or new) account record in memory.
func (c *Client) setAccount(a *localpb.Account) error {
	priv, err := e2e.ParsePrivateKey(a.IdentityPrivate)
	if err != nil {
		return fmt.Errorf("account identity: %w: %w", ErrBadRecord, err)
	}
	var nk transport.StaticKey
	if err := nk.UnmarshalText(a.NoiseKey); err != nil {
		return fmt.Errorf("account device key: %w: %w", ErrBadRecord, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.acct = a
	c.identity = e2e.IdentityKeyPair{Public: priv.PublicKey(), Private: priv}
	c.noiseKey = nk
	return nil
}

// account returns the registered account or ErrNotRegistered.
func (c *Client) account() (*localpb.Account, e2e.IdentityKeyPair, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acct == nil || !c.acct.Registered {
		return nil, e2e.IdentityKeyPair{}, ErrNotRegistered
	}
	return c.acct, c.identity, nil
}

// Registered reports whether this device has an account.
func (c *Client) Registered() bool {
	_, _, err := c.account()
	return err == nil
}

// Events delivers what happens on the connection. The application must keep
// draining it; it is never closed (select on your own context).
func (c *Client) Events() <-chan Event { return c.events }

func (c *Client) emit(ev Event) {
	select {
	case c.events <- ev:
	case <-c.done:
	}
}

// Close disconnects and stops background work. It does not close Storage.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	cn := c.conn
	c.mu.Unlock()
	if cn != nil {
		cn.close(ErrClosed)
	}
	c.wg.Wait()
	return nil
}

// Identity describes this device for `parley whoami`.
type Identity struct {
	User        string
	Device      uint32
	DeviceKey   transport.PublicKey  // Noise static key: how the node knows this device
	IdentityKey e2e.PublicKey        // Signal identity key
	ServerKey   *transport.PublicKey // pinned node key; nil before first contact
	ServerAddr  string               // where the key was pinned
}

// Whoami returns this device's account and keys.
func (c *Client) Whoami(ctx context.Context) (Identity, error) {
	a, id, err := c.account()
	if err != nil {
		return Identity{}, err
	}
	c.mu.Lock()
	nk := c.noiseKey.Public()
	c.mu.Unlock()
	out := Identity{User: a.User, Device: a.DeviceId, DeviceKey: nk, IdentityKey: id.Public}
	pin, err := c.loadPin(ctx)
	if err != nil {
		return out, err
	}
	if pin != nil {
		var k transport.PublicKey
		copy(k[:], pin.Key)
		out.ServerKey = &k
		out.ServerAddr = pin.Addr
	}
	return out, nil
}

func (c *Client) loadPin(ctx context.Context) (*localpb.ServerPin, error) {
	b, err := c.st.Get(ctx, keyServerPin)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load server key: %w", err)
	}
	return decodeServerPin(b)
}

// e2eConfig is the e2e configuration this client uses.
func (c *Client) e2eConfig() e2e.Config {
	return e2e.Config{Rand: c.cfg.Rand, Now: c.cfg.Now}
}

// nextTS returns a strictly increasing local timestamp (ns) for history and
// inbox keys. Caller holds cryptoMu.
func (c *Client) nextTSLocked() uint64 {
	ts := uint64(c.cfg.Now().UnixNano())
	if ts <= c.lastTS {
		ts = c.lastTS + 1
	}
	c.lastTS = ts
	return ts
}

// notifyStatus wakes WaitStatus callers.
func (c *Client) notifyStatus() {
	c.mu.Lock()
	close(c.statusCh)
	c.statusCh = make(chan struct{})
	c.mu.Unlock()
}
