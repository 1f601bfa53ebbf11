package bench

import (
	"math"
	"strings"
	"testing"
)

func TestParseMetricsKeepsLabelledSamples(t *testing.T) {
	text := `# HELP x_seconds a histogram
# TYPE x_seconds histogram
x_seconds_bucket{le="0.001"} 3
x_seconds_bucket{le="+Inf"} 5
x_seconds_count 5
y{kind="a b"} 7
go_goroutines 12
`
	m, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{`x_seconds_bucket{le="0.001"}`: 3, `x_seconds_bucket{le="+Inf"}`: 5, "x_seconds_count": 5, `y{kind="a b"}`: 7, "go_goroutines": 12}
	if len(m) != len(want) {
		t.Fatalf("parsed %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	h := histogram(m, "x_seconds")
	if len(h) != 2 || h[0] != (bucket{0.001, 3}) || !math.IsInf(h[1].le, 1) || h[1].count != 5 {
		t.Errorf("histogram = %v, want [{0.001 3} {+Inf 5}]", h)
	}
	if histogram(m, "absent") != nil {
		t.Error("a histogram the node does not export was found")
	}
}

func TestHistogramQuantile(t *testing.T) {
	inf := math.Inf(1)
	before := []bucket{{0.001, 10}, {0.005, 10}, {0.01, 10}, {inf, 10}}
	// Between the scrapes: 50 at or below 1 ms, 40 in (1, 5] ms, 10 in (5, 10] ms.
	after := []bucket{{0.001, 60}, {0.005, 100}, {0.01, 110}, {inf, 110}}
	tests := []struct {
		name string
		q    float64
		want float64
		ok   bool
	}{
		{"median inside the first bucket", 0.5, 0.001, true},
		{"p25 interpolated from zero", 0.25, 0.0005, true},
		{"p70 interpolated in (1, 5] ms", 0.7, 0.001 + 0.004*(20.0/40), true},
		{"p99 in (5, 10] ms", 0.99, 0.005 + 0.005*(9.0/10), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := histogramQuantile(before, after, tt.q)
			if ok != tt.ok || math.Abs(got-tt.want) > 1e-12 {
				t.Fatalf("histogramQuantile(%v) = %v, %v; want %v, %v", tt.q, got, ok, tt.want, tt.ok)
			}
		})
	}
	overflow := []bucket{{0.001, 10}, {0.005, 10}, {0.01, 10}, {inf, 20}}
	if got, ok := histogramQuantile(before, overflow, 0.5); !ok || got != 0.01 {
		t.Errorf("past the last bound = %v, %v; want the last bound 0.01", got, ok)
	}
	if _, ok := histogramQuantile(before, before, 0.5); ok {
		t.Error("a quantile of nothing observed")
	}
	if _, ok := histogramQuantile(before[:3], after, 0.5); ok {
		t.Error("a quantile across different buckets")
	}
	if _, ok := histogramQuantile(nil, nil, 0.5); ok {
		t.Error("a quantile without the histogram")
	}
}
