package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parley-im/parley/server/admin"
	"github.com/parley-im/parley/transport"
)

// Target is the node under load and where its figures come from.
type Target struct {
	// Addr is the node's Noise-over-TCP address.
	Addr string
	// ServerKey is pinned, so every connection uses the IK handshake.
	ServerKey transport.PublicKey
	// PID, when set, is read in /proc for RSS and CPU time.
	PID int
	// Admin and AdminToken, when set, give connection counts (/v1/stats).
	Admin, AdminToken string
	// HTTP, when set, is tried for Prometheus /metrics (Go heap and stack).
	HTTP string
}

// nodeSample is the node's side at one moment.
type nodeSample struct {
	proc     ProcSample
	stats    *admin.Stats
	heap     int64    // go_memstats_heap_inuse_bytes, -1 unknown
	stack    int64    // go_memstats_stack_inuse_bytes, -1 unknown
	gorouts  int64    // go_goroutines, -1 unknown
	sched    []bucket // parley_sched_latency_seconds, nil unknown
	procs    int64    // go_sched_gomaxprocs_threads, -1 unknown
	procErr  error
	statsErr error
}

func (t Target) sample(ctx context.Context) nodeSample {
	s := nodeSample{heap: -1, stack: -1, gorouts: -1, procs: -1}
	s.proc, s.procErr = sampleProc(t.PID)
	if t.Admin != "" && t.AdminToken != "" {
		c := &admin.Client{Addr: t.Admin, Token: t.AdminToken}
		st, err := c.Stats(ctx)
		if err == nil {
			s.stats = &st
		}
		s.statsErr = err
	}
	if t.HTTP != "" {
		if m, err := scrapeMetrics(ctx, "http://"+t.HTTP+"/metrics"); err == nil {
			s.heap, s.stack, s.gorouts = metric(m, "go_memstats_heap_inuse_bytes"), metric(m, "go_memstats_stack_inuse_bytes"), metric(m, "go_goroutines")
			s.sched = histogram(m, "parley_sched_latency_seconds")
			s.procs = metric(m, "go_sched_gomaxprocs_threads")
		}
	}
	return s
}

func metric(m map[string]float64, name string) int64 {
	if v, ok := m[name]; ok {
		return int64(v)
	}
	return -1
}

// scrapeMetrics reads the samples of a Prometheus text exposition (at most
// 4 MiB): unlabelled ones by name, labelled ones by name and labels as
// written (`x_bucket{le="0.001"}`).
func scrapeMetrics(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: metrics: %s", resp.Status)
	}
	return parseMetrics(io.LimitReader(resp.Body, 4<<20))
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := make(map[string]float64)
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		// Label values may hold spaces; the value follows the closing brace.
		key, rest := line, ""
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			key, rest = line[:i+1], line[i+1:]
		} else if k, r, ok := strings.Cut(line, " "); ok {
			key, rest = k, r
		}
		f := strings.Fields(rest)
		if len(f) < 1 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			out[key] = v
		}
	}
	return out, sc.Err()
}

// SpawnedNode is a `parley serve` child on a temporary data directory.
type SpawnedNode struct {
	Target Target
	Dir    string
	cmd    *exec.Cmd
	done   chan error
}

// SpawnNode runs argv plus "--data DIR" as a child on a fresh data
// directory and waits for it to print "ready" (the lines of `parley
// serve`). argv is normally {os.Executable(), "bench", "node"}: the bench
// binary is the node binary, and `bench node` is `serve` on loopback ports
// with the abuse limits off (NodeConfig). The child inherits this
// process's environment with env (KEY=VALUE each) on top, so a setting
// such as GOMAXPROCS can differ between the node and the load generator.
func SpawnNode(ctx context.Context, env []string, argv ...string) (*SpawnedNode, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("%w: no node command", ErrBadConfig)
	}
	for _, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.ContainsAny(k, " \t\n\x00") {
			return nil, fmt.Errorf("%w: node environment %q is not KEY=VALUE", ErrBadConfig, kv)
		}
	}
	dir, err := os.MkdirTemp("", "parley-bench-node-")
	if err != nil {
		return nil, fmt.Errorf("bench: spawn node: %w", err)
	}
	cmd := exec.Command(argv[0], append(argv[1:], "--data", dir)...)
	cmd.Env = append(os.Environ(), env...) // a later KEY wins
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: spawn node: %w", err)
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: spawn node: %w", err)
	}
	n := &SpawnedNode{Dir: dir, cmd: cmd, done: make(chan error, 1)}
	n.Target.PID = cmd.Process.Pid
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		var perr error
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ": ")
			switch k {
			case "server key":
				perr = errors.Join(perr, n.Target.ServerKey.UnmarshalText([]byte(v)))
			case "tcp":
				n.Target.Addr = v
			case "http":
				n.Target.HTTP = v
			case "admin":
				n.Target.Admin = v
			case "ready":
				ready <- perr
				_, _ = io.Copy(io.Discard, out)
				return
			}
		}
		ready <- fmt.Errorf("%w: node exited before ready", ErrNode)
	}()
	go func() { n.done <- cmd.Wait() }()
	select {
	case err = <-ready:
	case <-time.After(60 * time.Second):
		err = fmt.Errorf("%w: node not ready within 60s", ErrNode)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		tok, rerr := os.ReadFile(dir + "/admin.token")
		n.Target.AdminToken = strings.TrimSpace(string(tok))
		err = rerr
	}
	if err != nil {
		n.Stop()
		return nil, fmt.Errorf("bench: spawn node: %w", err)
	}
	return n, nil
}

// Stop ends the node (SIGTERM, then SIGKILL after 20 s) and removes its
// data directory.
func (n *SpawnedNode) Stop() error {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-n.done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		err = <-n.done
	}
	os.RemoveAll(n.Dir)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
		err = nil
	}
	return err
}

// FillFromDataDir completes t from a node's data directory: the server
// key (node.key), the admin token and, if t.Admin is empty, the admin
// address the node last bound. Missing files are skipped; a node.key that
// does not parse is an error.
func (t *Target) FillFromDataDir(dir string) error {
	if b, err := os.ReadFile(dir + "/node.key"); err == nil && t.ServerKey.IsZero() {
		var k transport.StaticKey
		if err := k.UnmarshalText(b); err != nil {
			return fmt.Errorf("bench: %s/node.key: %w", dir, err)
		}
		t.ServerKey = k.Public()
	}
	if b, err := os.ReadFile(dir + "/admin.token"); err == nil && t.AdminToken == "" {
		t.AdminToken = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(dir + "/admin.addr"); err == nil && t.Admin == "" {
		t.Admin = strings.TrimSpace(string(b))
	}
	return nil
}
