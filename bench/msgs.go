package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// MsgsConfig configures Msgs.
type MsgsConfig struct {
	Common
	// Pairs of online devices; in each, one sends and the other receives
	// and acknowledges. 1 … 4,000 (both ends live in this process).
	Pairs int
	// Rate is the offered load in messages/s over all pairs, paced open
	// loop in Tick steps with latency counted from each Send's
	// scheduled time; 0 means max: every sender keeps Window Sends
	// outstanding (closed loop, latency from the write).
	Rate int
	// Duration of the measured sending phase. Default 10 s.
	Duration time.Duration
	// Warmup is traffic at the same rate before Duration starts (at most
	// 1 min): its messages must arrive exactly once like the others, but
	// no latency, rate or CPU figure counts them. A node's first seconds
	// are its slowest (Pebble starts with small memtables); 0 measures
	// from the first Send.
	Warmup time.Duration
	// Size of each ciphertext in bytes. Default 160 (a short text message
	// after Signal's padding and MAC).
	Size int
	// Window is the outstanding Sends per sender at max rate. Default 32,
	// the node's per-session in-flight limit.
	Window int
	// Tick is the open loop's pacing step: a pacer wakes at most once per
	// Tick and writes every Send that has come due. Default paceTick.
	Tick time.Duration
	// Drain bounds the wait for stragglers after sending stops. Default 15 s.
	Drain time.Duration
}

// Msgs runs one-to-one traffic between online devices and reports
// delivered messages/s, first-tick (Send→SendAck), delivery
// (Send→Deliver) and receipt (Send→DELIVERED receipt) latency, node CPU
// per delivered message, and whether every acknowledged message arrived
// exactly once.
func Msgs(ctx context.Context, cfg MsgsConfig) (*Result, error) {
	switch {
	case cfg.Pairs < 1 || cfg.Pairs > 4000:
		return nil, fmt.Errorf("%w: --pairs %d: want 1 … 4,000", ErrBadConfig, cfg.Pairs)
	case cfg.Rate < 0 || cfg.Rate > 10_000_000:
		return nil, fmt.Errorf("%w: --rate %d", ErrBadConfig, cfg.Rate)
	case cfg.Size < 0 || cfg.Size > 16<<10:
		return nil, fmt.Errorf("%w: --size %d: want ≤ 16 KiB", ErrBadConfig, cfg.Size)
	case cfg.Duration < 0 || cfg.Duration > time.Hour:
		return nil, fmt.Errorf("%w: --duration %v: want ≤ 1h", ErrBadConfig, cfg.Duration)
	case cfg.Warmup < 0 || cfg.Warmup > time.Minute:
		return nil, fmt.Errorf("%w: --warmup %v: want ≤ 1m", ErrBadConfig, cfg.Warmup)
	}
	if cfg.Duration == 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Size == 0 {
		cfg.Size = 160
	}
	if cfg.Window <= 0 {
		cfg.Window = 32
	}
	if cfg.Tick <= 0 {
		cfg.Tick = paceTick
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 15 * time.Second
	}
	t := cfg.Target
	r := newResult("msgs")
	r.set("pairs", cfg.Pairs)
	if cfg.Rate > 0 {
		r.set("offered_msgs_per_s", cfg.Rate)
	} else {
		r.set("offered_msgs_per_s", "max")
	}
	r.set("msg_bytes", cfg.Size)

	ks, err := NewKeySet()
	if err != nil {
		return nil, err
	}
	devs, err := newDevices(2 * cfg.Pairs)
	if err != nil {
		return nil, err
	}
	conns, st := dialAll(ctx, t, devs, ks, 32, blockTraffic, true, true, true)
	defer closeAll(conns)
	if st.Failed > 0 {
		return nil, fmt.Errorf("%w: %d of %d devices failed to register: %s", ErrNode, st.Failed, len(devs), st.FirstErr)
	}
	r.set("registers_per_s", float64(st.OK)/st.Elapsed.Seconds())

	var tagb [4]byte
	_, _ = rand.Read(tagb[:])
	tag := binary.BigEndian.Uint32(tagb[:])
	clk := clock{t0: time.Now()}
	cnt := new(counters)
	ledgers := make([]*ledger, cfg.Pairs)
	for i := range ledgers {
		ledgers[i] = new(ledger)
	}
	start := time.Now().Add(100 * time.Millisecond)
	from := start.Add(cfg.Warmup)
	end := from.Add(cfg.Duration)
	cnt.from = int64(from.Sub(clk.t0))
	r.set("warmup_s", cfg.Warmup.Seconds())
	var readers sync.WaitGroup
	senders := make([]*sender, cfg.Pairs)
	for i := range cfg.Pairs {
		own := uint32(i)
		l := ledgers[i]
		lookup := func(s uint32) *ledger {
			if s != own {
				return nil
			}
			return l
		}
		senders[i] = &sender{c: conns[2*i], to: devs[2*i+1].Handle, stream: own, tag: tag, size: cfg.Size, l: l, clk: clk, cnt: cnt, window: cfg.Window, start: start, end: end}
		snd := &reader{c: conns[2*i], clk: clk, tag: tag, cnt: cnt, out: lookup, windowTo: end}
		if cfg.Rate == 0 {
			snd.snd = senders[i]
		}
		rcv := &reader{c: conns[2*i+1], clk: clk, tag: tag, cnt: cnt, in: lookup, windowTo: end}
		readers.Add(2)
		go func() { defer readers.Done(); snd.run() }()
		go func() { defer readers.Done(); rcv.run() }()
	}

	stopProfile, err := startCPUProfile(cfg.CPUProfile)
	if err != nil {
		return nil, err
	}
	paced := make(chan struct{})
	go func() {
		defer close(paced)
		if cfg.Rate > 0 {
			pace(ctx, senders, cfg.Rate, cfg.Tick, clk, start, end)
		}
	}()
	_ = sleepCtx(ctx, time.Until(from)) // cancelled: judged below as ever
	before := t.sample(ctx)
	selfBefore, _ := procCPU(os.Getpid())
	selfWaitBefore := runDelay(os.Getpid())
	var ruBefore syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ruBefore)
	<-paced
	if d := time.Until(end); d > 0 {
		_ = sleepCtx(ctx, d)
	}
	after := t.sample(ctx)
	selfAfter, _ := procCPU(os.Getpid())
	selfWaitAfter := runDelay(os.Getpid())
	var ruAfter syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ruAfter)
	inWindow := cnt.deliveredInWindow.Load()

	// Wait until every Send is answered and every acknowledged message
	// arrived (or Drain passes), then judge.
	deadline := time.Now().Add(cfg.Drain)
	var missing, unanswered int64
	for {
		missing, unanswered = verdict(ledgers)
		if (missing == 0 && unanswered == 0) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	closeAll(conns)
	readers.Wait()
	if err := stopProfile(); err != nil {
		return nil, err
	}

	secs := cfg.Duration.Seconds()
	r.set("duration_s", secs)
	r.set("sent", cnt.sent.Load())
	r.set("acked", cnt.acked.Load())
	r.set("send_errors", cnt.sendErrors.Load())
	r.set("delivered", cnt.delivered.Load())
	r.set("duplicates", cnt.dups.Load())
	r.set("missing", missing)
	r.set("unanswered", unanswered)
	r.set("foreign", cnt.foreign.Load())
	r.set("exactly_once", missing == 0 && cnt.dups.Load() == 0 && cnt.foreign.Load() == 0)
	r.set("sent_msgs_per_s", float64(cnt.sentInWindow.Load())/secs)
	r.set("delivered_msgs_per_s", float64(inWindow)/secs)
	r.setLatency("first_tick", &cnt.firstTick)
	r.setLatency("latency", &cnt.delivery)
	r.setLatency("receipt", &cnt.receiptLat)
	if cfg.Rate > 0 {
		r.setLatency("send_lag", &cnt.sendLag)
	}
	r.set("receipts", cnt.receiptIDs.Load())
	r.setNodeCPU(t, before, after, float64(inWindow), "node_cpu_us_per_msg")
	r.setRunCosts(t, after, selfAfter-selfBefore, float64(inWindow), "bench_cpu_us_per_msg", cnt.firstErr)
	r.setCPUWait(t, before, after, selfWaitBefore, selfWaitAfter)
	if sent := cnt.sentInWindow.Load(); sent > 0 {
		// Per message written rather than delivered: steady even when the
		// node falls behind and delivers fewer in the window than were sent.
		r.set("bench_cpu_us_per_sent_msg", float64((selfAfter-selfBefore).Microseconds())/float64(sent))
	}
	if inWindow > 0 {
		// The kernel's share: on loopback a write also runs the receiving
		// end's TCP input, so one write per Send is most of it.
		sys := time.Duration(ruAfter.Stime.Nano() - ruBefore.Stime.Nano())
		r.set("bench_sys_cpu_us_per_msg", float64(sys.Microseconds())/float64(inWindow))
	}
	if cfg.Rate > 0 {
		r.note("open loop: latency is measured from each Send's scheduled time (sends due within one %v pacing tick share a wake-up, so this is never later than the write)", cfg.Tick)
	} else {
		r.note("closed loop, %d Sends outstanding per sender: latency is measured from the moment a Send is written", cfg.Window)
	}
	if missing > 0 || cnt.dups.Load() > 0 {
		return r, fmt.Errorf("%w: exactly-once violated: %d missing, %d duplicates", ErrNode, missing, cnt.dups.Load())
	}
	return r, nil
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}

// paceTick is the open loop's default pacing step: a pacer wakes at most
// once per tick and writes every Send that has come due, so the load
// generator wakes ~5,000 times a second rather than once per message. A
// Send's latency is measured from its scheduled time, never from the
// (up to a tick later) write, so pacing in ticks can only overstate
// latency.
const paceTick = 200 * time.Microsecond

// pace runs the open loop: Sends are due every 1/rate s, round robin over
// the senders (sender i's k-th at start + (k·len(senders) + i)/rate), and
// one pacer goroutine per CPU writes them; Sends of one sender that are due
// together (a pacer that fell behind) share one write. It returns when
// every Send due before end was written or its connection failed.
func pace(ctx context.Context, senders []*sender, rate int, tick time.Duration, clk clock, start, end time.Time) {
	n := min(runtime.GOMAXPROCS(0), len(senders))
	var wg sync.WaitGroup
	for j := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pacer(ctx, senders, j, n, rate, tick, clk, start, end)
		}()
	}
	wg.Wait()
}

// pacer writes the Sends of senders j, j+n, j+2n, … as they come due.
func pacer(ctx context.Context, senders []*sender, j, n, rate int, tick time.Duration, clk clock, start, end time.Time) {
	pairs := int64(len(senders))
	perSend := float64(time.Second) / float64(rate)
	startNs, endNs := int64(start.Sub(clk.t0)), int64(end.Sub(clk.t0))
	due := func(g int64) int64 { return startNs + int64(float64(g)*perSend) }
	batches := make([][]int64, len(senders))
	var touched []int
	tm := time.NewTimer(time.Until(start))
	defer tm.Stop()
	wait := true
	for g := int64(0); ; {
		if wait {
			select {
			case <-tm.C:
			case <-ctx.Done():
				return
			}
		}
		woke := clk.now()
		for d := due(g); d < endNs && d <= woke; d = due(g) {
			if i := int(g % pairs); i%n == j {
				if len(batches[i]) == 0 {
					touched = append(touched, i)
				}
				batches[i] = append(batches[i], d)
			}
			g++
		}
		for _, i := range touched {
			senders[i].send(nil, batches[i])
			batches[i] = batches[i][:0]
		}
		touched = touched[:0]
		next := due(g)
		if next >= endNs {
			return
		}
		now := clk.now()
		if next <= now {
			wait = false // behind schedule: no sleep until caught up
			continue
		}
		wait = true
		tm.Reset(time.Duration(max(next, woke+int64(tick)) - now))
	}
}
