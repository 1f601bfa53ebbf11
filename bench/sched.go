package bench

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// bucket is one cumulative bucket of a scraped Prometheus histogram.
type bucket struct {
	le    float64 // upper bound; +Inf for the last
	count float64 // observations at or below le
}

// histogram collects name's buckets from a scrape, in order of bound; nil
// when the node does not export it.
func histogram(m map[string]float64, name string) []bucket {
	prefix := name + `_bucket{le="`
	var out []bucket
	for k, v := range m {
		rest, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		le, err := strconv.ParseFloat(strings.TrimSuffix(rest, `"}`), 64)
		if err != nil {
			continue
		}
		out = append(out, bucket{le, v})
	}
	slices.SortFunc(out, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	return out
}

// histogramQuantile is the q-quantile of what was observed between two
// scrapes of the same histogram, interpolated within its bucket as
// Prometheus' histogram_quantile does. Past the last finite bound it says
// that bound. ok is false without observations in between or when the
// buckets differ.
func histogramQuantile(before, after []bucket, q float64) (v float64, ok bool) {
	if len(after) == 0 || len(before) != len(after) {
		return 0, false
	}
	total := after[len(after)-1].count - before[len(before)-1].count
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	lo, below := 0.0, 0.0
	for i := range after {
		if after[i].le != before[i].le {
			return 0, false
		}
		n := after[i].count - before[i].count
		if n >= rank {
			if math.IsInf(after[i].le, 1) {
				return lo, true
			}
			if n == below {
				return after[i].le, true
			}
			return lo + (after[i].le-lo)*(rank-below)/(n-below), true
		}
		lo, below = after[i].le, n
	}
	return lo, true
}
