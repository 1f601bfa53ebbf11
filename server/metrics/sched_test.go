package metrics

import (
	"math"
	"regexp"
	"runtime/metrics"
	"strconv"
	"sync"
	"testing"
)

func TestFoldHistogram(t *testing.T) {
	inf := math.Inf(1)
	h := &metrics.Float64Histogram{
		// (-Inf,0] [0,8µs) [8µs,60µs) [60µs,0.9ms) [0.9ms,1ms) [1ms,30ms) [30ms,+Inf)
		Buckets: []float64{math.Inf(-1), 0, 8e-6, 60e-6, 0.9e-3, 1e-3, 30e-3, inf},
		Counts:  []uint64{1, 2, 3, 4, 5, 6, 7},
	}
	bounds := []float64{10e-6, 1e-3, 50e-3}
	count, sum, cum := foldHistogram(h, bounds)
	if count != 28 {
		t.Errorf("count = %d, want 28 (every bucket, the open ones too)", count)
	}
	want := map[float64]uint64{
		10e-6: 1 + 2,             // up to 8 µs
		1e-3:  1 + 2 + 3 + 4 + 5, // up to 1 ms: a bucket ending at a bound counts there
		50e-3: 15 + 6,            // up to 30 ms; [30ms,+Inf) is only in the count
	}
	for b, w := range want {
		if cum[b] != w {
			t.Errorf("cumulative at %g = %d, want %d", b, cum[b], w)
		}
	}
	wantSum := 1*0 + 2*4e-6 + 3*34e-6 + 4*480e-6 + 5*0.95e-3 + 6*15.5e-3 + 7*30e-3
	if math.Abs(sum-wantSum) > 1e-12 {
		t.Errorf("sum = %g, want %g (midpoints; open buckets at their finite edge)", sum, wantSum)
	}
}

// The exported histogram is the runtime's: once goroutines have been
// scheduled it has a count, and its buckets are cumulative.
func TestSchedLatencyExported(t *testing.T) {
	var wg sync.WaitGroup
	for range 200 { // wake-ups for the runtime to sample
		wg.Add(1)
		go func() { defer wg.Done() }()
	}
	wg.Wait()
	body := scrape(t, New())
	m := regexp.MustCompile(`(?m)^parley_sched_latency_seconds_count (\d+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no parley_sched_latency_seconds_count in /metrics:\n%s", body)
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Error("parley_sched_latency_seconds_count is 0 after 200 goroutines ran")
	}
	buckets := regexp.MustCompile(`(?m)^parley_sched_latency_seconds_bucket\{le="([^"]+)"\} (\d+)$`).FindAllStringSubmatch(body, -1)
	if len(buckets) != len(SchedBounds)+1 {
		t.Fatalf("%d buckets, want %d and +Inf", len(buckets), len(SchedBounds))
	}
	prev := -1
	for _, b := range buckets {
		n, _ := strconv.Atoi(b[2])
		if n < prev {
			t.Errorf("bucket le=%s has %d, below the previous %d: not cumulative", b[1], n, prev)
		}
		prev = n
	}
}
