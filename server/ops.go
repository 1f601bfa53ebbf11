package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/limits"
	"github.com/parley-im/parley/server/metrics"
	"github.com/parley-im/parley/server/push"
	"github.com/parley-im/parley/server/session"
	"github.com/parley-im/parley/store"
	"github.com/parley-im/parley/store/pebble"
	"github.com/parley-im/parley/transport"
)

// ops is the node's operational layer: metrics, limits and push. It sits
// around the session package without living in it: a handler middleware
// (Env.Wrap) for frames in and limits, a Conn wrapper for frames out, and
// a store wrapper that sees every queue write.
type ops struct {
	n     *Node
	m     *metrics.Metrics
	kinds *metrics.FrameKinds
	push  *push.Service // nil when Config.PushURL is empty

	sendLim *limits.Bucket[protocol.Address]
	regLim  *limits.Bucket[string]

	// ips maps a live *session.Session to its client IP, for the
	// registration limit; entries go when the connection ends.
	ips sync.Map

	// depth is the node-wide queue depth, counted: set by a full count at
	// start, then moved by every enqueue, ack and expiry the node makes.
	depth atomic.Int64
	// earliest is the sampled earliest expiry (Unix ns, 0: none): the
	// oldest entry is QueueTTL older.
	earliest atomic.Int64
}

func newOps(n *Node, raw store.Store) (*ops, error) {
	cfg := n.cfg
	o := &ops{
		n:     n,
		m:     metrics.New(),
		kinds: metrics.NewFrameKinds(),
	}
	if limited(cfg.SendRate) {
		o.sendLim = limits.NewBucket[protocol.Address](cfg.SendRate, cfg.SendBurst, cfg.Now)
	}
	if limited(cfg.RegisterRate) {
		o.regLim = limits.NewBucket[string](cfg.RegisterRate, 0, cfg.Now)
	}
	if cfg.PushURL != "" {
		p, err := push.New(push.Config{
			URL:       cfg.PushURL,
			Secret:    []byte(cfg.PushSecret),
			Window:    cfg.PushWindow,
			Token:     raw.PushToken,
			Online:    func(a protocol.Address) bool { return n.router.Lookup(a) != nil },
			Logger:    cfg.Logger.With("component", "push"),
			OnBatch:   func(ok bool) { o.m.PushBatches.WithLabelValues(okLabel(ok)).Inc() },
			OnDrop:    o.m.PushDropped.Inc,
			OnNotices: func(k int) { o.m.PushNotices.Add(float64(k)) },
		})
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		o.push = p
	}
	o.register(raw)
	return o, nil
}

func okLabel(ok bool) string {
	if ok {
		return "ok"
	}
	return "error"
}

// register adds the collectors whose figures live elsewhere.
func (o *ops) register(raw store.Store) {
	n, m := o.n, o.m
	m.GaugeFunc("connections", "Open connections (handshaking or authenticated).", func() float64 { return float64(n.stats.connections.Load()) })
	m.GaugeFunc("sessions", "Authenticated sessions.", func() float64 { return float64(n.stats.sessions.Load()) })
	m.LabeledCounterFunc("handshakes_total", "Noise handshakes, by result.", "result", map[string]func() float64{
		"ok":    func() float64 { return float64(n.stats.handshakes.Load()) },
		"error": func() float64 { return float64(n.stats.handshakeErrors.Load()) },
	})
	m.CounterFunc("panics_recovered_total", "Panics recovered in sessions (each ended its session only).", func() float64 { return float64(n.stats.panics.Load()) })
	m.CounterFunc("queue_expired_total", "Queue entries deleted by expiry.", func() float64 { return float64(n.stats.expired.Load()) })
	m.GaugeFunc("queue_depth", "Entries queued for all devices (counted by the node; recounted at start and after admin deletions).", func() float64 { return float64(max(o.depth.Load(), 0)) })
	m.GaugeFunc("queue_oldest_age_seconds", "Age of the oldest queued entry (sampled every 15 s from the expiry index).", func() float64 {
		e := o.earliest.Load()
		if e == 0 {
			return 0
		}
		enq := time.Unix(0, e).Add(-n.cfg.QueueTTL)
		return max(n.cfg.Now().Sub(enq).Seconds(), 0)
	})
	if ps, ok := raw.(interface{ Stats() pebble.Stats }); ok {
		m.CounterFunc("store_syncs_total", "WAL syncs of the store, each making one or more applied batches durable.", func() float64 { return float64(ps.Stats().Syncs) })
		m.CounterFunc("store_sync_seconds_total", "Per WAL sync, the time from applying the oldest batch it covers to the end of the sync, summed.", func() float64 { return ps.Stats().SyncTime.Seconds() })
		m.CounterFunc("store_entries_written_total", "Queue entries written by the committer.", func() float64 { return float64(ps.Stats().Entries) })
		m.GaugeFunc("store_entries_per_sync", "Group-commit factor since start: queue entries per sync.", func() float64 { return ps.Stats().EntriesPerSync() })
	}
	m.GaugeFunc("push_pending", "Devices waiting for a push batch.", func() float64 {
		if o.push == nil {
			return 0
		}
		return float64(o.push.Pending())
	})
}

// wrap is the node's handler middleware (Env.Wrap): it counts the frame,
// applies the limits, and then runs the test hook and the handler.
func (o *ops) wrap(h session.Handler) session.Handler {
	h = o.n.wrapHandler(h)
	return func(ctx context.Context, s *session.Session, f *pb.ClientFrame) error {
		kind := metrics.ClientKind(f)
		o.m.FrameIn(kind).Inc()
		if err := o.check(ctx, s, f); err != nil {
			return err
		}
		err := h(ctx, s, f)
		if protocol.CodeOf(err) == pb.ErrorCode_RATE_LIMITED {
			o.m.Rejected.WithLabelValues(kind).Inc() // the keys service's fetch limit
		}
		return err
	}
}

// check applies the limits the session package does not know about.
func (o *ops) check(ctx context.Context, s *session.Session, f *pb.ClientFrame) error {
	switch b := f.Body.(type) {
	case *pb.ClientFrame_Register:
		ip, _ := o.ips.Load(s)
		ipStr, _ := ip.(string)
		if ok, wait := o.regLim.Take(ipStr); !ok {
			return o.refuse("register", rateLimited("registrations from your address", wait))
		}
	case *pb.ClientFrame_Send:
		if s.Addr().User == "" {
			return nil // needAuth refuses it
		}
		if ok, wait := o.sendLim.Take(s.Addr()); !ok {
			return o.refuse("send", rateLimited("sends from this device", wait))
		}
		if max := o.n.cfg.MaxFanout; limited(max) && len(b.Send.GetCiphertexts()) > max {
			return o.refuse("fanout", protocol.Errorf(pb.ErrorCode_TOO_LARGE, "%d target devices in one send; the node allows %d", len(b.Send.GetCiphertexts()), max))
		}
		return o.checkRecipients(ctx, b.Send)
	case *pb.ClientFrame_GroupSend:
		if s.Addr().User == "" {
			return nil
		}
		if ok, wait := o.sendLim.Take(s.Addr()); !ok {
			return o.refuse("send", rateLimited("sends from this device", wait))
		}
		if max := o.n.cfg.MaxFanout; limited(max) && len(b.GroupSend.GetDevices()) > max {
			return o.refuse("fanout", protocol.Errorf(pb.ErrorCode_TOO_LARGE, "%d target devices in one group send; the node allows %d", len(b.GroupSend.GetDevices()), max))
		}
	}
	return nil
}

// checkRecipients refuses a Send to a disabled account or to a device
// whose queue is at MaxQueue. QueueSpan is two seeks; only a queue whose
// span reaches the cap is counted exactly.
func (o *ops) checkRecipients(ctx context.Context, m *pb.Send) error {
	st := o.n.store
	if a, err := st.Account(ctx, m.GetTo()); err == nil && a.Disabled {
		return protocol.Errorf(pb.ErrorCode_DISABLED, "%s's account is disabled by the operator", m.GetTo())
	}
	maxQ := o.n.cfg.MaxQueue
	if !limited(maxQ) {
		return nil
	}
	for _, c := range m.GetCiphertexts() {
		a := protocol.Address{User: c.GetUser(), Device: c.GetDeviceId()}
		if protocol.ValidateHandle(a.User) != nil || a.Device == 0 {
			continue // the send handler refuses it
		}
		span, err := st.QueueSpan(ctx, a)
		if err != nil || span < maxQ {
			continue
		}
		if d, err := st.QueueDepth(ctx, a); err == nil && d >= maxQ {
			return o.refuse("queue_full", protocol.Errorf(pb.ErrorCode_QUEUE_FULL, "device %s has %d messages waiting, the most this node keeps; retry later", a, d))
		}
	}
	return nil
}

func (o *ops) refuse(kind string, err *protocol.Error) error {
	o.m.Rejected.WithLabelValues(kind).Inc()
	return err
}

func rateLimited(what string, wait time.Duration) *protocol.Error {
	e := protocol.Errorf(pb.ErrorCode_RATE_LIMITED, "too many %s; retry in %s", what, wait.Round(time.Millisecond))
	e.RetryAfterMS = uint64(wait.Milliseconds()) + 1
	return e
}

// overCapacity reports whether one more connection is over MaxConnections
// (the counter already includes the new one).
func (o *ops) overCapacity() bool {
	maxC := o.n.cfg.MaxConnections
	if limited(maxC) && o.n.stats.connections.Load() > int64(maxC) {
		o.m.Rejected.WithLabelValues("connections").Inc()
		return true
	}
	return false
}

// track remembers a session's client IP until untrack.
func (o *ops) track(s *session.Session, remote net.Addr) {
	ip := remote.String()
	if h, _, err := net.SplitHostPort(ip); err == nil {
		ip = h
	}
	o.ips.Store(s, ip)
}

func (o *ops) untrack(s *session.Session) { o.ips.Delete(s) }

// conn wraps a session's connection so outgoing frames are counted by type.
func (o *ops) conn(c *transport.Conn) session.Conn { return countingConn{c, o} }

type countingConn struct {
	*transport.Conn
	o *ops
}

func (c countingConn) WriteFrame(p []byte) error {
	c.o.m.FrameOut(c.o.kinds.Of(p)).Inc()
	return c.Conn.WriteFrame(p)
}

func (c countingConn) WriteLastFrame(p []byte) error {
	c.o.m.FrameOut(c.o.kinds.Of(p)).Inc()
	return c.Conn.WriteLastFrame(p)
}

func (c countingConn) WriteFrames(ps [][]byte) error {
	var last string
	n := 0
	for _, p := range ps { // a pump batch is mostly one kind: count runs
		k := c.o.kinds.Of(p)
		if k != last && n > 0 {
			c.o.m.FrameOut(last).Add(float64(n))
			n = 0
		}
		last = k
		n++
	}
	if n > 0 {
		c.o.m.FrameOut(last).Add(float64(n))
	}
	return c.Conn.WriteFrames(ps)
}

// services adds the supervised services of ops.
func (o *ops) services(sup *suture.Supervisor) {
	sup.Add(sampler{o})
	if o.push != nil {
		sup.Add(o.push)
	}
}

// sampler keeps the queue gauges honest: a full count at start, then the
// earliest expiry every 15 s (one seek).
type sampler struct{ o *ops }

func (s sampler) String() string { return "queue sampler" }

func (s sampler) Serve(ctx context.Context) error {
	if err := s.o.recount(ctx); err != nil {
		return err
	}
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		e, err := s.o.n.store.EarliestExpiry(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, store.ErrClosed) {
				return ctx.Err()
			}
			return fmt.Errorf("server: sample queues: %w", err)
		}
		s.o.setEarliest(e)
	}
}

// recount sets the depth from a full count.
func (o *ops) recount(ctx context.Context) error {
	k, e, err := o.n.store.QueueTotals(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("server: count queues: %w", err)
	}
	o.depth.Store(int64(k))
	o.setEarliest(e)
	return nil
}

func (o *ops) setEarliest(e time.Time) {
	if e.IsZero() {
		o.earliest.Store(0)
		return
	}
	o.earliest.Store(e.UnixNano())
}

// queued accounts for entries that became durable: depth, metrics, and a
// push notice for each target device without a session.
func (o *ops) queued(es []*store.Entry, start time.Time, notify bool) {
	o.depth.Add(int64(len(es)))
	o.m.Enqueued.Add(float64(len(es)))
	o.m.CommitSeconds.Observe(time.Since(start).Seconds())
	if !notify || o.push == nil {
		return
	}
	var last protocol.Address
	k := 0
	flush := func() {
		if k > 0 && o.n.router.Lookup(last) == nil {
			o.push.Notify(last, k)
		}
	}
	for _, e := range es {
		if e.Device != last {
			flush()
			last, k = e.Device, 0
		}
		k++
	}
	flush()
}
