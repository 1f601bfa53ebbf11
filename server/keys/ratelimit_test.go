package keys

import (
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
)

func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newLimiter(60, func() time.Time { return now }) // one per second
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
