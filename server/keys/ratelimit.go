package keys

import (
	"sync"
	"time"
)

// limiter is a token bucket per key: rate tokens per minute, at most burst
// in the bucket. Full buckets carry no information, so sweep drops them and
// the map only holds keys that fetched recently.
type limiter[K comparable] struct {
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

func newLimiter[K comparable](perMinute float64, burst int, now func() time.Time) *limiter[K] {
	return &limiter[K]{rate: perMinute, burst: float64(max(burst, 1)), now: now, buckets: make(map[K]*bucket)}
}

// take removes n tokens for who, or reports how long until n are available.
func (l *limiter[K]) take(who K, n int) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.sweepAt) {
		l.sweepLocked(now)
		l.sweepAt = now.Add(time.Minute)
	}
	b := l.buckets[who]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[who] = b
	}
	l.refillLocked(b, now)
	need := float64(n)
	if b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	if need > l.burst {
		// Never satisfiable in one go; say "a minute" rather than forever.
		return false, time.Minute
	}
	missing := need - b.tokens
	return false, time.Duration(missing / l.rate * float64(time.Minute))
}

func (l *limiter[K]) refillLocked(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(l.burst, b.tokens+el.Minutes()*l.rate)
		b.at = now
	}
}

func (l *limiter[K]) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		l.refillLocked(b, now)
		if b.tokens >= l.burst {
			delete(l.buckets, k)
		}
	}
}
