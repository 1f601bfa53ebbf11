package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/park"
	"github.com/parley-im/parley/transport"
)

// Conn is the framed, encrypted connection a session runs over; a
// *transport.Conn satisfies it.
type Conn interface {
	ReadFrame() ([]byte, error)
	WriteFrame(p []byte) error
	WriteFrames(ps [][]byte) error
	RemoteKey() transport.PublicKey
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
	Close() error
}

// Session is one device connection. See the package doc for which goroutine
// may touch which field.
type Session struct {
	env  *Env
	conn Conn

	// Owned by Run; addr and authed are frozen once the pump may run.
	addr protocol.Address

	mu sync.Mutex
	// Mailbox and pump state, guarded by mu. The bools are together so
	// the struct stays in a small allocation class.
	authed      bool // not guarded: owned by the reader, see addr
	closed      bool // no more writes; Run is ending or Kick ran
	delivering  bool // startDelivery ran: kick may start pumps
	pumping     bool // a pump goroutine is running
	more        bool // kicked while pumping: look at the queue again
	windowFull  bool // the pump stopped with the window full; an ack restarts it
	drainedSent bool // QueueDrained was sent
	// entryKiB is the payload size per entry the last pump pass saw, in
	// KiB rounded up (0: none yet), so a pump restarted by an ack sizes
	// its first pass too (pump.go). Only the running pump touches it;
	// pumping, set and cleared under mu, orders one pump before the next.
	entryKiB    uint8
	inflight    int32           // sent and not yet acknowledged
	initialSent uint32          // Deliver frames sent before QueueDrained (shares a word with inflight)
	parkSlot    park.Slot       // the reader's slot in Env.Parker (zero: none); the reader writes it under mu
	lastSent    uint64          // highest seq sent on this connection
	low         *pb.PrekeysLow  // notice waiting for the pump
	workers     *sync.WaitGroup // pump and acker; non-nil once one started; finish waits on it
	sq          *sendQueue      // in-flight Sends (inflight.go); non-nil while the acker runs
	mail        *mailbox        // pushes and link approval from other goroutines (social.go)
	fresh       *freshQueue     // durable entries handed over by their writer (fresh.go)

	social *socialState // owned by the reader: presence, link code, typing (social.go)
}

// New wraps a connection that completed its handshake.
func New(env *Env, conn Conn) *Session {
	return &Session{env: env, conn: conn}
}

// Addr is the device address once authenticated (zero before).
func (s *Session) Addr() protocol.Address { return s.addr }

// Run serves the connection until it closes, the device misbehaves, or
// Kick is called: Serve, waiting for the end. ctx is used for store calls,
// which are not cancelled by node shutdown (an Enqueue in flight completes
// so its SendAck stays true).
func (s *Session) Run(ctx context.Context) {
	done := make(chan struct{})
	s.Serve(ctx, Carrier{}, func() { close(done) })
	<-done
}

// Carrier says what the reader may do with an idle connection.
type Carrier struct {
	// Resumable says the carrier survives a read deadline that expires
	// between frames (TCP does; the WebSocket carrier closes).
	Resumable bool
	// Raw is a resumable carrier's socket. With Env.Parker set, an idle
	// reader parks it there and exits instead of hopping.
	Raw syscall.RawConn
}

// Serve looks the device up and sends Welcome on the calling goroutine (the
// one that ran the handshake, whose stack grew doing it), then hands the
// connection to a fresh reader goroutine and returns. done is called once,
// after the session ended and its workers stopped.
//
// Only for a resumable carrier does the reader wake after Env.IdleRelease
// without a frame to drop the connection's cipher state. It then
// hibernates: with a socket (c.Raw) and Env.Parker it parks the connection
// in the node's parking lot and its goroutine exits; the lot starts a fresh
// reader when the socket becomes readable, the idle timeout passes or Kick
// wakes it. Without them it continues on a new goroutine, whose stack is
// back at the minimum (a goroutine's stack never shrinks below 4x what it
// uses at its deepest park, and handling a frame grows it).
func (s *Session) Serve(ctx context.Context, c Carrier, done func()) {
	if ctx.Done() != nil { // one allocation less per connection otherwise
		ctx = context.WithoutCancel(ctx)
	}
	if !s.serveStart(ctx) {
		s.finish()
		done()
		return
	}
	go s.read(ctx, reader{resumable: c.Resumable, raw: c.Raw, since: time.Now()}, done)
}

// serveStart runs start, reporting whether the session goes on.
func (s *Session) serveStart(ctx context.Context) (ok bool) {
	defer s.recoverPanic("handler")
	if err := s.start(ctx); err != nil {
		s.end(err)
		return false
	}
	return true
}

// reader is the reader goroutine's own state, carried from one goroutine
// to the next when it hops or parks: it lives on the stack (in the lot's
// wake function while parked), not in the Session.
type reader struct {
	resumable bool
	released  bool            // ciphers dropped since the last frame
	since     time.Time       // when the last frame arrived
	raw       syscall.RawConn // the socket, for parking; nil: hop instead
}

// read runs the reader until the session ends, or until it hops to a new
// goroutine or parks the connection.
func (s *Session) read(ctx context.Context, r reader, done func()) {
	if s.readLoop(ctx, &r) {
		if !s.park(ctx, r, done) {
			go s.read(ctx, r, done)
		}
		return
	}
	s.finish()
	done()
}

// park hands the idle connection to Env.Parker, which starts read again on
// a fresh goroutine when a frame (or EOF) is waiting, the idle timeout
// passed, or Kick woke it; the new reader finds out which by reading. It
// reports false when the connection cannot park and the caller must go on.
func (s *Session) park(ctx context.Context, r reader, done func()) bool {
	lot := s.env.Parker
	if lot == nil || r.raw == nil {
		return false
	}
	var deadline time.Time
	if s.env.IdleTimeout > 0 {
		deadline = r.since.Add(s.env.IdleTimeout)
	}
	// mu is held from the closed check until the slot is stored, so
	// closeConn either finds the slot or the reader does not park.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false // Kick ran: the next read ends the session
	}
	sl, err := lot.Park(s.parkSlot, r.raw, deadline, func() { go s.read(ctx, r, done) })
	s.parkSlot = sl
	if err != nil {
		s.env.Logger.Debug("park failed; the reader stays", "device", s.addr.String(), "err", err)
		return false
	}
	return true
}

// readLoop reads and dispatches frames. It returns true when the reader
// should park or hop (idle: ciphers released), false when the session is
// over.
// Its frame is what an idle connection keeps on its stack, so the work per
// frame is in handleFrame.
func (s *Session) readLoop(ctx context.Context, r *reader) (hop bool) {
	defer s.recoverPanic("handler")
	for {
		release := s.setIdleDeadline(r)
		b, err := s.conn.ReadFrame()
		if err != nil {
			if release && isTimeout(err) {
				s.releaseCiphers()
				r.released = true
				return true
			}
			s.end(s.readError(err))
			return false
		}
		r.released, r.since = false, time.Now()
		if err := s.handleFrame(ctx, b); err != nil {
			s.end(err)
			return false
		}
	}
}

// setIdleDeadline sets the read deadline to the idle timeout, or to the
// earlier idle-release point, and reports which one it chose.
func (s *Session) setIdleDeadline(r *reader) (release bool) {
	var d time.Time
	if s.env.IdleTimeout > 0 {
		d = r.since.Add(s.env.IdleTimeout)
	}
	if r.resumable && !r.released && s.env.IdleRelease > 0 {
		if rd := r.since.Add(s.env.IdleRelease); d.IsZero() || rd.Before(d) {
			d, release = rd, true
		}
	}
	if !d.IsZero() {
		_ = s.conn.SetReadDeadline(d)
	}
	return release
}

func (s *Session) handleFrame(ctx context.Context, b []byte) error {
	f, err := DecodeClientFrame(b)
	if err != nil {
		return bye(pb.ErrorCode_BAD_FRAME, err.Error())
	}
	return s.dispatch(ctx, f)
}

// releaseCiphers drops the idle connection's expanded cipher state, when
// the carrier has any (transport.Conn does).
func (s *Session) releaseCiphers() {
	if c, ok := s.conn.(interface{ ReleaseCiphers() }); ok {
		c.ReleaseCiphers()
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func (s *Session) readError(err error) error {
	switch {
	case errors.Is(err, transport.ErrFrameTooLarge):
		return bye(pb.ErrorCode_BAD_FRAME, "frame too large")
	case isTimeout(err):
		return bye(pb.ErrorCode_IDLE_TIMEOUT, "no frame within the idle timeout")
	}
	return err // closed or broken: nobody to say goodbye to
}

// end says Goodbye when err asks for it; otherwise the connection is gone.
func (s *Session) end(err error) {
	var g *goodbye
	if errors.As(err, &g) {
		s.sayGoodbye(&pb.Goodbye{Code: g.code, Reason: g.reason})
		s.env.Logger.Debug("session closed", "device", s.addr.String(), "code", g.code.String(), "reason", g.reason)
		return
	}
	s.env.Logger.Debug("session ended", "device", s.addr.String(), "err", err)
}

// sayGoodbye writes Goodbye once and closes the connection.
func (s *Session) sayGoodbye(g *pb.Goodbye) {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if !already {
		_ = s.writeLast(&pb.ServerFrame{Body: &pb.ServerFrame_Goodbye{Goodbye: g}})
	}
	s.closeConn()
}

// closeConn closes the connection and wakes a parked reader, which then
// reads the closed connection and ends the session. Any goroutine may call
// it; closing s.conn directly leaves a parked session to the lot's periodic
// recheck instead.
func (s *Session) closeConn() {
	_ = s.conn.Close()
	// Under mu, so finish cannot free the slot (and another session take
	// it) between reading and waking it.
	s.mu.Lock()
	if s.parkSlot != 0 {
		s.env.Parker.Wake(s.parkSlot) // a no-op unless the reader is parked
	}
	s.mu.Unlock()
}

func (s *Session) finish() {
	s.mu.Lock()
	s.closed = true
	wg := s.workers
	s.mu.Unlock()
	_ = s.conn.Close()
	s.socialClose()
	if s.authed {
		s.env.Router.Detach(s.addr, s)
		if s.env.OnClose != nil {
			s.env.OnClose()
		}
	}
	if wg != nil {
		wg.Wait()
	}
	s.mu.Lock()
	sl := s.parkSlot
	s.parkSlot = 0
	s.mu.Unlock()
	if sl != 0 {
		s.env.Parker.Free(sl)
	}
}

func (s *Session) recoverPanic(where string) {
	r := recover()
	if r == nil {
		return
	}
	s.env.Logger.Error("session panic recovered", "device", s.addr.String(), "in", where, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	if s.env.OnPanic != nil {
		s.env.OnPanic()
	}
	s.sayGoodbye(&pb.Goodbye{Code: pb.ErrorCode_INTERNAL, Reason: "internal error"})
}

// start looks the device key up and sends Welcome.
func (s *Session) start(ctx context.Context) error {
	key := s.conn.RemoteKey()
	dev, err := s.env.Store.DeviceByKey(ctx, key)
	var welcome pb.Welcome
	switch {
	case err == nil && dev.Disabled:
		return bye(pb.ErrorCode_DISABLED, "this device was disabled by the operator")
	case err == nil:
		welcome.Registered, welcome.User, welcome.DeviceId = true, dev.Address.User, dev.Address.Device
	case isNotFound(err):
		if _, rerr := s.env.Store.RemovedDevice(ctx, key); rerr == nil {
			return bye(pb.ErrorCode_DISABLED, "this device was removed from its account")
		}
	default:
		s.env.Logger.Error("device lookup failed", "err", err)
		return bye(pb.ErrorCode_INTERNAL, "node storage unavailable")
	}
	welcome.ProtocolVersion = protocol.Version
	welcome.ServerTimeMs = s.env.Now().UnixMilli()
	welcome.RegistrationMode = s.env.Registration
	if err := s.writeFrame(&pb.ServerFrame{Body: &pb.ServerFrame_Welcome{Welcome: &welcome}}); err != nil {
		return err
	}
	if welcome.Registered {
		s.bind(dev.Address)
		s.startDelivery(ctx)
	}
	return nil
}

// bind makes the session authenticated as addr and takes over from an
// older connection of the same device. Delivery starts only with
// startDelivery, so a reply sent between the two still comes first.
func (s *Session) bind(addr protocol.Address) {
	s.addr, s.authed = addr, true
	if s.env.OnAuth != nil {
		s.env.OnAuth(s)
	}
	if old := s.env.Router.Attach(addr, s); old != nil {
		old.Kick(pb.ErrorCode_REPLACED, "a newer connection of this device took over", 0)
	}
	s.socialOnline(context.Background())
}

// startDelivery starts the first pump: the backlog, and a PrekeysLow
// notice if the device's stock ran low while it was away.
func (s *Session) startDelivery(ctx context.Context) {
	if c, err := s.env.Keys.Count(ctx, s.addr); err == nil {
		if low := s.env.Keys.Low(c); low != nil {
			s.mu.Lock()
			s.low = low
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	s.delivering = true
	s.mu.Unlock()
	s.kick()
}

// Nudge implements router.Peer: the queue may have grown.
func (s *Session) Nudge() {
	s.mu.Lock()
	s.freshLostLocked() // queued without an offer: the pump must read the store (fresh.go)
	s.mu.Unlock()
	s.kick()
}

// PrekeysLow implements router.Peer: the pump sends the notice.
func (s *Session) PrekeysLow(low *pb.PrekeysLow) {
	s.mu.Lock()
	s.low = low
	s.mu.Unlock()
	s.kick()
}

// Kick implements router.Peer: say Goodbye and close; Run then ends.
func (s *Session) Kick(code pb.ErrorCode, reason string, retryAfterMS uint64) {
	s.sayGoodbye(&pb.Goodbye{Code: code, Reason: reason, RetryAfterMs: retryAfterMS})
}

func marshalFrame(f *pb.ServerFrame) ([]byte, error) {
	b, err := proto.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("session: marshal %T: %w", f.Body, err)
	}
	return b, nil
}

// writeFrame marshals and writes one frame within the write timeout.
func (s *Session) writeFrame(f *pb.ServerFrame) error {
	b, err := marshalFrame(f)
	if err != nil {
		return err
	}
	s.setWriteDeadline()
	if err := s.conn.WriteFrame(b); err != nil {
		return fmt.Errorf("session: write: %w", err)
	}
	return nil
}

// writeLast writes a Goodbye: on carriers that can (transport.Conn), no
// pump or acker frame can follow it on the wire.
func (s *Session) writeLast(f *pb.ServerFrame) error {
	last, ok := s.conn.(interface{ WriteLastFrame([]byte) error })
	if !ok {
		return s.writeFrame(f)
	}
	b, err := marshalFrame(f)
	if err != nil {
		return err
	}
	s.setWriteDeadline()
	if err := last.WriteLastFrame(b); err != nil {
		return fmt.Errorf("session: write: %w", err)
	}
	return nil
}

func (s *Session) setWriteDeadline() {
	if s.env.WriteTimeout > 0 {
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.env.WriteTimeout))
	}
}

func (s *Session) reply(id uint64, f *pb.ServerFrame) error {
	f.ReplyTo = id
	return s.writeFrame(f)
}
