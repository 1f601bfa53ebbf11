package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"time"
)

// WorkerEnv is set (to "1") in the environment of worker processes; a
// binary that finds it runs RunWorker on stdin/stdout instead of its usual
// main (the parley binary reaches it through `parley bench worker`, test
// binaries through TestMain).
const WorkerEnv = "PARLEY_BENCH_WORKER"

// pingEvery keeps held connections well inside the node's default 3 min
// idle timeout.
const pingEvery = time.Minute

// maxWorkerLine bounds one JSON line between parent and worker (a job
// carries up to ~9,000 device keys at ~70 bytes each).
const maxWorkerLine = 8 << 20

// workerJob is the first line a worker reads.
type workerJob struct {
	Op        string      `json:"op"` // "conns"
	Addr      string      `json:"addr"`
	ServerKey string      `json:"server_key"`
	Devices   [][2]string `json:"devices"` // handle, parley-secret:…
	Register  bool        `json:"register"`
	Conc      int         `json:"conc"`
}

// workerCmd is every later line a worker reads: "connect", then "check".
type workerCmd struct {
	Op string `json:"op"`
}

// workerEvent is every line a worker writes.
type workerEvent struct {
	Ev        string      `json:"ev"` // registered, connected, checked, error
	Phase     *phaseStats `json:"phase,omitempty"`
	RSSBefore int64       `json:"rss_before,omitempty"`
	RSSAfter  int64       `json:"rss_after,omitempty"`
	CPUus     int64       `json:"cpu_us,omitempty"` // the worker's CPU during the phase
	Alive     int         `json:"alive,omitempty"`
	Err       string      `json:"err,omitempty"`
}

// RunWorker serves one conns job from the parent: register the devices if
// asked, connect them all on "connect", hold them with no goroutine per
// connection, count the live ones on "check", and close them when stdin
// ends.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), maxWorkerLine)
	enc := json.NewEncoder(out)
	fail := func(err error) error {
		_ = enc.Encode(workerEvent{Ev: "error", Err: err.Error()})
		return err
	}
	if !sc.Scan() {
		return fail(fmt.Errorf("%w: no job on stdin", ErrWorker))
	}
	var job workerJob
	if err := json.Unmarshal(sc.Bytes(), &job); err != nil || job.Op != "conns" {
		return fail(fmt.Errorf("%w: bad job (op %q): %v", ErrWorker, job.Op, err))
	}
	var t Target
	t.Addr = job.Addr
	if err := t.ServerKey.UnmarshalText([]byte(job.ServerKey)); err != nil {
		return fail(err)
	}
	devs := make([]Device, len(job.Devices))
	for i, d := range job.Devices {
		devs[i].Handle = d[0]
		if err := devs[i].Key.UnmarshalText([]byte(d[1])); err != nil {
			return fail(err)
		}
	}
	job.Devices = nil
	reg := phaseStats{Latency: new(Histogram)}
	if job.Register {
		ks, err := NewKeySet()
		if err != nil {
			return fail(err)
		}
		_, reg = dialAll(ctx, t, devs, ks, job.Conc, blockRegister, true, false, false)
	}
	if err := enc.Encode(workerEvent{Ev: "registered", Phase: &reg}); err != nil {
		return err
	}
	next := func(want string) error {
		if !sc.Scan() {
			return fmt.Errorf("%w: stdin ended waiting for %q", ErrWorker, want)
		}
		var c workerCmd
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil || c.Op != want {
			return fmt.Errorf("%w: got %q, want %q", ErrWorker, sc.Text(), want)
		}
		return nil
	}
	if err := next("connect"); err != nil {
		return fail(err)
	}
	before := settledRSS()
	cpu0 := selfCPU()
	conns, st := dialAll(ctx, t, devs, nil, job.Conc, blockHold, false, true, false)
	cpu := selfCPU() - cpu0
	devs = nil
	after := settledRSS()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	}()
	if err := enc.Encode(workerEvent{Ev: "connected", Phase: &st, RSSBefore: before, RSSAfter: after, CPUus: cpu.Microseconds()}); err != nil {
		return err
	}
	// One goroutine keeps every held connection inside the node's idle
	// timeout (default 3 min) by pinging each once a minute.
	stopPing := make(chan struct{})
	pinged := make(chan struct{})
	go func() {
		defer close(pinged)
		tk := time.NewTicker(pingEvery)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				for _, c := range conns {
					if c != nil {
						_ = c.ping()
					}
				}
			case <-stopPing:
				return
			}
		}
	}()
	err := next("check")
	close(stopPing)
	<-pinged
	if err != nil {
		return fail(err)
	}
	alive := 0
	for _, c := range conns {
		if c != nil && c.alive() {
			alive++
		}
	}
	if err := enc.Encode(workerEvent{Ev: "checked", Alive: alive, RSSAfter: selfRSS()}); err != nil {
		return err
	}
	for sc.Scan() {
		// Stdin stays open while the parent wants the connections held.
	}
	return nil
}

// settledRSS is RSS after a GC has returned what it can, so it counts live
// memory rather than garbage of the last phase.
func settledRSS() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return selfRSS()
}

// worker is the parent's handle on one worker process.
type worker struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	enc    *json.Encoder
	events chan workerEvent
	done   chan error
}

// startWorker runs argv with WorkerEnv set and sends it job.
func startWorker(argv []string, job workerJob) (*worker, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWorker, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWorker, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start %s: %w", ErrWorker, argv[0], err)
	}
	w := &worker{cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin), events: make(chan workerEvent, 4), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), maxWorkerLine)
		for sc.Scan() {
			var ev workerEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = workerEvent{Ev: "error", Err: fmt.Sprintf("undecodable line %.80q", sc.Text())}
			}
			w.events <- ev
		}
		close(w.events)
		w.done <- cmd.Wait()
	}()
	if err := w.enc.Encode(job); err != nil {
		w.stop()
		return nil, fmt.Errorf("%w: send job: %w", ErrWorker, err)
	}
	return w, nil
}

// await returns the worker's next event, which must be want.
func (w *worker) await(ctx context.Context, want string, timeout time.Duration) (workerEvent, error) {
	tm := time.NewTimer(timeout)
	defer tm.Stop()
	select {
	case ev, ok := <-w.events:
		switch {
		case !ok:
			return ev, fmt.Errorf("%w: exited waiting for %q", ErrWorker, want)
		case ev.Ev == "error":
			return ev, fmt.Errorf("%w: %s", ErrWorker, ev.Err)
		case ev.Ev != want:
			return ev, fmt.Errorf("%w: sent %q, want %q", ErrWorker, ev.Ev, want)
		}
		return ev, nil
	case <-tm.C:
		return workerEvent{}, fmt.Errorf("%w: no %q within %v", ErrWorker, want, timeout)
	case <-ctx.Done():
		return workerEvent{}, ctx.Err()
	}
}

func (w *worker) send(op string) error {
	if err := w.enc.Encode(workerCmd{Op: op}); err != nil {
		return fmt.Errorf("%w: send %q: %w", ErrWorker, op, err)
	}
	return nil
}

// stop closes stdin (the worker closes its connections and exits) and
// waits, killing it after 30 s.
func (w *worker) stop() {
	w.stdin.Close()
	go func() {
		for range w.events {
		}
	}()
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// encodeDevices is the job form of devs.
func encodeDevices(devs []Device) ([][2]string, error) {
	out := make([][2]string, len(devs))
	for i, d := range devs {
		k, err := d.Key.MarshalText()
		if err != nil {
			return nil, err
		}
		out[i] = [2]string{d.Handle, string(k)}
	}
	return out, nil
}
