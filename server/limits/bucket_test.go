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
