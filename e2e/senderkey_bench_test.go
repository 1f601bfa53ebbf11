package e2e

import (
	"context"
	"testing"
)

func BenchmarkGroupEncrypt(b *testing.B) {
	alice := newMember(b, "alice", false)
	alice.skdm()
	pt := make([]byte, 160) // a padded text message
	b.SetBytes(int64(len(pt)))
	for b.Loop() {
		if _, err := GroupEncrypt(context.Background(), Config{}, alice.store, alice.addr, testDistID, pt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGroupDecrypt(b *testing.B) {
	alice, bob := newMember(b, "alice", false), newMember(b, "bob", false)
	bob.receiveSKDM(alice, alice.skdm())
	pt := make([]byte, 160)
	msgs := make([][]byte, 0, 1024)
	b.SetBytes(int64(len(pt)))
	i := 0
	for b.Loop() {
		if i == len(msgs) {
			// Encrypt ahead, untimed, in batches: each message decrypts once.
			b.StopTimer()
			msgs, i = msgs[:0], 0
			for range cap(msgs) {
				ct, err := GroupEncrypt(context.Background(), Config{}, alice.store, alice.addr, testDistID, pt)
				if err != nil {
					b.Fatal(err)
				}
				msgs = append(msgs, ct)
			}
			b.StartTimer()
		}
		if _, err := GroupDecrypt(context.Background(), bob.store, alice.addr, msgs[i]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
