package keys

import (
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
)

// limiter is a token bucket per requesting device: rate tokens per minute,
// at most rate in the bucket. Full buckets carry no information, so sweep
// drops them and the map only holds devices that fetched recently.
type limiter struct {
	rate float64 // tokens per minute, also the burst
	now  func() time.Time

	mu      sync.Mutex
	buckets map[protocol.Address]*bucket // guarded by mu
	sweepAt time.Time                    // guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(perMinute int, now func() time.Time) *limiter {
	return &limiter{rate: float64(perMinute), now: now, buckets: make(map[protocol.Address]*bucket)}
}

// take removes n tokens for who, or reports how long until n are available.
func (l *limiter) take(who protocol.Address, n int) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.sweepAt) {
		l.sweepLocked(now)
		l.sweepAt = now.Add(time.Minute)
	}
	b := l.buckets[who]
	if b == nil {
		b = &bucket{tokens: l.rate, at: now}
		l.buckets[who] = b
	}
	l.refillLocked(b, now)
	need := float64(n)
	if b.tokens >= need {
		b.tokens -= need
		return true, 0
	}
	if need > l.rate {
		// Never satisfiable in one go; say "a minute" rather than forever.
		return false, time.Minute
	}
	missing := need - b.tokens
	return false, time.Duration(missing / l.rate * float64(time.Minute))
}

func (l *limiter) refillLocked(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(l.rate, b.tokens+el.Minutes()*l.rate)
		b.at = now
	}
}

func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		l.refillLocked(b, now)
		if b.tokens >= l.rate {
			delete(l.buckets, k)
		}
	}
}
