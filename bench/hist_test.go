package bench

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

func TestHistogramQuantiles(t *testing.T) {
	uniform := func(n int) []int64 {
		v := make([]int64, n)
		for i := range v {
			v[i] = int64(i + 1)
		}
		return v
	}
	tests := []struct {
		name   string
		values []int64
		q      float64
		want   int64
		tol    float64 // relative
	}{
		{"empty", nil, 0.5, 0, 0},
		{"one value", []int64{1234567}, 0.99, 1234567, 0},
		{"small exact", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.5, 5, 0},
		{"small p90 exact", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 0.9, 9, 0},
		{"uniform p50", uniform(100000), 0.5, 50000, 1.0 / subCount},
		{"uniform p99", uniform(100000), 0.99, 99000, 1.0 / subCount},
		{"uniform p99.9", uniform(100000), 0.999, 99900, 1.0 / subCount},
		{"uniform max", uniform(100000), 1, 100000, 0},
		{"bimodal p50 low", append(repeat(1000, 900), repeat(5_000_000, 100)...), 0.5, 1000, 1.0 / subCount},
		{"bimodal p99 high", append(repeat(1000, 900), repeat(5_000_000, 100)...), 0.99, 5_000_000, 1.0 / subCount},
		{"huge values", []int64{1 << 62, 1 << 62}, 0.5, 1 << 62, 1.0 / subCount},
		{"negative is zero", []int64{-5}, 0.5, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var h Histogram
			vs := append([]int64(nil), tc.values...)
			rand.Shuffle(len(vs), func(i, j int) { vs[i], vs[j] = vs[j], vs[i] })
			for _, v := range vs {
				h.Record(v)
			}
			got := h.Quantile(tc.q)
			if tc.want == 0 {
				if got != 0 {
					t.Fatalf("Quantile(%v) = %d, want 0", tc.q, got)
				}
				return
			}
			rel := float64(got-tc.want) / float64(tc.want)
			if rel < 0 || rel > tc.tol {
				t.Fatalf("Quantile(%v) = %d, want %d (+%.1f%% at most), off by %.3f%%", tc.q, got, tc.want, tc.tol*100, rel*100)
			}
		})
	}
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestHistogramBucketsAreMonotonic(t *testing.T) {
	prev := int64(-1)
	for i := range numBuckets {
		hi := bucketHigh(i)
		if hi <= prev {
			t.Fatalf("bucket %d high %d ≤ previous %d", i, hi, prev)
		}
		if got := bucketOf(hi); got != i {
			t.Fatalf("bucketOf(bucketHigh(%d)=%d) = %d", i, hi, got)
		}
		if got := bucketOf(prev + 1); got != i {
			t.Fatalf("bucketOf(%d) = %d, want %d", prev+1, got, i)
		}
		prev = hi
		if hi < 0 {
			break
		}
	}
}

func TestHistogramMergeAndJSON(t *testing.T) {
	var a, b Histogram
	for i := int64(1); i <= 1000; i++ {
		a.Record(i * 1000)
		b.Record(i * 1_000_000)
	}
	raw, err := json.Marshal(&b)
	if err != nil {
		t.Fatal(err)
	}
	var c Histogram
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if c.Count() != 1000 || c.Max() != b.Max() || c.Min() != b.Min() || c.Quantile(0.5) != b.Quantile(0.5) {
		t.Fatalf("round trip: count %d max %d min %d p50 %d; want %d %d %d %d", c.Count(), c.Max(), c.Min(), c.Quantile(0.5), b.Count(), b.Max(), b.Min(), b.Quantile(0.5))
	}
	a.Merge(&c)
	if a.Count() != 2000 || a.Min() != 1000 || a.Max() != 1_000_000_000 {
		t.Fatalf("merged: count %d min %d max %d", a.Count(), a.Min(), a.Max())
	}
	if p := a.Quantile(0.25); p < 500_000 || p > 500_000*65/64 {
		t.Fatalf("merged p25 = %d, want ≈500 µs", p)
	}
	for _, bad := range []string{`{"b":[[999999,1]]}`, `{"lo":5,"hi":1}`, `[`} {
		var h Histogram
		if err := json.Unmarshal([]byte(bad), &h); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", bad)
		}
	}
}
