package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records non-negative int64 values (nanoseconds here) in
// log-linear buckets, HDR style: values below 2^subBits are exact, above
// that every power-of-two range is split into 2^subBits equal buckets, so
// a reported quantile is within 1/2^subBits (1.6 %) of the true value at
// any magnitude. Record is lock-free and safe for concurrent use; the
// zero value is ready to use.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Int64
	min    atomic.Int64 // stored as value+1 so 0 means unset
}

const (
	subBits    = 6
	subCount   = 1 << subBits
	numBuckets = subCount + (63-subBits)*subCount
)

// bucketOf maps v ≥ 0 to its bucket.
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	return subCount + shift*subCount + int(uint64(v)>>shift) - subCount
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := (i - subCount) / subCount
	top := int64((i-subCount)%subCount + subCount)
	return (top+1)<<shift - 1
}

// Record adds one value; negative values count as 0.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	h.sum.Add(uint64(v))
	h.widen(v)
}

// widen moves max and min to include v.
func (h *Histogram) widen(v int64) {
	for {
		m := h.max.Load()
		if v <= m || h.max.CompareAndSwap(m, v) {
			break
		}
	}
	for {
		m := h.min.Load()
		if (m != 0 && v+1 >= m) || h.min.CompareAndSwap(m, v+1) {
			break
		}
	}
}

// RecordSince records the time elapsed since start.
func (h *Histogram) RecordSince(start time.Time) { h.Record(int64(time.Since(start))) }

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max is the largest value recorded (0 when empty).
func (h *Histogram) Max() int64 { return h.max.Load() }

// Min is the smallest value recorded (0 when empty).
func (h *Histogram) Min() int64 {
	if m := h.min.Load(); m > 0 {
		return m - 1
	}
	return 0
}

// Mean is the average value (0 when empty).
func (h *Histogram) Mean() float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value at quantile q (0 < q ≤ 1): the highest value
// of the bucket holding the ceil(q·n)-th smallest value, clamped to the
// recorded min and max, so it never understates a tail. 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(1, min(rank, n))
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(max(bucketHigh(i), h.Min()), h.Max())
		}
	}
	return h.Max()
}

// Merge adds o's values into h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if o.n.Load() > 0 {
		h.widen(o.Max())
		h.widen(o.Min())
	}
}

// histJSON is the sparse wire form used between workers and the parent.
type histJSON struct {
	Buckets [][2]uint64 `json:"b"` // bucket index, count
	Sum     uint64      `json:"s"`
	Min     int64       `json:"lo"`
	Max     int64       `json:"hi"`
}

// MarshalJSON writes the non-empty buckets only.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	j := histJSON{Sum: h.sum.Load(), Min: h.Min(), Max: h.Max(), Buckets: [][2]uint64{}}
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			j.Buckets = append(j.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads MarshalJSON's form into an empty Histogram,
// rejecting out-of-range buckets.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var j histJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("bench: histogram: %w", err)
	}
	if j.Min < 0 || j.Max < j.Min {
		return fmt.Errorf("%w: histogram range %d..%d", ErrWorker, j.Min, j.Max)
	}
	var n uint64
	for _, bc := range j.Buckets {
		if bc[0] >= numBuckets {
			return fmt.Errorf("%w: histogram bucket %d out of range", ErrWorker, bc[0])
		}
		h.counts[bc[0]].Add(bc[1])
		n += bc[1]
	}
	h.n.Add(n)
	h.sum.Add(j.Sum)
	if n > 0 {
		h.widen(j.Max)
		h.widen(j.Min)
	}
	return nil
}

// ms converts nanoseconds to milliseconds for reports.
func ms(ns int64) float64 { return float64(ns) / 1e6 }
