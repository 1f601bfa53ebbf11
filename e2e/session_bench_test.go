package e2e

import (
	"bytes"
	"context"
	"testing"
)

// BenchmarkSessionStart measures a full PQXDH session start, both sides:
// Alice verifies the bundle and encapsulates, encrypts the first message;
// Bob decapsulates and decrypts it.
func BenchmarkSessionStart(b *testing.B) {
	ctx := context.Background()
	cfg := Config{}
	alice, bob := newParty(b, "alice"), newParty(b, "bob")
	opk := bob.opks[0]
	bundle := bob.bundle(true, true, true)
	bundle.PreKeyID, bundle.PreKey = opk.ID, &opk.KeyPair.Public
	msg := bytes.Repeat([]byte{'x'}, 100)
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		a := NewMemoryStore(alice.id, alice.regID)
		if err := ProcessPreKeyBundle(ctx, cfg, a.Stores(), bob.addr, bundle); err != nil {
			b.Fatal(err)
		}
		ct, err := Encrypt(ctx, cfg, a.Stores(), bob.addr, msg)
		if err != nil {
			b.Fatal(err)
		}
		// A distinct sender address per round keeps Bob's records small.
		if _, err := Decrypt(ctx, cfg, bob.store.Stores(), Address{Name: "alice", DeviceID: i}, ct); err != nil {
			b.Fatal(err)
		}
		if err := bob.store.StorePreKey(ctx, opk); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncrypt is one 100-byte message on an established session,
// including loading and storing the session record in a MemoryStore.
func BenchmarkEncrypt(b *testing.B) {
	ctx := context.Background()
	cfg := Config{}
	alice, bob := newParty(b, "alice"), newParty(b, "bob")
	establish(b, cfg, alice, bob)
	msg := bytes.Repeat([]byte{'x'}, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encrypt(ctx, cfg, alice.store.Stores(), bob.addr, msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecrypt is one 100-byte message on an established session, in
// order, including record load and store.
func BenchmarkDecrypt(b *testing.B) {
	ctx := context.Background()
	cfg := Config{}
	alice, bob := newParty(b, "alice"), newParty(b, "bob")
	establish(b, cfg, alice, bob)
	msg := bytes.Repeat([]byte{'x'}, 100)
	const batch = 1000
	cts := make([]Ciphertext, 0, batch)
	b.ReportAllocs()
	b.StopTimer()
	for i := 0; i < b.N; i++ {
		if len(cts) == 0 {
			for range batch {
				ct, err := Encrypt(ctx, cfg, alice.store.Stores(), bob.addr, msg)
				if err != nil {
					b.Fatal(err)
				}
				cts = append(cts, ct)
			}
		}
		ct := cts[0]
		cts = cts[1:]
		b.StartTimer()
		if _, err := Decrypt(ctx, cfg, bob.store.Stores(), alice.addr, ct); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
	}
}
