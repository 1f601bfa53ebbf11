package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/parley-im/parley/blob"
	"github.com/parley-im/parley/blob/fsblob"
	"github.com/parley-im/parley/blob/s3blob"
	"github.com/parley-im/parley/internal/secretfile"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/admin"
	"github.com/parley-im/parley/server/keys"
	"github.com/parley-im/parley/server/media"
	"github.com/parley-im/parley/server/park"
	"github.com/parley-im/parley/server/router"
	"github.com/parley-im/parley/server/session"
	"github.com/parley-im/parley/store"
	"github.com/parley-im/parley/store/pebble"
	"github.com/parley-im/parley/transport"
)

// Node is one Parley node. Create it with New, then call Run once.
type Node struct {
	cfg    Config
	log    *slog.Logger
	key    transport.StaticKey
	token  string
	store  store.Store
	router *router.Router
	keys   *keys.Service
	env    *session.Env
	media  *media.Service
	ops    *ops // metrics, limits, push (ops.go)

	tcp, http, admin net.Listener
	started          time.Time

	ready   chan struct{}   // closed once Run serves
	stopCtx context.Context // cancelled when Run begins shutting down
	stop    context.CancelFunc
	conns   sync.WaitGroup

	liveMu sync.Mutex
	live   map[*session.Session]struct{} // guarded by liveMu: sessions to say Goodbye to at shutdown

	// lot parks idle TCP connections without a goroutine (Linux); set by
	// Run before the first session, nil when unavailable.
	lot atomic.Pointer[park.Lot]

	frameHook atomic.Pointer[func(protocol.Address, *pb.ClientFrame)] // tests only (export_test.go)

	stats counters
}

// counters are the node-wide figures behind Stats.
type counters struct {
	connections     atomic.Int64
	sessions        atomic.Int64
	handshakes      atomic.Uint64
	handshakeErrors atomic.Uint64
	panics          atomic.Uint64
	expired         atomic.Uint64
}

// Stats is a snapshot of the node's counters.
type Stats = admin.Stats

// New prepares a node: it creates DataDir, loads or creates the node key
// and admin token, opens the store and binds the three listeners, so
// configuration errors (a port in use, an unreadable key) surface here. It
// serves nothing until Run.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	n := &Node{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "node"),
		router:  router.New(),
		ready:   make(chan struct{}),
		live:    make(map[*session.Session]struct{}),
		started: cfg.Now(),
	}
	n.stopCtx, n.stop = context.WithCancel(context.Background())
	if n.key, err = loadOrCreateKey(cfg.DataDir); err != nil {
		return nil, err
	}
	if n.token, err = loadOrCreateToken(cfg.DataDir); err != nil {
		return nil, err
	}
	st, err := pebble.Open(filepath.Join(cfg.DataDir, storeDir), pebble.Options{Logger: cfg.Logger.With("component", "store"), Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("server: open store: %w", err)
	}
	n.store = st
	fail := func(err error) (*Node, error) {
		n.closeListeners()
		_ = st.Close()
		return nil, err
	}
	if n.tcp, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fail(fmt.Errorf("server: listen: %w", err))
	}
	if n.http, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return fail(fmt.Errorf("server: http listen: %w", err))
	}
	if n.admin, err = net.Listen("tcp", cfg.Admin); err != nil {
		return fail(fmt.Errorf("server: admin listen: %w", err))
	}
	_ = os.Remove(filepath.Join(cfg.DataDir, adminAddrFile))
	if err := secretfile.WriteNew(filepath.Join(cfg.DataDir, adminAddrFile), []byte(n.admin.Addr().String()+"\n")); err != nil {
		return fail(err)
	}
	if n.media, err = newMedia(cfg, n.http.Addr().String()); err != nil {
		return fail(err)
	}
	n.keys = keys.New(keys.Config{
		Store:        st,
		LowThreshold: cfg.PrekeyLowThreshold,
		FetchRate:    cfg.FetchRate,
		Now:          cfg.Now,
		Notify: func(a protocol.Address, low *pb.PrekeysLow) {
			if p := n.router.Lookup(a); p != nil {
				p.PrekeysLow(low)
			}
		},
	})
	if n.ops, err = newOps(n, st); err != nil {
		return fail(err)
	}
	n.store = &observedStore{Store: st, o: n.ops} // opsstore.go
	n.ops.m.GaugeFunc("parked_connections", "Idle connections parked without a goroutine (Linux).", func() float64 { return float64(n.Parked()) })
	n.env = &session.Env{
		Store:          n.store,
		Router:         n.router,
		Keys:           n.keys,
		Logger:         cfg.Logger.With("component", "session"),
		Now:            cfg.Now,
		Registration:   cfg.Registration,
		QueueTTL:       cfg.QueueTTL,
		IdleTimeout:    cfg.IdleTimeout,
		IdleRelease:    max(cfg.IdleRelease, 0),
		WriteTimeout:   cfg.WriteTimeout,
		DeliveryWindow: cfg.DeliveryWindow,
		Media:          n.media,
		Social:         newSocial(cfg), // social.go
		Wrap:           n.ops.wrap,
		OnPanic:        func() { n.stats.panics.Add(1) },
		OnAuth: func(s *session.Session) {
			n.stats.sessions.Add(1)
			n.ops.untrack(s) // the IP only serves the registration limit, before this
		},
		OnClose: func() { n.stats.sessions.Add(-1) },
	}
	return n, nil
}

// TCPAddr is the bound Noise-over-TCP address.
func (n *Node) TCPAddr() net.Addr { return n.tcp.Addr() }

// HTTPAddr is the bound HTTP address (/ws, /healthz, /readyz).
func (n *Node) HTTPAddr() net.Addr { return n.http.Addr() }

// AdminAddr is the bound admin API address.
func (n *Node) AdminAddr() net.Addr { return n.admin.Addr() }

// ServerKey is the node's Noise static public key, which clients pin.
func (n *Node) ServerKey() transport.PublicKey { return n.key.Public() }

// AdminToken is the bearer token of the admin API.
func (n *Node) AdminToken() string { return n.token }

// Ready is closed once Run is serving every listener.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{
		Connections:      n.stats.connections.Load(),
		Sessions:         n.stats.sessions.Load(),
		Handshakes:       n.stats.handshakes.Load(),
		HandshakeErrors:  n.stats.handshakeErrors.Load(),
		PanicsRecovered:  n.stats.panics.Load(),
		QueueExpired:     n.stats.expired.Load(),
		UptimeSeconds:    int64(n.cfg.Now().Sub(n.started) / time.Second),
		RegistrationMode: n.cfg.Registration,
	}
}

// Run serves until ctx ends, then shuts down gracefully: it stops accepting,
// says Goodbye{SHUTTING_DOWN} to every session, waits for them (at most
// ShutdownTimeout), and closes the store. Call it once.
func (n *Node) Run(ctx context.Context) error {
	sup := suture.New("parley", suture.Spec{
		EventHook: func(e suture.Event) { n.log.Warn("supervisor", "event", e.String()) },
		Timeout:   n.cfg.ShutdownTimeout,
	})
	n.startLot()
	defer n.closeLot()
	sup.Add(&acceptService{n: n})
	sup.Add(&httpService{name: "http", ln: n.http, handler: n.httpHandler()})
	sup.Add(&httpService{name: "admin", ln: n.admin, handler: admin.Handler(admin.Config{
		Token: n.token, Invites: n.store, Stats: n.Stats, Logger: n.cfg.Logger.With("component", "admin"), Now: n.cfg.Now,
		Operator: operator{n}, // operator.go
	})})
	sup.Add(&expiryService{n: n})
	if n.lot.Load() != nil {
		sup.Add(&reclaimService{n: n})
	}
	sup.Add(n.media.GC())
	n.ops.services(sup) // ops.go

	supCtx, stopSup := context.WithCancel(context.Background())
	done := sup.ServeBackground(supCtx)
	close(n.ready)
	n.log.Info("node running", "tcp", n.TCPAddr().String(), "http", n.HTTPAddr().String(), "admin", n.AdminAddr().String(), "key", n.ServerKey().String())

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-done:
		runErr = fmt.Errorf("server: supervisor stopped: %w", err)
	}
	n.log.Info("node shutting down")
	n.stop()
	stopSup()
	if runErr == nil {
		<-done
	}
	n.closeListeners()
	n.kickAll()
	if !waitTimeout(&n.conns, n.cfg.ShutdownTimeout) {
		n.log.Warn("sessions still running after the shutdown timeout; closing them")
		n.closeAll()
		n.conns.Wait()
	}
	if err := n.store.Close(); err != nil && runErr == nil {
		runErr = fmt.Errorf("server: close store: %w", err)
	}
	n.log.Info("node stopped")
	return runErr
}

// startLot opens the parking lot for idle connections. Its sweep
// resolution is a fraction of the idle timeout, so a parked connection is
// closed at most that much late.
func (n *Node) startLot() {
	res := time.Second
	if it := n.cfg.IdleTimeout; it > 0 {
		res = min(max(it/16, 10*time.Millisecond), time.Second)
	}
	lot, err := park.New(park.Options{Resolution: res})
	if err != nil {
		n.log.Info("idle connections keep a goroutine", "err", err)
		return
	}
	n.env.Parker = lot // before any session starts: Env is read-only after
	n.lot.Store(lot)
}

// closeLot wakes any connection still parked (none after a clean
// shutdown: every session was kicked) and stops the lot.
func (n *Node) closeLot() {
	if lot := n.lot.Load(); lot != nil {
		if err := lot.Close(); err != nil {
			n.log.Warn("closing the parking lot", "err", err)
		}
	}
}

// reclaimService returns the memory of goroutines that parked their
// connections. An exited goroutine keeps its stack until the next GC, and
// an idle node allocates nothing, so after a wave of connections went idle
// (a connect storm, 30 s later) their stacks and the handshakes' garbage
// would stay resident for minutes. When many connections parked since the
// last time (at least reclaimMin and a quarter of all parked, so a large
// node in steady state does this rarely), or when such a wave has settled
// (at least reclaimMin more parked, and none since the previous look), it
// runs a GC and returns the freed memory to the OS. The second rule is for
// the tail of a wave, which the first misses when it is under a quarter.
type reclaimService struct{ n *Node }

const (
	reclaimEvery = 10 * time.Second
	reclaimMin   = 1024
)

func (r *reclaimService) String() string { return "parked memory reclaim" }

func (r *reclaimService) Serve(ctx context.Context) error {
	t := time.NewTicker(reclaimEvery)
	defer t.Stop()
	last, prev := 0, 0
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		p := r.n.Parked()
		switch {
		case p-last >= max(reclaimMin, p/4), p-last >= reclaimMin && p == prev:
			debug.FreeOSMemory()
			last = p
		case p < last:
			last = p // count growth from the low point
		}
		prev = p
	}
}

// Parked is the number of idle connections parked without a goroutine.
func (n *Node) Parked() int {
	if lot := n.lot.Load(); lot != nil {
		return lot.Parked()
	}
	return 0
}

func (n *Node) closeListeners() {
	for _, ln := range []net.Listener{n.tcp, n.http, n.admin} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

func (n *Node) kickAll() {
	n.liveMu.Lock()
	ss := make([]*session.Session, 0, len(n.live))
	for s := range n.live {
		ss = append(ss, s)
	}
	n.liveMu.Unlock()
	for _, s := range ss {
		s.Kick(pb.ErrorCode_SHUTTING_DOWN, "node shutting down; reconnect later", 1000)
	}
}

func (n *Node) closeAll() {
	n.liveMu.Lock()
	defer n.liveMu.Unlock()
	for s := range n.live {
		s.Kick(pb.ErrorCode_SHUTTING_DOWN, "node shutting down", 1000)
	}
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// serveConn runs one connection's handshake and Welcome on the goroutine
// that accepted it, then the session continues on a fresh reader goroutine
// (session.Serve) so the stack grown by the handshake is not kept while the
// connection idles. For TCP it returns at once; a WebSocket's HTTP handler
// must live as long as the connection, so for it serveConn waits.
func (n *Node) serveConn(nc net.Conn) {
	ended := false
	defer func() {
		if ended { // the session's done callback did the bookkeeping
			return
		}
		n.stats.connections.Add(-1)
		n.conns.Done()
	}()
	n.stats.connections.Add(1)
	hctx, cancel := context.WithTimeout(n.stopCtx, n.cfg.HandshakeTimeout)
	c, err := transport.Server(hctx, nc, transport.ServerConfig{Key: n.key, HandshakeTimeout: n.cfg.HandshakeTimeout})
	cancel()
	if err != nil {
		n.stats.handshakeErrors.Add(1)
		n.log.Debug("handshake failed", "remote", nc.RemoteAddr().String(), "err", err)
		_ = nc.Close()
		return
	}
	n.stats.handshakes.Add(1)
	s := session.New(n.env, n.ops.conn(c))
	if n.ops.overCapacity() {
		s.Kick(pb.ErrorCode_SHUTTING_DOWN, "node at connection capacity; reconnect later", 5000)
		return
	}
	n.liveMu.Lock()
	select {
	case <-n.stopCtx.Done():
		n.liveMu.Unlock()
		s.Kick(pb.ErrorCode_SHUTTING_DOWN, "node shutting down; reconnect later", 1000)
		return
	default:
	}
	n.live[s] = struct{}{}
	n.liveMu.Unlock()
	n.ops.track(s, nc.RemoteAddr())
	var carrier session.Carrier
	var wait chan struct{}
	if tc, ok := nc.(*net.TCPConn); ok {
		carrier.Resumable = true
		if n.env.Parker != nil {
			if raw, err := tc.SyscallConn(); err == nil {
				carrier.Raw = raw
			}
		}
	} else {
		wait = make(chan struct{})
	}
	ended = true
	s.Serve(context.Background(), carrier, func() {
		n.liveMu.Lock()
		delete(n.live, s)
		n.liveMu.Unlock()
		n.ops.untrack(s)
		n.stats.connections.Add(-1)
		n.conns.Done()
		if wait != nil {
			close(wait)
		}
	})
	if wait != nil {
		<-wait
	}
}

// wrapHandler lets tests see (and break) frames: the panic-injection hook.
func (n *Node) wrapHandler(h session.Handler) session.Handler {
	hook := n.frameHook.Load()
	if hook == nil {
		return h
	}
	return func(ctx context.Context, s *session.Session, f *pb.ClientFrame) error {
		(*hook)(s.Addr(), f)
		return h(ctx, s, f)
	}
}

// newMedia opens the blob backend (S3 when configured, else DataDir/blobs)
// and the media service with its secret from DataDir/media.secret.
func newMedia(cfg Config, httpAddr string) (*media.Service, error) {
	var be blob.Backend
	if cfg.S3.Endpoint != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s3, err := s3blob.New(ctx, cfg.S3)
		if err != nil {
			return nil, fmt.Errorf("server: media store: %w", err)
		}
		be = s3
	} else {
		fs, err := fsblob.New(filepath.Join(cfg.DataDir, "blobs"))
		if err != nil {
			return nil, fmt.Errorf("server: media store: %w", err)
		}
		be = fs
	}
	secret, err := media.LoadOrCreateSecret(filepath.Join(cfg.DataDir, "media.secret"))
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	public := cfg.PublicURL
	if public == "" {
		public = "http://" + httpAddr
	}
	m, err := media.New(media.Config{
		Backend:    be,
		PublicURL:  public,
		Secret:     secret,
		MaxSize:    cfg.MediaMaxSize,
		TTL:        cfg.MediaTTL,
		GCInterval: cfg.MediaGCInterval,
		Logger:     cfg.Logger.With("component", "media"),
		Now:        cfg.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return m, nil
}
