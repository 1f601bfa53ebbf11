package bench

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Common configures what every scenario shares.
type Common struct {
	Target Target
	// WorkerArgv runs a worker process; default: this executable with
	// "bench worker" (WorkerEnv is always set).
	WorkerArgv []string
	// CPUProfile, when set, is a file to write a pprof CPU profile of this
	// process (the load generator, not its workers or the node) to: over
	// the measured window in msgs, over the whole run elsewhere.
	CPUProfile string
}

func (c Common) workerArgv() ([]string, error) {
	if len(c.WorkerArgv) > 0 {
		return c.WorkerArgv, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWorker, err)
	}
	return []string{exe, "bench", "worker"}, nil
}

// ConnsConfig configures Conns.
type ConnsConfig struct {
	Common
	// N connections to open and hold (1 … 1,000,000).
	N int
	// Hold is how long they stay open after the last one connected; the
	// node's memory is read at its end. Default 45 s, past the node's
	// default 30 s IdleRelease.
	Hold time.Duration
	// PerWorker caps one worker's connections (default 8,000: under the
	// 20,000 open files of a process with room to spare).
	PerWorker int
	// Conc is the dialers per worker. Default 32.
	Conc int
	// Cache, when set, is a device cache file: devices registered on this
	// node by an earlier run are reused, new ones are saved.
	Cache string
}

// Conns opens N authenticated idle connections spread over worker
// processes, holds them, and reports handshakes/s and the node's memory
// per connection (RSS, Go heap and stack when /metrics has them, kernel
// slab), the bench's own memory per connection and the projected maximum
// connections of one node on this machine's memory.
func Conns(ctx context.Context, cfg ConnsConfig) (_ *Result, err error) {
	defer cfg.profileScenario(&err)()
	if cfg.N < 1 || cfg.N > 1_000_000 {
		return nil, fmt.Errorf("%w: --n %d: want 1 … 1,000,000", ErrBadConfig, cfg.N)
	}
	if cfg.Hold <= 0 {
		cfg.Hold = 45 * time.Second
	}
	if cfg.PerWorker <= 0 {
		cfg.PerWorker = 8000
	}
	if cfg.Conc <= 0 {
		cfg.Conc = 32
	}
	argv, err := cfg.workerArgv()
	if err != nil {
		return nil, err
	}
	t := cfg.Target
	r := newResult("conns")
	r.set("conns_requested", cfg.N)

	var devs []Device
	register := true
	if cfg.Cache != "" {
		cached, err := loadCache(cfg.Cache, t.ServerKey)
		if err != nil {
			return nil, err
		}
		if len(cached) >= cfg.N {
			devs, register = cached[:cfg.N], false
		}
	}
	if devs == nil {
		if devs, err = newDevices(cfg.N); err != nil {
			return nil, err
		}
	}

	var workers []*worker
	defer func() {
		for _, w := range workers {
			w.stop()
		}
	}()
	for lo := 0; lo < len(devs); lo += cfg.PerWorker {
		chunk, err := encodeDevices(devs[lo:min(lo+cfg.PerWorker, len(devs))])
		if err != nil {
			return nil, err
		}
		w, err := startWorker(argv, workerJob{Op: "conns", Addr: t.Addr, ServerKey: t.ServerKey.String(), Devices: chunk, Register: register, Conc: cfg.Conc})
		if err != nil {
			return nil, err
		}
		workers = append(workers, w)
	}
	r.set("workers", len(workers))

	regStart := time.Now()
	var reg phaseStats
	for _, w := range workers {
		ev, err := w.await(ctx, "registered", 30*time.Minute)
		if err != nil {
			return nil, err
		}
		reg.OK += ev.Phase.OK
		reg.Failed += ev.Phase.Failed
		if reg.FirstErr == "" {
			reg.FirstErr = ev.Phase.FirstErr
		}
	}
	if register {
		r.set("registered", reg.OK)
		r.set("register_failed", reg.Failed)
		r.set("registers_per_s", float64(reg.OK)/time.Since(regStart).Seconds())
		if reg.FirstErr != "" {
			r.note("first registration error: %s", reg.FirstErr)
		}
		if cfg.Cache != "" && reg.Failed == 0 {
			if err := saveCache(cfg.Cache, t.ServerKey, devs); err != nil {
				return nil, err
			}
		}
	} else {
		r.note("reused %d devices from %s", cfg.N, cfg.Cache)
	}
	devs = nil

	// Let the registration connections' sessions end before the baseline.
	if err := sleepCtx(ctx, time.Second); err != nil {
		return nil, err
	}
	base := t.sample(ctx)
	start := time.Now()
	for _, w := range workers {
		if err := w.send("connect"); err != nil {
			return nil, err
		}
	}
	hs := new(Histogram)
	var open phaseStats
	var benchBytes, benchCPUus int64
	for _, w := range workers {
		ev, err := w.await(ctx, "connected", 30*time.Minute)
		if err != nil {
			return nil, err
		}
		open.OK += ev.Phase.OK
		open.Failed += ev.Phase.Failed
		if open.FirstErr == "" {
			open.FirstErr = ev.Phase.FirstErr
		}
		hs.Merge(ev.Phase.Latency)
		benchBytes += ev.RSSAfter - ev.RSSBefore
		benchCPUus += ev.CPUus
	}
	connectWall := time.Since(start)
	connected := t.sample(ctx)
	r.set("conns_open", open.OK)
	r.set("conns_failed", open.Failed)
	if open.FirstErr != "" {
		r.note("first connection error: %s", open.FirstErr)
	}
	r.set("connect_s", connectWall.Seconds())
	r.set("handshakes_per_s", float64(open.OK)/connectWall.Seconds())
	r.setLatency("handshake", hs)
	r.setNodeCPU(t, base, connected, float64(open.OK), "node_cpu_us_per_handshake")
	if open.OK > 0 {
		r.set("bench_bytes_per_conn", float64(benchBytes)/float64(open.OK))
		// The client side of IK costs about what the node's does (five
		// X25519 operations); on a shared machine it bounds handshakes/s
		// as much as the node does.
		r.set("bench_cpu_us_per_handshake", float64(benchCPUus)/float64(open.OK))
	}

	if err := sleepCtx(ctx, cfg.Hold); err != nil {
		return nil, err
	}
	held := t.sample(ctx)
	alive := 0
	for _, w := range workers {
		if err := w.send("check"); err != nil {
			return nil, err
		}
		ev, err := w.await(ctx, "checked", 5*time.Minute)
		if err != nil {
			return nil, err
		}
		alive += ev.Alive
	}
	r.set("hold_s", cfg.Hold.Seconds())
	r.set("conns_alive_at_end", alive)
	if held.stats != nil {
		r.set("node_sessions", held.stats.Sessions)
		r.set("node_connections", held.stats.Connections)
	}
	memoryFigures(r, t, base, connected, held, open.OK)
	if open.OK == 0 {
		return r, fmt.Errorf("%w: no connection opened: %s", ErrNode, open.FirstErr)
	}
	return r, nil
}

// memoryFigures adds per-connection memory and the projection.
func memoryFigures(r *Result, t Target, base, connected, held nodeSample, n int) {
	if n == 0 {
		return
	}
	per := func(a, b int64) float64 { return float64(b-a) / float64(n) }
	nodePer := -1.0
	if t.PID > 0 && base.procErr == nil && held.procErr == nil {
		r.set("node_rss_before_bytes", base.proc.RSS)
		r.set("node_rss_held_bytes", held.proc.RSS)
		r.set("node_bytes_per_conn_at_connect", per(base.proc.RSS, connected.proc.RSS))
		nodePer = per(base.proc.RSS, held.proc.RSS)
		r.set("node_bytes_per_conn", nodePer)
		r.set("node_threads", held.proc.Threads)
	}
	if base.heap >= 0 && held.heap >= 0 {
		r.set("node_heap_bytes_per_conn", per(base.heap, held.heap))
	}
	if base.stack >= 0 && held.stack >= 0 {
		r.set("node_stack_bytes_per_conn", per(base.stack, held.stack))
	}
	if base.gorouts >= 0 && held.gorouts >= 0 {
		r.set("node_goroutines_per_conn", per(base.gorouts, held.gorouts))
	}
	if base.procErr != nil || held.procErr != nil {
		return
	}
	// Both ends of every connection live on this machine, so the slab
	// growth is two sockets per connection.
	pair := per(base.proc.Slab, held.proc.Slab)
	r.set("kernel_slab_bytes_per_conn_pair", pair)
	r.set("kernel_unreclaimable_bytes_per_conn_pair", per(base.proc.SUnreclm, held.proc.SUnreclm))
	r.set("kernel_tcp_buffer_bytes_per_conn_pair", per(base.proc.TCPMemPgs, held.proc.TCPMemPgs)*float64(os.Getpagesize()))
	socket := pair / 2
	r.set("kernel_bytes_per_socket", socket)
	r.set("mem_total_bytes", held.proc.MemTotal)
	if nodePer > 0 && socket > 0 {
		r.set("projected_max_conns", int64(float64(held.proc.MemTotal)/(nodePer+socket)))
		r.note("projection: MemTotal / (node_bytes_per_conn + kernel_bytes_per_socket), clients on other machines")
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
