package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"time"
)

// MsgsConfig configures Msgs.
type MsgsConfig struct {
	Common
	// Pairs of online devices; in each, one sends and the other receives
	// and acknowledges. 1 … 4,000 (both ends live in this process).
	Pairs int
	// Rate is the offered load in messages/s over all pairs; 0 means max:
	// every sender keeps Window Sends outstanding.
	Rate int
	// Duration of the sending phase. Default 10 s.
	Duration time.Duration
	// Size of each ciphertext in bytes. Default 160 (a short text message
	// after Signal's padding and MAC).
	Size int
	// Window is the outstanding Sends per sender at max rate. Default 32,
	// the node's per-session in-flight limit.
	Window int
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
	end := start.Add(cfg.Duration)
	var readers sync.WaitGroup
	slots := make([]chan struct{}, cfg.Pairs)
	for i := range cfg.Pairs {
		own := uint32(i)
		l := ledgers[i]
		lookup := func(s uint32) *ledger {
			if s != own {
				return nil
			}
			return l
		}
		if cfg.Rate == 0 {
			slots[i] = make(chan struct{}, cfg.Window)
		}
		snd := &reader{c: conns[2*i], clk: clk, tag: tag, cnt: cnt, out: lookup, slots: slots[i], windowTo: end}
		rcv := &reader{c: conns[2*i+1], clk: clk, tag: tag, cnt: cnt, in: lookup, windowTo: end}
		readers.Add(2)
		go func() { defer readers.Done(); snd.run() }()
		go func() { defer readers.Done(); rcv.run() }()
	}

	before := t.sample(ctx)
	selfBefore, _ := procCPU(os.Getpid())
	var senders sync.WaitGroup
	for i := range cfg.Pairs {
		senders.Add(1)
		go func() {
			defer senders.Done()
			sendLoop(ctx, cfg, conns[2*i], devs[2*i+1].Handle, uint32(i), tag, ledgers[i], slots[i], clk, cnt, start, end)
		}()
	}
	senders.Wait()
	if d := time.Until(end); d > 0 {
		_ = sleepCtx(ctx, d)
	}
	after := t.sample(ctx)
	selfAfter, _ := procCPU(os.Getpid())
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
	r.set("sent_msgs_per_s", float64(cnt.sent.Load())/secs)
	r.set("delivered_msgs_per_s", float64(inWindow)/secs)
	r.setLatency("first_tick", &cnt.firstTick)
	r.setLatency("latency", &cnt.delivery)
	r.setLatency("receipt", &cnt.receiptLat)
	r.set("receipts", cnt.receiptIDs.Load())
	r.setNodeCPU(t, before, after, float64(inWindow), "node_cpu_us_per_msg")
	r.setRunCosts(t, after, selfAfter-selfBefore, float64(inWindow), "bench_cpu_us_per_msg", cnt.firstErr)
	r.note("latency is measured from the moment a Send is written (open loop at --rate; closed loop with --window outstanding at max)")
	if missing > 0 || cnt.dups.Load() > 0 {
		return r, fmt.Errorf("%w: exactly-once violated: %d missing, %d duplicates", ErrNode, missing, cnt.dups.Load())
	}
	return r, nil
}

// sendLoop is one sender: paced at Rate/Pairs messages/s (open loop: the
// schedule does not wait for replies), or as fast as its window allows.
func sendLoop(ctx context.Context, cfg MsgsConfig, c *conn, to string, stream, tag uint32, l *ledger, slots chan struct{}, clk clock, cnt *counters, start, end time.Time) {
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Pairs) / float64(cfg.Rate))
		// Spread the pairs' first sends over one interval.
		start = start.Add(interval * time.Duration(stream) / time.Duration(cfg.Pairs))
	}
	if err := sleepCtx(ctx, time.Until(start)); err != nil {
		return
	}
	for seq := uint64(0); seq < maxSeq; seq++ {
		if interval > 0 {
			due := start.Add(interval * time.Duration(seq))
			if !due.Before(end) {
				return
			}
			if d := time.Until(due); d > 0 {
				if sleepCtx(ctx, d) != nil {
					return
				}
			}
		} else {
			if !time.Now().Before(end) {
				return
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		now := clk.now()
		l.mu.Lock()
		l.sentAt = append(l.sentAt, now)
		l.mu.Unlock()
		f := sendFrame(to, stream, seq, tag, messageBody(cfg.Size, now, stream, seq))
		if _, err := c.write(f); err != nil {
			cnt.noteErr("send: " + err.Error())
			return
		}
		cnt.sent.Add(1)
	}
}

func closeAll(conns []*conn) {
	for _, c := range conns {
		if c != nil {
			c.close()
		}
	}
}
