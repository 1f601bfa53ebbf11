package metrics

import (
	"math"
	"runtime/metrics"

	"github.com/prometheus/client_golang/prometheus"
)

// SchedBounds are the upper bounds, in seconds, of
// parley_sched_latency_seconds. The runtime's own histogram has hundreds of
// buckets; the Go collector's default export folds them into decades
// (82 µs, 0.92 ms, 10.5 ms), too coarse to tell a 1 ms tail from a 9 ms
// one.
var SchedBounds = []float64{10e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3}

const schedSource = "/sched/latencies:seconds"

// schedCollector exports the runtime's scheduling latency histogram, the
// time goroutines spent ready to run before they ran. A node short of CPU
// shows it first: its throughput holds while every hand-over between
// goroutines waits longer (docs/benchmarks.md, fifth round).
type schedCollector struct {
	desc *prometheus.Desc
}

func newSchedCollector() *schedCollector {
	return &schedCollector{desc: prometheus.NewDesc(Namespace+"_sched_latency_seconds",
		"Time goroutines spent runnable before running, from runtime/metrics "+schedSource+
			" (which samples a share of all scheduling events), folded into these buckets; the sum is estimated from bucket midpoints.",
		nil, nil)}
}

func (c *schedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *schedCollector) Collect(ch chan<- prometheus.Metric) {
	s := []metrics.Sample{{Name: schedSource}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return // a runtime without the metric: export nothing rather than zeros
	}
	count, sum, buckets := foldHistogram(s[0].Value.Float64Histogram(), SchedBounds)
	ch <- prometheus.MustNewConstHistogram(c.desc, count, sum, buckets)
}

// foldHistogram folds a runtime histogram into cumulative counts at bounds.
// A runtime bucket counts toward the first bound at or above its upper
// edge, so a figure is placed at most one runtime bucket (about an eighth
// of a power of two) too high, never too low.
func foldHistogram(h *metrics.Float64Histogram, bounds []float64) (count uint64, sum float64, cumulative map[float64]uint64) {
	per := make([]uint64, len(bounds))
	for i, n := range h.Counts {
		if n == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		count += n
		sum += float64(n) * midpoint(lo, hi)
		for j, b := range bounds {
			if hi <= b {
				per[j] += n
				break
			}
		}
	}
	cumulative = make(map[float64]uint64, len(bounds))
	var acc uint64
	for j, b := range bounds {
		acc += per[j]
		cumulative[b] = acc
	}
	return count, sum, cumulative
}

// midpoint of a bucket; the runtime's first and last buckets are open
// (-Inf, +Inf), where the finite edge stands for the bucket.
func midpoint(lo, hi float64) float64 {
	switch {
	case lo < 0: // -Inf
		return max(hi, 0)
	case math.IsInf(hi, 1):
		return lo
	}
	return (lo + hi) / 2
}
