package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"
	"time"
)

// Result is a scenario's figures in the order they were added. Keys are
// snake_case with the unit in the name (node_bytes_per_conn,
// latency_p99_ms); a figure that could not be measured is left out rather
// than reported as zero.
type Result struct {
	Scenario string
	keys     []string
	vals     map[string]any
	notes    []string
}

func newResult(scenario string) *Result {
	r := &Result{Scenario: scenario, vals: map[string]any{}}
	r.set("scenario", scenario)
	return r
}

// set adds or replaces a figure. Floats are rounded to 3 decimals; NaN
// and infinities are dropped.
func (r *Result) set(key string, v any) {
	if f, ok := v.(float64); ok {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return
		}
		v = math.Round(f*1000) / 1000
	}
	if _, ok := r.vals[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.vals[key] = v
}

// note adds a line printed under the table (not in the JSON).
func (r *Result) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Get returns a figure.
func (r *Result) Get(key string) (any, bool) {
	v, ok := r.vals[key]
	return v, ok
}

// JSON is the single-line JSON object with every figure, keys in order.
func (r *Result) JSON() []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range r.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, err := json.Marshal(r.vals[k])
		if err != nil {
			vb = []byte("null")
		}
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Write prints the human table, the notes, then the JSON line last.
func (r *Result) Write(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range r.keys {
		fmt.Fprintf(tw, "%s\t%v\n", k, r.vals[k])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	_, err := fmt.Fprintf(w, "%s\n", r.JSON())
	return err
}

// setLatency adds p50/p90/p99/p99.9/max of h (nanoseconds) in ms.
func (r *Result) setLatency(prefix string, h *Histogram) {
	if h.Count() == 0 {
		return
	}
	r.set(prefix+"_p50_ms", ms(h.Quantile(0.50)))
	r.set(prefix+"_p90_ms", ms(h.Quantile(0.90)))
	r.set(prefix+"_p99_ms", ms(h.Quantile(0.99)))
	r.set(prefix+"_p99_9_ms", ms(h.Quantile(0.999)))
	r.set(prefix+"_max_ms", ms(h.Max()))
}

// setRunCosts adds what a traffic run cost beyond the node's CPU: the
// bench's own CPU per unit (benchKey), the node's RSS at the end, the first
// error seen, and a warning when node and bench share the process.
func (r *Result) setRunCosts(t Target, after nodeSample, benchCPU time.Duration, per float64, benchKey, firstErr string) {
	if per > 0 {
		r.set(benchKey, float64(benchCPU.Microseconds())/per)
	}
	if t.PID > 0 && after.procErr == nil {
		r.set("node_rss_bytes", after.proc.RSS)
	}
	if firstErr != "" {
		r.note("first error: %s", firstErr)
	}
	if t.PID == os.Getpid() {
		r.note("node runs in the bench process: node CPU includes the load generator")
	}
}

// setCPUWait adds how short of CPU node and bench were between two
// samples: their threads' time waiting for a CPU as a share of wall time
// (100 % = one thread always waiting), and the node's scheduling latency
// (the time its goroutines waited to run once ready) from /metrics.
// benchBefore and benchAfter are runDelay readings of the bench itself,
// taken with a and b.
func (r *Result) setCPUWait(t Target, a, b nodeSample, benchBefore, benchAfter time.Duration) {
	wall := b.proc.At.Sub(a.proc.At)
	if wall <= 0 {
		return
	}
	if d, ok := waitBetween(a.proc.RunDelay, b.proc.RunDelay); ok && t.PID > 0 && a.procErr == nil && b.procErr == nil {
		r.set("node_cpu_wait_pct", 100*d.Seconds()/wall.Seconds())
	}
	if d, ok := waitBetween(benchBefore, benchAfter); ok {
		r.set("bench_cpu_wait_pct", 100*d.Seconds()/wall.Seconds())
	}
	if b.procs > 0 {
		r.set("node_gomaxprocs", b.procs)
	}
	for _, q := range []struct {
		key string
		q   float64
	}{{"node_sched_latency_p50_ms", 0.5}, {"node_sched_latency_p90_ms", 0.9}, {"node_sched_latency_p99_ms", 0.99}} {
		if v, ok := histogramQuantile(a.sched, b.sched, q.q); ok {
			r.set(q.key, v*1e3)
		}
	}
}

// setNodeCPU adds node CPU figures between two samples.
func (r *Result) setNodeCPU(t Target, a, b nodeSample, per float64, key string) {
	if t.PID == 0 || a.procErr != nil || b.procErr != nil {
		return
	}
	cpu := b.proc.CPU - a.proc.CPU
	wall := b.proc.At.Sub(a.proc.At)
	r.set("node_cpu_s", cpu.Seconds())
	if wall > 0 {
		r.set("node_cpu_util_pct", 100*cpu.Seconds()/wall.Seconds())
	}
	if per > 0 {
		r.set(key, float64(cpu.Microseconds())/per)
	}
}
