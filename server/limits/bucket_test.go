package limits

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	tests := []struct {
		name      string
		perMin    int
		burst     int
		takes     int
		wantOK    int
		advance   time.Duration
		wantAfter bool // one more take after advancing succeeds
		unlimited bool
	}{
		{name: "burst then refused", perMin: 60, burst: 5, takes: 8, wantOK: 5, advance: time.Second, wantAfter: true},
		{name: "burst defaults to rate", perMin: 3, takes: 5, wantOK: 3, advance: time.Millisecond, wantAfter: false},
		{name: "unlimited", perMin: 0, takes: 1000, wantOK: 1000, advance: 0, wantAfter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = time.Unix(1000, 0)
			b := NewBucket[string](tt.perMin, tt.burst, clock)
			ok := 0
			var lastWait time.Duration
			for range tt.takes {
				if k, wait := b.Take("a"); k {
					ok++
				} else {
					lastWait = wait
				}
			}
			if ok != tt.wantOK {
				t.Fatalf("%d takes allowed, want %d", ok, tt.wantOK)
			}
			if ok < tt.takes && lastWait <= 0 {
				t.Fatalf("refusal without a retry-after")
			}
			if other, _ := b.Take("b"); !other {
				t.Fatalf("another key was limited too")
			}
			now = now.Add(tt.advance)
			if got, _ := b.Take("a"); got != tt.wantAfter {
				t.Fatalf("take after %v = %v, want %v", tt.advance, got, tt.wantAfter)
			}
		})
	}
}

func TestBucketSweepsFullBuckets(t *testing.T) {
	now := time.Unix(1000, 0)
	b := NewBucket[int](60, 0, func() time.Time { return now })
	for i := range 100 {
		b.Take(i)
	}
	now = now.Add(2 * time.Minute)
	b.Take(-1)
	if n := b.Len(); n != 1 {
		t.Fatalf("%d buckets kept after they refilled, want 1", n)
	}
}

// A burst larger than the rate lets a device fetch a big group's keys at
// once and then holds it to the steady rate; a request above the burst can
// never be granted and says so with a minute's wait.
func TestTakeNBurstAboveRate(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewBucket[string](120, 2048, func() time.Time { return now })
	if ok, _ := l.TakeN("alice.1", 2048); !ok {
		t.Fatal("burst of 2048 refused")
	}
	if ok, wait := l.TakeN("alice.1", 1); ok || wait <= 0 {
		t.Fatalf("take after the burst: ok=%v wait=%v, want a refusal", ok, wait)
	}
	now = now.Add(time.Minute)
	if ok, _ := l.TakeN("alice.1", 120); !ok {
		t.Fatal("a minute's refill (120) refused")
	}
	if ok, _ := l.TakeN("alice.1", 1); ok {
		t.Fatal("more than the refill allowed")
	}
	if ok, wait := l.TakeN("bob.1", 4096); ok || wait != time.Minute {
		t.Fatalf("request above the burst: ok=%v wait=%v, want refusal with a minute", ok, wait)
	}
}

// Per-hour limits use a fractional per-minute rate.
func TestBucketRatePerHour(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewBucketRate[string](20.0/60, 20, func() time.Time { return now })
	if ok, _ := l.TakeN("k", 20); !ok {
		t.Fatal("burst refused")
	}
	ok, wait := l.TakeN("k", 1)
	if ok || wait < 2*time.Minute || wait > 4*time.Minute {
		t.Fatalf("after the burst: ok=%v wait=%v, want about 3 minutes", ok, wait)
	}
}
