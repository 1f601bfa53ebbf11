package keys

import (
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter[protocol.Address](60, 60, func() time.Time { return now }) // one per second
	a := protocol.Address{User: "alice", Device: 1}
	if ok, _ := l.take(a, 60); !ok {
		t.Fatal("full bucket refused its burst")
	}
	ok, wait := l.take(a, 1)
	if ok || wait < 900*time.Millisecond || wait > 1100*time.Millisecond {
		t.Fatalf("empty bucket: ok=%v wait=%v, want refusal for ~1s", ok, wait)
	}
	now = now.Add(2 * time.Second)
	if ok, _ := l.take(a, 2); !ok {
		t.Fatal("refilled tokens refused")
	}
	if ok, _ := l.take(protocol.Address{User: "bob", Device: 1}, 1); !ok {
		t.Fatal("bob limited by alice")
	}
	now = now.Add(2 * time.Minute)
	l.take(a, 1) // sweep runs: full buckets are dropped
	if len(l.buckets) != 1 {
		t.Fatalf("%d buckets after sweep, want 1", len(l.buckets))
	}
}

// A burst larger than the rate lets a device set up a big group at once and
// then holds it to the steady rate.
func TestLimiterBurstAboveRate(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter[string](120, 2048, func() time.Time { return now })
	if ok, _ := l.take("alice.1", 2048); !ok {
		t.Fatal("burst of 2048 refused")
	}
	if ok, wait := l.take("alice.1", 1); ok || wait <= 0 {
		t.Fatalf("take after the burst: ok=%v wait=%v, want a refusal", ok, wait)
	}
	now = now.Add(time.Minute)
	if ok, _ := l.take("alice.1", 120); !ok {
		t.Fatal("a minute's refill (120) refused")
	}
	if ok, _ := l.take("alice.1", 1); ok {
		t.Fatal("more than the refill allowed")
	}
	if ok, wait := l.take("bob.1", 4096); ok || wait != time.Minute {
		t.Fatalf("request above the burst: ok=%v wait=%v, want refusal with a minute", ok, wait)
	}
}
