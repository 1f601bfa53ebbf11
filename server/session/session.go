package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
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
	authed      bool            // not guarded: owned by the reader, see addr
	closed      bool            // no more writes; Run is ending or Kick ran
	delivering  bool            // startDelivery ran: kick may start pumps
	pumping     bool            // a pump goroutine is running
	more        bool            // kicked while pumping: look at the queue again
	windowFull  bool            // the pump stopped with the window full; an ack restarts it
	drainedSent bool            // QueueDrained was sent
	inflight    int32           // sent and not yet acknowledged
	initialSent uint64          // Deliver frames sent before QueueDrained
	lastSent    uint64          // highest seq sent on this connection
	low         *pb.PrekeysLow  // notice waiting for the pump
	workers     *sync.WaitGroup // pump and acker; non-nil once one started; finish waits on it
	sq          *sendQueue      // in-flight Sends (inflight.go); non-nil while the acker runs
	mail        *mailbox        // pushes and link approval from other goroutines (social.go)

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
	s.Serve(ctx, false, func() { close(done) })
	<-done
}

// Serve looks the device up and sends Welcome on the calling goroutine (the
// one that ran the handshake, whose stack grew doing it), then hands the
// connection to a fresh reader goroutine and returns. done is called once,
// after the session ended and its workers stopped.
//
// resumable says the carrier survives a read deadline that expires between
// frames (TCP does; the WebSocket carrier closes). Only then does the reader
// wake after Env.IdleRelease without a frame to drop the connection's
// cipher state and continue on a new goroutine, whose stack is back at the
// minimum (a goroutine's stack never shrinks below 4x what it uses at its
// deepest park, and handling a frame grows it).
func (s *Session) Serve(ctx context.Context, resumable bool, done func()) {
	ctx = context.WithoutCancel(ctx)
	if !s.serveStart(ctx) {
		s.finish()
		done()
		return
	}
	go s.read(ctx, reader{resumable: resumable, since: time.Now()}, done)
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
// to the next when it hops: it lives on the stack, not in the Session.
type reader struct {
	resumable bool
	released  bool      // ciphers dropped since the last frame
	since     time.Time // when the last frame arrived
}

// read runs the reader until the session ends, or hops to a new goroutine.
func (s *Session) read(ctx context.Context, r reader, done func()) {
	if s.readLoop(ctx, &r) {
		go s.read(ctx, r, done)
		return
	}
	s.finish()
	done()
}

// readLoop reads and dispatches frames. It returns true when the reader
// should hop (idle: ciphers released), false when the session is over.
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
		_ = s.writeFrame(&pb.ServerFrame{Body: &pb.ServerFrame_Goodbye{Goodbye: g}})
	}
	_ = s.conn.Close()
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
		s.env.OnAuth()
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
func (s *Session) Nudge() { s.kick() }

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

func (s *Session) setWriteDeadline() {
	if s.env.WriteTimeout > 0 {
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.env.WriteTimeout))
	}
}

func (s *Session) reply(id uint64, f *pb.ServerFrame) error {
	f.ReplyTo = id
	return s.writeFrame(f)
}
