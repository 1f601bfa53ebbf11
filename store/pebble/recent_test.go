package pebble

import (
	"context"
	"testing"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// TestRecentEntries: an entry is remembered when written and again when
// ReadQueue reads it for delivery (a backlog older than the cache), and
// forgotten when acknowledged, so a second ack finds nothing.
func TestRecentEntries(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, t.TempDir())
	bob := protocol.Address{User: "bob", Device: 1}
	e := &store.Entry{Device: bob, Payload: []byte("m")}
	if err := s.Enqueue(ctx, []*store.Entry{e}); err != nil {
		t.Fatal(err)
	}
	key := queueKey(bob, e.Seq)
	if _, ok := s.recent.take(key); !ok {
		t.Fatal("a written entry is not remembered")
	}
	s.recent.clear() // as if it had aged out of the cache
	if got, err := s.ReadQueue(ctx, bob, 0, 10); err != nil || len(got) != 1 {
		t.Fatalf("ReadQueue = %v, %v", got, err)
	}
	if r, ok := s.recent.m[string(key)]; !ok || string(r.payload) != "m" {
		t.Fatal("an entry read for delivery is not remembered")
	}
	if got, err := s.Ack(ctx, bob, []uint64{e.Seq}); err != nil || len(got) != 1 || string(got[0].Payload) != "m" {
		t.Fatalf("Ack = %v, %v", got, err)
	}
	if _, ok := s.recent.m[string(key)]; ok {
		t.Fatal("an acknowledged entry is still remembered")
	}
	if got, err := s.Ack(ctx, bob, []uint64{e.Seq}); err != nil || len(got) != 0 {
		t.Fatalf("second Ack = %v, %v; want nothing", got, err)
	}
}
