package e2e

import (
	"bytes"
	"context"
	"testing"
)

func FuzzParseSenderKeyMessage(f *testing.F) {
	alice := newMember(f, "alice", false)
	alice.skdm()
	f.Add(alice.send("hello"))
	f.Add(alice.send(""))
	f.Add([]byte{0x33})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseSenderKeyMessage(b)
		if err != nil {
			return
		}
		if len(m.signature) != signatureLength || !bytes.Equal(append(bytes.Clone(m.signed), m.signature...), b) {
			t.Fatal("signed part and signature do not make up the message")
		}
	})
}

func FuzzParseSenderKeyDistributionMessage(f *testing.F) {
	alice := newMember(f, "alice", false)
	f.Add(alice.skdm())
	f.Add(make([]byte, minSKDMLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseSenderKeyDistribution(b)
		if err != nil {
			return
		}
		// Whatever is accepted re-encodes to a message that parses the same.
		again, err := d.marshal()
		if err != nil {
			t.Fatal(err)
		}
		d2, err := parseSenderKeyDistribution(again)
		if err != nil || *d2 != *d {
			t.Fatalf("re-encoded distribution differs: %v", err)
		}
	})
}

// FuzzGroupDecrypt runs arbitrary bytes through the whole decrypt path
// against a receiver that holds a real chain: it must never panic, and
// nothing but alice's genuine messages may decrypt.
func FuzzGroupDecrypt(f *testing.F) {
	alice := newMember(f, "alice", false)
	skdm := alice.skdm()
	genuine := map[string]bool{}
	for _, s := range []string{"one", "two", ""} {
		m := alice.send(s)
		genuine[string(m)] = true
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fresh := newMember(t, "bob", false)
		fresh.receiveSKDM(alice, skdm)
		_, err := GroupDecrypt(context.Background(), fresh.store, alice.addr, b)
		if err == nil && !genuine[string(b)] {
			t.Fatalf("accepted a message alice never sent: %x", b)
		}
	})
}

func FuzzParseSenderKeyRecord(f *testing.F) {
	alice := newMember(f, "alice", false)
	alice.skdm()
	alice.send("x")
	rec, _ := alice.store.LoadSenderKey(context.Background(), alice.addr, testDistID)
	b, _ := rec.Marshal()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSenderKeyRecord(b)
		if err != nil {
			return
		}
		if _, err := r.Marshal(); err != nil {
			t.Fatal(err)
		}
	})
}
