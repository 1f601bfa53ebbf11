package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds returns real messages and records to seed the fuzzers.
func fuzzSeeds(t testing.TB) (pre, whisper, record []byte) {
	cfg := Config{}
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	must(t, ProcessPreKeyBundle(context.Background(), cfg, alice.store.Stores(), bob.addr, bob.bundle(true, true, false)))
	p := alice.encrypt(t, cfg, bob, "seed")
	bob.decrypt(t, cfg, alice, p, "seed")
	w := bob.encrypt(t, cfg, alice, "reply seed")
	return p.Body, w.Body, bob.snapshot(t, alice)
}

// TestWriteFuzzSeeds writes testdata/fuzz/<target>/seed-* under -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !updating() {
		t.Skip("run with -update to rewrite the fuzz seed corpora")
	}
	pre, whisper, record := fuzzSeeds(t)
	kp, _ := GenerateKeyPair(rand.Reader)
	kem, _ := GenerateKEMKeyPair(rand.Reader)
	kyber, _ := GenerateKEMKeyPairOfType(rand.Reader, KEMKyber1024)
	for target, seeds := range map[string][][]byte{
		"FuzzParsePreKeySignalMessage": {pre, pre[:40]},
		"FuzzParseSignalMessage":       {whisper, whisper[:10]},
		"FuzzParseSessionRecord":       {record},
		"FuzzDecrypt":                  {whisper, pre},
		"FuzzParsePublicKey":           {kp.Public.Bytes()},
		"FuzzParseKEMPublicKey":        {kem.Public().Bytes(), kyber.Public().Bytes()},
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		must(t, os.MkdirAll(dir, 0o755))
		for i, s := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
			if target == "FuzzDecrypt" {
				body += fmt.Sprintf("bool(%t)\n", i == 1)
			}
			must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644))
		}
	}
}

func FuzzParseSignalMessage(f *testing.F) {
	f.Add([]byte{0x44, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseSignalMessage(b)
		if err == nil && (m.ratchetKey.IsZero() || len(m.serialized) != len(b)) {
			t.Fatal("accepted message without ratchet key")
		}
	})
}

func FuzzParsePreKeySignalMessage(f *testing.F) {
	f.Add([]byte{0x44})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parsePreKeySignalMessage(b)
		if err == nil && (m.message == nil || m.identityKey.IsZero() || m.baseKey.IsZero()) {
			t.Fatal("accepted incomplete prekey message")
		}
	})
}

func FuzzParseSessionRecord(f *testing.F) {
	f.Add([]byte{recordVersion})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := ParseSessionRecord(b)
		if err != nil {
			return
		}
		out, err := rec.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		rec2, err := ParseSessionRecord(out)
		if err != nil {
			t.Fatalf("re-parse of own output: %v", err)
		}
		out2, _ := rec2.Marshal()
		if string(out) != string(out2) {
			t.Fatal("Marshal is not stable")
		}
	})
}

func FuzzDecrypt(f *testing.F) {
	cfg := Config{}
	alice, bob := newParty(f, "alice"), newParty(f, "bob")
	establish(f, cfg, alice, bob)
	f.Add([]byte{0x44, 1, 2, 3}, true)
	f.Fuzz(func(t *testing.T, b []byte, prekey bool) {
		typ := WhisperMessage
		if prekey {
			typ = PreKeyMessage
		}
		if pt, err := Decrypt(context.Background(), cfg, bob.store.Stores(), alice.addr, Ciphertext{Type: typ, Body: b}); err == nil {
			t.Fatalf("random input decrypted to %q", pt)
		}
	})
}

func FuzzParsePublicKey(f *testing.F) {
	f.Add(append([]byte{0x05}, make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePublicKey(b)
		if err != nil {
			return
		}
		if string(k.Bytes()) != string(b) {
			t.Fatal("round trip")
		}
		k.VerifySignature(b, make([]byte, 64))
	})
}

func FuzzParseKEMPublicKey(f *testing.F) {
	f.Add(append([]byte{0x0A}, make([]byte, 1568)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKEMPublicKey(b)
		if err != nil {
			return
		}
		if string(k.Bytes()) != string(b) {
			t.Fatal("round trip")
		}
		if _, _, err := k.encapsulate(); err != nil {
			t.Fatal(err)
		}
	})
}
