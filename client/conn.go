package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/transport"
)

// conn is one live connection to the node. Its read loop owns reading;
// writes are safe from any goroutine (transport.Conn serialises them).
type conn struct {
	c       *Client
	tc      *transport.Conn
	welcome *pb.Welcome
	nextID  atomic.Uint64

	mu      sync.Mutex
	pending map[uint64]chan *pb.ServerFrame // guarded by mu
	err     error                           // guarded by mu: why it closed (may be nil)
	done    bool                            // guarded by mu: close ran

	closed chan struct{}
	// inbound carries Deliver and QueueDrained from the read loop to the
	// receive loop in arrival order (the node bounds the in-flight window).
	inbound chan *pb.ServerFrame
}

// dial opens a Noise connection and reads Welcome. The first contact pins
// the node's key; later contacts use IK with the pinned key and fail with
// transport.ErrServerKeyChanged if the node presents another.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	if c.cfg.Dialer == nil {
		return nil, errors.New("client: Config.Dialer is required to connect")
	}
	c.mu.Lock()
	key := c.noiseKey
	hasKey := c.acct != nil
	c.mu.Unlock()
	if !hasKey {
		return nil, ErrNotRegistered
	}
	pin, err := c.loadPin(ctx)
	if err != nil {
		return nil, err
	}
	nc, err := c.cfg.Dialer.Dial(ctx, c.cfg.ServerAddr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.cfg.ServerAddr, err)
	}
	tcfg := transport.ClientConfig{Key: key}
	if pin != nil {
		var pk transport.PublicKey
		copy(pk[:], pin.Key)
		tcfg.ServerKey = &pk
	}
	tc, err := transport.Client(ctx, nc, tcfg)
	if err != nil {
		nc.Close()
		if errors.Is(err, transport.ErrServerKeyChanged) {
			return nil, fmt.Errorf("%w.\nAsk the operator whether the node at %s was reinstalled; if that change is expected, "+
				"this device's account is gone with the old node: start over with a fresh --home", err, c.cfg.ServerAddr)
		}
		return nil, fmt.Errorf("handshake with %s: %w", c.cfg.ServerAddr, err)
	}
	if pin == nil {
		rk := tc.RemoteKey()
		rec := &localpb.ServerPin{Key: rk[:], Addr: c.cfg.ServerAddr, PinnedMs: c.cfg.Now().UnixMilli()}
		if err := storage.Set(ctx, c.st, keyServerPin, mustMarshal(rec)); err != nil {
			tc.Close()
			return nil, fmt.Errorf("pin server key: %w", err)
		}
		c.log.Info("pinned node key", "addr", c.cfg.ServerAddr, "key", rk.String())
	}
	cn := &conn{
		c: c, tc: tc,
		pending: map[uint64]chan *pb.ServerFrame{},
		closed:  make(chan struct{}),
		inbound: make(chan *pb.ServerFrame, 1024),
	}
	// Welcome is the node's first frame; bound the wait by ctx.
	stop := context.AfterFunc(ctx, func() { tc.SetReadDeadline(time.Unix(1, 0)) })
	f, err := cn.readFrame()
	stop()
	tc.SetReadDeadline(time.Time{})
	if err != nil {
		tc.Close()
		return nil, fmt.Errorf("read welcome: %w", err)
	}
	if e := f.GetError(); e != nil {
		tc.Close()
		return nil, protocol.FromProto(e)
	}
	if g := f.GetGoodbye(); g != nil { // e.g. DISABLED: a removed device
		tc.Close()
		return nil, &protocol.Error{Code: g.GetCode(), Reason: g.GetReason(), RetryAfterMS: g.GetRetryAfterMs()}
	}
	w := f.GetWelcome()
	if w == nil {
		tc.Close()
		return nil, fmt.Errorf("node sent %T before Welcome", f.GetBody())
	}
	cn.welcome = w
	return cn, nil
}

func (cn *conn) readFrame() (*pb.ServerFrame, error) {
	b, err := cn.tc.ReadFrame()
	if err != nil {
		return nil, err
	}
	var f pb.ServerFrame
	if err := proto.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode frame from node: %w", err)
	}
	return &f, nil
}

// start runs the read, receive and ping loops.
func (cn *conn) start() {
	cn.c.wg.Add(3)
	go func() { defer cn.c.wg.Done(); cn.readLoop() }()
	go func() { defer cn.c.wg.Done(); cn.c.receiveLoop(cn) }()
	go func() { defer cn.c.wg.Done(); cn.pingLoop() }()
}

func (cn *conn) readLoop() {
	for {
		f, err := cn.readFrame()
		if err != nil {
			cn.close(fmt.Errorf("connection lost: %w", err))
			return
		}
		if id := f.GetReplyTo(); id != 0 {
			cn.mu.Lock()
			ch := cn.pending[id]
			delete(cn.pending, id)
			cn.mu.Unlock()
			if ch != nil {
				ch <- f // buffered 1
			}
			continue
		}
		switch b := f.GetBody().(type) {
		case *pb.ServerFrame_Deliver, *pb.ServerFrame_QueueDrained:
			select {
			case cn.inbound <- f:
			case <-cn.closed:
				return
			}
		case *pb.ServerFrame_Presence:
			if p, ok := presenceFromProto(b.Presence); ok {
				cn.c.pushEvent(p)
			}
		case *pb.ServerFrame_PrekeysLow:
			cn.c.refillPreKeysAsync(cn)
		case *pb.ServerFrame_Goodbye:
			g := b.Goodbye
			cn.close(&protocol.Error{Code: g.GetCode(), Reason: g.GetReason(), RetryAfterMS: g.GetRetryAfterMs()})
			return
		case *pb.ServerFrame_Error:
			cn.close(protocol.FromProto(b.Error))
			return
		default:
			cn.c.log.Debug("ignoring unexpected frame", "type", fmt.Sprintf("%T", b))
		}
	}
}

func (cn *conn) pingLoop() {
	t := time.NewTicker(cn.c.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-cn.closed:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), cn.c.cfg.RequestTimeout)
			_, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{ClientTimeMs: cn.c.cfg.Now().UnixMilli()}}})
			cancel()
			if err != nil && !errors.Is(err, ErrNotConnected) {
				cn.close(fmt.Errorf("keep-alive: %w", err))
				return
			}
		}
	}
}

// close ends the connection once; err says why.
func (cn *conn) close(err error) {
	cn.mu.Lock()
	if cn.done {
		cn.mu.Unlock()
		return
	}
	cn.done, cn.err = true, err
	close(cn.closed)
	cn.mu.Unlock()
	cn.tc.Close()
	cn.c.connLost(cn, err)
}

func (cn *conn) closeErr() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.err
}

// send writes a frame that expects no reply.
func (cn *conn) send(f *pb.ClientFrame) error {
	b, err := proto.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode frame: %w", err)
	}
	if err := cn.tc.WriteFrame(b); err != nil {
		cn.close(fmt.Errorf("write: %w", err))
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return nil
}

// request sends f with a fresh id and waits for the reply. A pb.Error reply
// comes back as a *protocol.Error.
func (cn *conn) request(ctx context.Context, f *pb.ClientFrame) (*pb.ServerFrame, error) {
	id := cn.nextID.Add(1)
	f.Id = id
	ch := make(chan *pb.ServerFrame, 1)
	cn.mu.Lock()
	if cn.done {
		err := cn.err
		cn.mu.Unlock()
		return nil, notConnected(err)
	}
	cn.pending[id] = ch
	cn.mu.Unlock()
	defer func() {
		cn.mu.Lock()
		delete(cn.pending, id)
		cn.mu.Unlock()
	}()
	if err := cn.send(f); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cn.c.cfg.RequestTimeout)
	defer cancel()
	select {
	case r := <-ch:
		if e := r.GetError(); e != nil {
			return nil, protocol.FromProto(e)
		}
		return r, nil
	case <-cn.closed:
		return nil, notConnected(cn.closeErr())
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the node: %w", ctx.Err())
	}
}

// notConnected wraps why a connection ended (a Goodbye's *protocol.Error,
// an I/O error) under ErrNotConnected, keeping both matchable.
func notConnected(why error) error {
	if why == nil {
		return ErrNotConnected
	}
	return fmt.Errorf("%w: %w", ErrNotConnected, why)
}
