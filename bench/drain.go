package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// OfflineConfig configures Offline.
type OfflineConfig struct {
	Common
	// Devices that are offline while their queues fill (1 … 8,000).
	Devices int
	// Messages queued for each device (1 … 100,000).
	Messages int
	// Senders share the queueing; default min(Devices, 16).
	Senders int
	// Size of each ciphertext. Default 160.
	Size int
	// Conc is how many devices connect at once. Default 64.
	Conc int
	// Timeout bounds the drain. Default 5 min.
	Timeout time.Duration
}

// StormConfig configures Storm.
type StormConfig struct {
	Common
	// N devices reconnect at once (1 … 8,000).
	N int
	// PerDevice messages wait for each. Default 2.
	PerDevice int
	// Conc bounds simultaneous dials. Default 1,024 (the listen backlog
	// is the node's business; the storm is ours).
	Conc int
	// Timeout bounds the storm. Default 5 min.
	Timeout time.Duration
}

// Offline queues Messages for each of Devices offline devices, then
// connects them and reports the drain rate and whether every queued
// message arrived exactly once.
func Offline(ctx context.Context, cfg OfflineConfig) (_ *Result, err error) {
	defer cfg.profileScenario(&err)()
	switch {
	case cfg.Devices < 1 || cfg.Devices > 8000:
		return nil, fmt.Errorf("%w: --devices %d: want 1 … 8,000", ErrBadConfig, cfg.Devices)
	case cfg.Messages < 1 || cfg.Messages > 100_000:
		return nil, fmt.Errorf("%w: --messages %d: want 1 … 100,000", ErrBadConfig, cfg.Messages)
	}
	if cfg.Senders <= 0 {
		cfg.Senders = min(cfg.Devices, 16)
	}
	if cfg.Conc <= 0 {
		cfg.Conc = 64
	}
	r := newResult("offline")
	r.set("devices", cfg.Devices)
	r.set("messages_per_device", cfg.Messages)
	d := drainRun{Common: cfg.Common, devices: cfg.Devices, perDevice: cfg.Messages, senders: cfg.Senders, size: cfg.Size, conc: cfg.Conc, timeout: cfg.Timeout}
	return r, d.run(ctx, r)
}

// Storm gives N devices queued messages while they are offline, then
// reconnects them all at once and reports how long until every device is
// back (Welcome) and every queued message delivered.
func Storm(ctx context.Context, cfg StormConfig) (_ *Result, err error) {
	defer cfg.profileScenario(&err)()
	if cfg.N < 1 || cfg.N > 8000 {
		return nil, fmt.Errorf("%w: --n %d: want 1 … 8,000", ErrBadConfig, cfg.N)
	}
	if cfg.PerDevice <= 0 {
		cfg.PerDevice = 2
	}
	if cfg.Conc <= 0 {
		cfg.Conc = 1024
	}
	r := newResult("storm")
	r.set("devices", cfg.N)
	r.set("messages_per_device", cfg.PerDevice)
	d := drainRun{Common: cfg.Common, devices: cfg.N, perDevice: cfg.PerDevice, senders: min(cfg.N, 16), conc: cfg.Conc, timeout: cfg.Timeout, storm: true}
	return r, d.run(ctx, r)
}

type drainRun struct {
	Common
	devices, perDevice, senders, size, conc int
	timeout                                 time.Duration
	storm                                   bool
}

func (d drainRun) run(ctx context.Context, r *Result) error {
	if d.size <= 0 {
		d.size = 160
	}
	if d.timeout <= 0 {
		d.timeout = 5 * time.Minute
	}
	t := d.Target
	ks, err := NewKeySet()
	if err != nil {
		return err
	}
	devs, err := newDevices(d.devices + d.senders)
	if err != nil {
		return err
	}
	recips, senderDevs := devs[:d.devices], devs[d.devices:]
	_, st := dialAll(ctx, t, recips, ks, 32, blockRegister, true, false, false)
	if st.Failed > 0 {
		return fmt.Errorf("%w: %d recipients failed to register: %s", ErrNode, st.Failed, st.FirstErr)
	}
	senders, st := dialAll(ctx, t, senderDevs, ks, 32, blockTraffic, true, true, true)
	defer closeAll(senders)
	if st.Failed > 0 {
		return fmt.Errorf("%w: %d senders failed to register: %s", ErrNode, st.Failed, st.FirstErr)
	}

	var tagb [4]byte
	_, _ = rand.Read(tagb[:])
	tag := binary.BigEndian.Uint32(tagb[:])
	clk := clock{t0: time.Now()}
	cnt := new(counters)
	ledgers := make([]*ledger, d.devices)
	for i := range ledgers {
		ledgers[i] = &ledger{sentAt: make([]int64, 0, d.perDevice)}
	}
	lookup := func(s uint32) *ledger {
		if int(s) < len(ledgers) {
			return ledgers[s]
		}
		return nil
	}

	// Queue: sender s fills recipients s, s+S, s+2S, … with a window of
	// 32 outstanding Sends (the node's per-session limit).
	qStart := time.Now()
	var readers, wg sync.WaitGroup
	for s, c := range senders {
		slots := make(chan struct{}, 32)
		rd := &reader{c: c, clk: clk, tag: tag, cnt: cnt, out: lookup, slots: slots}
		readers.Add(1)
		go func() { defer readers.Done(); rd.run() }()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ri := s; ri < d.devices; ri += d.senders {
				l := ledgers[ri]
				for seq := range uint64(d.perDevice) {
					select {
					case slots <- struct{}{}:
					case <-ctx.Done():
						return
					}
					now := clk.now()
					l.mu.Lock()
					l.sentAt = append(l.sentAt, now)
					l.mu.Unlock()
					if _, err := c.write(sendFrame(recips[ri].Handle, uint32(ri), seq, tag, messageBody(d.size, now, uint32(ri), seq))); err != nil {
						cnt.noteErr("send: " + err.Error())
						return
					}
					cnt.sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	total := int64(d.devices * d.perDevice)
	for cnt.acked.Load()+cnt.sendErrors.Load() < cnt.sent.Load() && ctx.Err() == nil && time.Since(qStart) < d.timeout {
		time.Sleep(10 * time.Millisecond)
	}
	qWall := time.Since(qStart)
	closeAll(senders)
	readers.Wait()
	r.set("queued", cnt.acked.Load())
	r.set("queue_errors", cnt.sendErrors.Load())
	r.set("queue_msgs_per_s", float64(cnt.acked.Load())/qWall.Seconds())
	if cnt.acked.Load() != total {
		return fmt.Errorf("%w: queued %d of %d: %s", ErrNode, cnt.acked.Load(), total, cnt.firstErr)
	}
	if err := sleepCtx(ctx, 500*time.Millisecond); err != nil {
		return err
	}

	// Drain: every recipient connects (Conc at a time) and reads until it
	// has all its messages and the node said QueueDrained.
	before := t.sample(ctx)
	cpu0 := selfCPU()
	start := time.Now()
	var back, complete atomic.Int64
	var lastBack, lastDone atomic.Int64 // ns since start
	hs := new(Histogram)
	sem := make(chan struct{}, d.conc)
	dctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	conns := make([]*conn, d.devices)
	var connMu sync.Mutex
	var all sync.WaitGroup
	for i := range d.devices {
		all.Add(1)
		go func() {
			defer all.Done()
			select {
			case sem <- struct{}{}:
			case <-dctx.Done():
				return
			}
			t0 := time.Now()
			c, w, err := dial(dctx, t, recips[i], srcAddr(blockDrain, i), true)
			<-sem
			if err == nil && !w.Registered {
				c.close()
				err = fmt.Errorf("%w: %s not registered", ErrNode, recips[i].Handle)
			}
			if err != nil {
				cnt.noteErr(err.Error())
				return
			}
			hs.RecordSince(t0)
			back.Add(1)
			storeMax(&lastBack, int64(time.Since(start)))
			connMu.Lock()
			conns[i] = c
			connMu.Unlock()
			l := ledgers[i]
			done := make(chan struct{})
			drained := make(chan struct{})
			var once sync.Once
			rd := &reader{c: c, clk: clk, tag: tag, cnt: cnt, in: lookup, windowTo: time.Now().Add(24 * time.Hour), drained: drained}
			rd.onDeliver = func() {
				l.mu.Lock()
				n := l.uniq
				l.mu.Unlock()
				if n >= d.perDevice {
					once.Do(func() { close(done) })
				}
			}
			go rd.run()
			select {
			case <-done:
			case <-dctx.Done():
				return
			}
			select {
			case <-drained:
			case <-dctx.Done():
				return
			}
			complete.Add(1)
			storeMax(&lastDone, int64(time.Since(start)))
		}()
	}
	all.Wait()
	wall := time.Since(start)
	benchCPU := selfCPU() - cpu0
	after := t.sample(ctx)
	// Let duplicates, if any, show up before judging.
	_ = sleepCtx(ctx, 200*time.Millisecond)
	closeAll(conns)
	missing, _ := verdict(ledgers)

	drainTime := time.Duration(lastDone.Load())
	r.set("devices_back", back.Load())
	r.set("devices_complete", complete.Load())
	r.set("delivered", cnt.delivered.Load())
	r.set("duplicates", cnt.dups.Load())
	r.set("missing", missing)
	r.set("foreign", cnt.foreign.Load())
	r.set("exactly_once", missing == 0 && cnt.dups.Load() == 0 && cnt.foreign.Load() == 0)
	r.set("complete", complete.Load() == int64(d.devices) && missing == 0)
	if d.storm {
		r.set("all_back_s", time.Duration(lastBack.Load()).Seconds())
		r.set("all_delivered_s", drainTime.Seconds())
		r.set("handshakes_per_s", float64(back.Load())/time.Duration(lastBack.Load()).Seconds())
		r.setLatency("reconnect", hs)
		r.setNodeCPU(t, before, after, float64(back.Load()), "node_cpu_us_per_device")
		if back.Load() > 0 {
			// This process runs the client side of every reconnect (an IK
			// initiator is five X25519 operations too, plus reading the
			// backlog), on the same cores as the node.
			r.set("bench_cpu_us_per_device", float64(benchCPU.Microseconds())/float64(back.Load()))
		}
	} else {
		r.set("drain_s", drainTime.Seconds())
		r.set("drain_msgs_per_s", float64(cnt.delivered.Load())/drainTime.Seconds())
		r.setLatency("connect", hs)
		r.setNodeCPU(t, before, after, float64(cnt.delivered.Load()), "node_cpu_us_per_msg")
		if n := cnt.delivered.Load(); n > 0 {
			// The receiving side of the drain (decrypt, decode, one
			// DeliveryAck per burst), plus the devices' handshakes, on
			// the node's cores: what 300,000 msgs/s would also need.
			r.set("bench_cpu_us_per_msg", float64(benchCPU.Microseconds())/float64(n))
		}
	}
	r.set("wall_s", wall.Seconds())
	if cnt.firstErr != "" {
		r.note("first error: %s", cnt.firstErr)
	}
	if complete.Load() != int64(d.devices) || missing > 0 || cnt.dups.Load() > 0 {
		return fmt.Errorf("%w: %d of %d devices complete, %d missing, %d duplicates", ErrNode, complete.Load(), d.devices, missing, cnt.dups.Load())
	}
	return nil
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}
