package endtoend_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Generous bounds: the binary may be a -race build sharing two cores with
// other test processes. They bound waits on external processes; nothing
// sleeps for them.
const (
	startTimeout = 60 * time.Second // node start until "ready"
	stopTimeout  = 30 * time.Second // SIGTERM until exit
	cmdTimeout   = 90 * time.Second // one device command
)

// node is one running `parley serve` process.
type node struct {
	t     *testing.T
	data  string // --data
	tcp   string // bound Noise-over-TCP address
	http  string
	admin string
	key   string // "server key:" line, the node's public key text
	log   string // path of the node's stderr

	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's result, valid after exited is closed
}

// startNode runs `parley serve --data data` on ephemeral loopback ports,
// with extra flags appended (a later --listen overrides the default), and
// returns once it printed "ready". Cleanup stops it with SIGTERM and
// checks that it exits 0, unless the test killed or stopped it already.
//
// A node restarted on a fixed --listen address can find the port briefly
// taken (another test's outgoing connection may hold it as its local
// port); it is retried a few times before the test fails.
func startNode(t *testing.T, data string, extra ...string) *node {
	t.Helper()
	args := append([]string{"serve", "--data", data,
		"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--log-level", "debug"}, extra...)
	for attempt := 1; ; attempt++ {
		n, inUse := launchNode(t, data, args, attempt < 5)
		if !inUse {
			return n
		}
		t.Logf("parley serve: address in use (attempt %d); retrying", attempt)
		time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
	}
}

// launchNode starts one node process. It reports inUse instead of failing
// when the node could not bind an address and mayRetry is set.
func launchNode(t *testing.T, data string, args []string, mayRetry bool) (n *node, inUse bool) {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "node-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	n = &node{t: t, data: data, log: logf.Name(), exited: make(chan struct{})}
	n.cmd = exec.Command(parleyBin, args...)
	n.cmd.Env = cleanEnv()
	n.cmd.Stderr = logf
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start parley serve: %v", err)
	}
	lines := make(chan string)
	listening := make(chan struct{}) // closed when startNode stops reading lines
	defer close(listening)
	// The reader keeps draining stdout after startNode returns so the node
	// never blocks on a full pipe; Wait runs only after it reached EOF.
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-listening:
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
		n.err = n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.stop()
		if strings.Contains(n.logText(), raceReport) {
			t.Errorf("the node %s reported a data race", data)
		}
		if t.Failed() {
			n.dumpLog()
		}
	})

	deadline := time.After(startTimeout)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				<-n.exited
				if mayRetry && strings.Contains(n.logText(), "address already in use") {
					return nil, true
				}
				t.Fatalf("parley serve %v exited before ready: %v", args, n.err)
			}
			if line == "ready" {
				if n.tcp == "" || n.key == "" || n.admin == "" || n.http == "" {
					t.Fatalf("parley serve printed ready without all addresses: tcp=%q http=%q admin=%q key=%q", n.tcp, n.http, n.admin, n.key)
				}
				return n, false
			}
			name, value, ok := strings.Cut(line, ": ")
			if !ok {
				continue
			}
			switch name {
			case "tcp":
				n.tcp = value
			case "http":
				n.http = value
			case "admin":
				n.admin = value
			case "server key":
				n.key = value
			}
		case <-deadline:
			n.kill()
			t.Fatalf("parley serve did not print ready within %s", startTimeout)
		}
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) within
// stopTimeout. Calling it on a node that already exited does nothing.
func (n *node) stop() {
	n.t.Helper()
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(stopTimeout):
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.t.Errorf("node %s did not exit within %s of SIGTERM", n.data, stopTimeout)
		return
	}
	if n.err != nil {
		n.t.Errorf("node %s exited with %v after SIGTERM; want status 0", n.data, n.err)
	}
}

// kill is kill -9: no shutdown code runs.
func (n *node) kill() {
	n.t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	<-n.exited
	var ee *exec.ExitError
	if !errors.As(n.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		n.t.Logf("node %s: after SIGKILL Wait said %v", n.data, n.err)
	}
}

// killNode is kill -9 on a node, named as in the test plan.
func killNode(n *node) { n.kill() }

// running reports whether the process is still alive.
func (n *node) running() bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// logText returns what the node wrote to stderr so far.
func (n *node) logText() string {
	b, _ := os.ReadFile(n.log)
	return string(b)
}

func (n *node) dumpLog() {
	s := n.logText()
	const max = 8000
	if len(s) > max {
		s = "…" + s[len(s)-max:]
	}
	n.t.Logf("log of node %s:\n%s", n.data, s)
}

// cleanEnv is the test's environment without PARLEY_* variables, so a
// developer's settings cannot leak into the binary under test.
//
// GORACE drops the race runtime's default one-second sleep at exit, which
// would otherwise dominate every short command; exitcode 66 (the default)
// still makes a race fail the command.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PARLEY_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return append(env, "NO_COLOR=1", "GORACE=atexit_sleep_ms=0 exitcode=66")
}

// raceReport is how the race detector starts a report on stderr.
const raceReport = "WARNING: DATA RACE"

// result is a finished command.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int // exit status; -1 if it was killed (timeout)
}

func (r result) String() string {
	return fmt.Sprintf("parley %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// proc is a command running in the background.
type proc struct {
	args   []string
	cmd    *exec.Cmd
	stdout strings.Builder
	stderr strings.Builder
	done   chan struct{}
	res    result
}

// start runs `parley args...` in the background with stdin as its input
// (nil: none). It is killed after cmdTimeout.
func start(t *testing.T, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{args: args, done: make(chan struct{})}
	p.cmd = exec.Command(parleyBin, args...)
	p.cmd.Env = cleanEnv()
	p.cmd.Stdin = stdin
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		// Errorf, not Fatalf: start is also called from helper goroutines.
		t.Errorf("start parley %v: %v", args, err)
		p.res = result{args: args, code: -1, stderr: err.Error()}
		close(p.done)
		return p
	}
	go func() {
		timer := time.AfterFunc(cmdTimeout, func() { _ = p.cmd.Process.Kill() })
		err := p.cmd.Wait()
		timer.Stop()
		p.res = result{args: args, stdout: p.stdout.String(), stderr: p.stderr.String()}
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.res.code = ee.ExitCode()
		default:
			p.res.code = -1
			p.res.stderr += "\n(test harness: " + err.Error() + ")"
		}
		if strings.Contains(p.res.stderr, raceReport) {
			t.Errorf("parley %s reported a data race:\n%s", strings.Join(args, " "), p.res.stderr)
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait returns the finished command's result.
func (p *proc) wait() result {
	<-p.done
	return p.res
}

// run runs `parley args...` to completion.
func run(t *testing.T, args ...string) result {
	t.Helper()
	return start(t, nil, args...).wait()
}

// device is one --home directory talking to one --server address.
type device struct {
	home   string
	server string
}

func newDevice(t *testing.T, server string) *device {
	return &device{home: filepath.Join(t.TempDir(), "home"), server: server}
}

func (d *device) args(args []string) []string {
	return append([]string{"--home", d.home, "--server", d.server}, args...)
}

// run runs a command of this device and returns whatever happened.
func (d *device) run(t *testing.T, args ...string) result {
	t.Helper()
	return run(t, d.args(args)...)
}

// must runs a command of this device and fails the test unless it exits 0.
func (d *device) must(t *testing.T, args ...string) result {
	t.Helper()
	r := d.run(t, args...)
	if r.code != 0 {
		t.Fatalf("want exit 0, got %s", r)
	}
	return r
}

// start runs a command of this device in the background.
func (d *device) start(t *testing.T, stdin io.Reader, args ...string) *proc {
	t.Helper()
	return start(t, stdin, d.args(args)...)
}

// register creates the account handle for this device.
func (d *device) register(t *testing.T, handle string, extra ...string) {
	t.Helper()
	r := d.must(t, append([]string{"register", handle}, extra...)...)
	if !strings.Contains(r.stdout, "registered "+handle) {
		t.Fatalf("register %s: stdout does not confirm it:\n%s", handle, r)
	}
}

// sendOK runs `send to text` and requires the first tick (✓ sent).
func (d *device) sendOK(t *testing.T, to, text string, extra ...string) result {
	t.Helper()
	r := d.must(t, append([]string{"send", to, text}, extra...)...)
	if !strings.Contains(r.stdout, "✓ sent") {
		t.Fatalf("send printed no first tick:\n%s", r)
	}
	return r
}
