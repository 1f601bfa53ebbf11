package limits

import (
	"sync"
	"time"
)

// Bucket is a token bucket per key: Rate tokens per minute, at most Burst
// in the bucket. Full buckets carry no information, so they are swept and
// the map only holds keys that spent tokens recently.
type Bucket[K comparable] struct {
	rate  float64 // tokens per minute
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[K]*bucket // guarded by mu
	sweepAt time.Time     // guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewBucket makes a limiter of perMinute tokens per minute with the given
// burst (perMinute when burst <= 0). perMinute <= 0 means unlimited. now
// defaults to time.Now.
func NewBucket[K comparable](perMinute, burst int, now func() time.Time) *Bucket[K] {
	return NewBucketRate[K](float64(perMinute), burst, now)
}

// NewBucketRate is NewBucket with a fractional rate, for limits counted per
// hour (perMinute = perHour/60).
func NewBucketRate[K comparable](perMinute float64, burst int, now func() time.Time) *Bucket[K] {
	if now == nil {
		now = time.Now
	}
	if burst <= 0 {
		burst = max(int(perMinute), 1)
	}
	return &Bucket[K]{rate: perMinute, burst: float64(burst), now: now, buckets: make(map[K]*bucket)}
}

// Take removes one token for k, or reports how long until one is there.
func (l *Bucket[K]) Take(k K) (ok bool, retryAfter time.Duration) {
	return l.TakeN(k, 1)
}

// TakeN removes n tokens for k at once, or reports how long until n are
// there (a minute when n exceeds the burst and can never be granted).
func (l *Bucket[K]) TakeN(k K, n int) (ok bool, retryAfter time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.sweepAt) {
		l.sweepLocked(now)
		l.sweepAt = now.Add(time.Minute)
	}
	b := l.buckets[k]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[k] = b
	}
	l.refillLocked(b, now)
	need := float64(n)
	if b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	if need > l.burst {
		return false, time.Minute
	}
	wait := time.Duration((need - b.tokens) / l.rate * float64(time.Minute))
	return false, max(wait, time.Millisecond)
}

// Len is how many keys hold a partly spent bucket.
func (l *Bucket[K]) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

func (l *Bucket[K]) refillLocked(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(l.burst, b.tokens+el.Minutes()*l.rate)
		b.at = now
	}
}

func (l *Bucket[K]) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		l.refillLocked(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
