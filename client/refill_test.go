package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// A device told its prekey stock is low generates and uploads more.
func TestPrekeysLowRefills(t *testing.T) {
	n := servertest.Start(t, server.Config{PrekeyLowThreshold: 25})
	ctx := ctxT(t)
	alice, bob := memDevice(t, n), memDevice(t, n) // 30 one-time keys each
	register(t, alice, "alice")
	register(t, bob, "bob")
	before := countKeys(t, bob.st, "e2e/pk/")
	// Fresh peers fetching bob's bundles drain his stock under 25.
	for i := range 6 {
		peer := memDevice(t, n)
		register(t, peer, "peer"+string(rune('a'+i)))
		if _, err := peer.Send(ctx, "bob", "hi"); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	// Six were used (and deleted once bob decrypted), thirty came in.
	for countKeys(t, bob.st, "e2e/pk/") < before-6+30 {
		if time.Now().After(deadline) {
			t.Fatalf("bob has %d local prekeys, want at least %d after a refill", countKeys(t, bob.st, "e2e/pk/"), before-6+30)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The refilled keys work: one more newcomer still reaches bob.
	late := memDevice(t, n)
	register(t, late, "latecomer")
	if _, err := late.Send(ctx, "bob", "still works"); err != nil {
		t.Fatal(err)
	}
}

func countKeys(t testing.TB, st storage.Storage, prefix string) int {
	n := 0
	if err := st.Scan(context.Background(), []byte(prefix), false, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
