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
	addr   protocol.Address
	authed bool

	mu sync.Mutex
	// Mailbox and pump state, guarded by mu.
	closed      bool            // no more writes; Run is ending or Kick ran
	delivering  bool            // startDelivery ran: kick may start pumps
	pumping     bool            // a pump goroutine is running
	more        bool            // kicked while pumping: look at the queue again
	windowFull  bool            // the pump stopped with the window full; an ack restarts it
	drainedSent bool            // QueueDrained was sent
	initialSent uint64          // Deliver frames sent before QueueDrained
	lastSent    uint64          // highest seq sent on this connection
	inflight    int             // sent and not yet acknowledged
	low         *pb.PrekeysLow  // notice waiting for the pump
	pumpDone    *sync.WaitGroup // non-nil while a pump may run; Run waits on it
}

// New wraps a connection that completed its handshake.
func New(env *Env, conn Conn) *Session {
	return &Session{env: env, conn: conn}
}

// Addr is the device address once authenticated (zero before).
func (s *Session) Addr() protocol.Address { return s.addr }

// Run serves the connection until it closes, the device misbehaves, or
// Kick is called. ctx is used for store calls, which are not cancelled by
// node shutdown (an Enqueue in flight completes so its SendAck stays true).
func (s *Session) Run(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	defer s.finish()
	defer s.recoverPanic("handler")
	if err := s.start(ctx); err != nil {
		s.end(err)
		return
	}
	for {
		if s.env.IdleTimeout > 0 {
			_ = s.conn.SetReadDeadline(time.Now().Add(s.env.IdleTimeout))
		}
		b, err := s.conn.ReadFrame()
		if err != nil {
			s.end(s.readError(err))
			return
		}
		f, err := DecodeClientFrame(b)
		if err != nil {
			s.end(bye(pb.ErrorCode_BAD_FRAME, err.Error()))
			return
		}
		if err := s.dispatch(ctx, f); err != nil {
			s.end(err)
			return
		}
	}
}

func (s *Session) readError(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, transport.ErrFrameTooLarge):
		return bye(pb.ErrorCode_BAD_FRAME, "frame too large")
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
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
	wg := s.pumpDone
	s.mu.Unlock()
	_ = s.conn.Close()
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
