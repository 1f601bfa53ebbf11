package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/parley-im/parley/bench"
)

// runBench is the load generator:
//
//	parley bench conns|msgs|offline|storm|group [flags]
//	parley bench plot --in results.jsonl --out docs/bench-latency.svg
//
// Each scenario prints a table and, last, one JSON line. `bench worker`
// is internal: the scenarios re-execute this binary with it.
func runBench(ctx context.Context, g *globalFlags, args []string) error {
	if len(args) == 0 {
		fmt.Fprintf(os.Stderr, "usage: parley bench conns|msgs|offline|storm|group|plot [flags]\n")
		return errUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "worker":
		return bench.RunWorker(ctx, os.Stdin, os.Stdout)
	case "node":
		return runBenchNode(ctx, args)
	case "plot":
		return runBenchPlot(args)
	case "conns", "msgs", "offline", "storm", "group":
	default:
		fmt.Fprintf(os.Stderr, "parley bench: unknown scenario %q (conns, msgs, offline, storm, group, plot)\n", sub)
		return errUsage
	}
	fs := flag.NewFlagSet("bench "+sub, flag.ContinueOnError)
	server := fs.String("server", g.server, "node TCP address HOST:PORT")
	serverKey := fs.String("server-key", "", "node key parley-key:… (default: read from --data)")
	pid := fs.Int("node-pid", 0, "node process id, for RSS and CPU from /proc")
	adminAddr := fs.String("admin", "", "node admin API HOST:PORT (default: from --data)")
	data := fs.String("data", "", "node data directory: server key, admin token and address")
	httpAddr := fs.String("http", "", "node HTTP address, for /metrics when it exists")
	spawn := fs.Bool("spawn-node", false, "run a node (parley serve with the abuse limits off) on a temporary data directory and loopback ports, and measure it")
	var nodeEnv []string
	fs.Func("node-env", "with --spawn-node: `KEY=VALUE` added to the node's environment only (e.g. GOMAXPROCS=4); repeatable", func(kv string) error {
		nodeEnv = append(nodeEnv, kv)
		return nil
	})
	cpuProfile := fs.String("cpuprofile", "", "write a pprof CPU profile of the load generator (this process, not the node or workers) to `FILE`: the measured window in msgs, the whole run elsewhere (go tool pprof FILE)")

	var (
		n, perWorker, pairs, devices, messages, per, size, conc int
		members, senders                                        int
		hold, dur, timeout, warmup                              time.Duration
		cache, rate                                             string
	)
	switch sub {
	case "conns":
		fs.IntVar(&n, "n", 1000, "connections to open and hold")
		fs.DurationVar(&hold, "hold", 45*time.Second, "hold them this long before reading the node's memory")
		fs.IntVar(&perWorker, "per-worker", 8000, "connections per worker process")
		fs.IntVar(&conc, "conc", 32, "dialers per worker")
		fs.StringVar(&cache, "cache", "", "device cache file: reuse devices registered on this node")
	case "msgs":
		fs.IntVar(&pairs, "pairs", 100, "sender/receiver pairs")
		fs.StringVar(&rate, "rate", "max", "offered msgs/s over all pairs, or max")
		fs.DurationVar(&dur, "duration", 10*time.Second, "measured sending phase")
		fs.DurationVar(&warmup, "warmup", 0, "traffic at the same rate before the measured phase, checked for exactly-once delivery but left out of every figure (a fresh node's first second is its slowest)")
		fs.IntVar(&size, "size", 160, "ciphertext bytes per message")
	case "offline":
		fs.IntVar(&devices, "devices", 100, "offline devices")
		fs.IntVar(&messages, "messages", 1000, "messages queued per device")
		fs.IntVar(&conc, "conc", 64, "devices connecting at once")
	case "storm":
		fs.IntVar(&n, "n", 1000, "devices reconnecting at once")
		fs.IntVar(&per, "per-device", 2, "messages queued per device")
		fs.IntVar(&conc, "conc", 1024, "simultaneous dials")
	case "group":
		fs.IntVar(&members, "size", 64, "group members, creator included (2 … 1,024), each a device connected from this process")
		fs.IntVar(&senders, "senders", 1, "members that send")
		fs.IntVar(&messages, "messages", 100, "GroupSends per sender")
		fs.StringVar(&rate, "rate", "max", "offered GroupSends/s over all senders, or max (32 outstanding per sender)")
		fs.IntVar(&size, "bytes", 270, "sender-key ciphertext bytes per message")
		fs.DurationVar(&timeout, "timeout", 2*time.Minute, "bound on the whole run")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if len(nodeEnv) > 0 && !*spawn {
		fmt.Fprintln(os.Stderr, "parley bench: --node-env needs --spawn-node (a node started by hand has its own environment)")
		return errUsage
	}
	common := bench.Common{CPUProfile: *cpuProfile}
	t := &common.Target
	if *spawn {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		node, err := bench.SpawnNode(ctx, nodeEnv, exe, "bench", "node")
		if err != nil {
			return err
		}
		defer node.Stop()
		*t = node.Target
		fmt.Fprintf(os.Stderr, "bench: spawned node pid %d on %s (data %s)\n", t.PID, t.Addr, node.Dir)
	} else {
		t.Addr, t.PID, t.Admin, t.HTTP = *server, *pid, *adminAddr, *httpAddr
		if *serverKey != "" {
			if err := t.ServerKey.UnmarshalText([]byte(*serverKey)); err != nil {
				return fmt.Errorf("--server-key: %w", err)
			}
		}
		if *data != "" {
			if err := t.FillFromDataDir(*data); err != nil {
				return err
			}
		}
		if t.ServerKey.IsZero() {
			return fmt.Errorf("need the node's key: --server-key, --data or --spawn-node")
		}
	}

	var r *bench.Result
	var err error
	switch sub {
	case "conns":
		r, err = bench.Conns(ctx, bench.ConnsConfig{Common: common, N: n, Hold: hold, PerWorker: perWorker, Conc: conc, Cache: cache})
	case "msgs":
		rt, rerr := parseRate(rate)
		if rerr != nil {
			return rerr
		}
		r, err = bench.Msgs(ctx, bench.MsgsConfig{Common: common, Pairs: pairs, Rate: rt, Duration: dur, Warmup: warmup, Size: size})
	case "group":
		rt, rerr := parseRate(rate)
		if rerr != nil {
			return rerr
		}
		r, err = bench.Group(ctx, bench.GroupConfig{Common: common, Size: members, Senders: senders, Messages: messages, Rate: rt, Bytes: size, Timeout: timeout})
	case "offline":
		r, err = bench.Offline(ctx, bench.OfflineConfig{Common: common, Devices: devices, Messages: messages, Conc: conc})
	case "storm":
		r, err = bench.Storm(ctx, bench.StormConfig{Common: common, N: n, PerDevice: per, Conc: conc})
	}
	if r != nil {
		if werr := r.Write(os.Stdout); werr != nil && err == nil {
			err = werr
		}
	}
	if errors.Is(err, bench.ErrBadConfig) {
		fmt.Fprintf(os.Stderr, "parley bench %s: %v\n", sub, err)
		return errUsage
	}
	return err
}

// parseRate reads --rate: a positive number, or max (0).
func parseRate(rate string) (int, error) {
	if rate == "max" {
		return 0, nil
	}
	rt, err := strconv.Atoi(rate)
	if err != nil || rt <= 0 {
		return 0, fmt.Errorf("--rate %q: want a positive number or max", rate)
	}
	return rt, nil
}

// runBenchPlot draws delivered msgs/s and latency against offered load
// from the JSON lines of a `bench msgs --rate` sweep.
func runBenchPlot(args []string) error {
	fs := flag.NewFlagSet("bench plot", flag.ContinueOnError)
	in := fs.String("in", "", "file with `parley bench msgs` output (JSON lines; - for stdin)")
	out := fs.String("out", "bench-latency.svg", "SVG file to write")
	title := fs.String("title", "parley bench msgs: throughput and latency against offered load", "plot title")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" {
		fs.Usage()
		return errUsage
	}
	r := os.Stdin
	if *in != "-" {
		f, err := os.Open(*in)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	pts, err := bench.ReadPlotPoints(r)
	if err != nil {
		return err
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := bench.WritePlot(f, *title, pts); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runBenchNode is the node --spawn-node starts: `parley serve` on loopback
// ports with the send, registration, queue and connection limits off.
func runBenchNode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench node", flag.ContinueOnError)
	data := fs.String("data", "", "data directory (required)")
	level := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" {
		return fmt.Errorf("--data is required")
	}
	logger, err := newLogger(os.Stderr, *level, "text")
	if err != nil {
		return err
	}
	// The collector as `parley serve` sets it by default, so the bench
	// measures the node users run.
	tuneCollector(defaultGCPercent, 0, os.Getenv, logger)
	return bench.RunNode(ctx, bench.NodeConfig(*data, logger), os.Stdout)
}
