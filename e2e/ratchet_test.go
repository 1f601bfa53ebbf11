package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// The -update flag rewrites golden files. It is registered in init and only
// if no other test file of the package registered it first, so several files
// can share one flag.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files in testdata/")
	}
}

func updating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// golden compares got with testdata/name (JSON of hex strings), or writes it
// under -update.
func golden(t *testing.T, name string, got map[string]string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if updating() {
		b, err := json.MarshalIndent(got, "", "  ")
		must(t, err)
		must(t, os.WriteFile(path, append(b, '\n'), 0o644))
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	var want map[string]string
	must(t, json.Unmarshal(b, &want))
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %s\n got  %s\n want %s", name, k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s missing from golden file (run with -update)", name, k)
		}
	}
}

// countingReader is a deterministic "random" source for known-answer tests.
type countingReader struct{ n byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.n
		r.n++
	}
	return len(p), nil
}

// TestChainKeyLibsignalVector uses the chain-key vector from libsignal's
// rust/protocol/src/ratchet/keys.rs tests.
func TestChainKeyLibsignalVector(t *testing.T) {
	var ck [32]byte
	copy(ck[:], hx(t, "8ab72d6f 4cc5ac0d 387eaf46 3378ddb2 8edd0738 5b1cb012 50c71598 2e7ad48f"))
	seed := chainStep(&ck, messageKeySeed)
	mk := deriveMessageKeys(&seed, 0)
	if want := hx(t, "bf51e9d7 5e0e3103 1051f82a 2491ffc0 84fa298b 7793bd9d b620056f ebf45217"); !bytes.Equal(mk.cipherKey[:], want) {
		t.Errorf("cipher key %x", mk.cipherKey)
	}
	if want := hx(t, "c6c77d6a 73a35433 7a56435e 34607dfe 48e3ace1 4e77314d c6abc172 e7a7030b"); !bytes.Equal(mk.macKey[:], want) {
		t.Errorf("mac key %x", mk.macKey)
	}
	next := chainStep(&ck, chainKeySeed)
	if want := hx(t, "28e8f8fe e54b801e ef7c5cfb 2f17f32c 7b334485 bbb70fac 6ec10342 a246d15d"); !bytes.Equal(next[:], want) {
		t.Errorf("next chain key %x", next)
	}
}

// TestKDFGolden pins every KDF of the session with fixed inputs.
func TestKDFGolden(t *testing.T) {
	got := map[string]string{}
	secret := bytes.Repeat([]byte{0x42}, 32*5)
	r, c := deriveInitialKeys(true, secret)
	got["pqxdh_root"], got["pqxdh_chain"] = hex.EncodeToString(r[:]), hex.EncodeToString(c[:])
	r, c = deriveInitialKeys(false, secret)
	got["x3dh_root"], got["x3dh_chain"] = hex.EncodeToString(r[:]), hex.EncodeToString(c[:])

	var root [32]byte
	copy(root[:], bytes.Repeat([]byte{0x11}, 32))
	a, _ := ParsePrivateKey(bytes.Repeat([]byte{0x21}, 32))
	b, _ := ParsePrivateKey(bytes.Repeat([]byte{0x31}, 32))
	r, c, err := createChain(&root, b.PublicKey(), a)
	must(t, err)
	got["ratchet_root"], got["ratchet_chain"] = hex.EncodeToString(r[:]), hex.EncodeToString(c[:])
	r2, c2, err := createChain(&root, a.PublicKey(), b)
	must(t, err)
	if r2 != r || c2 != c {
		t.Fatal("ratchet step is not symmetric")
	}

	ck := c
	for i := range 3 {
		seed := chainStep(&ck, messageKeySeed)
		mk := deriveMessageKeys(&seed, uint32(i))
		k := "msg" + string(rune('0'+i))
		got[k+"_cipher"] = hex.EncodeToString(mk.cipherKey[:])
		got[k+"_mac"] = hex.EncodeToString(mk.macKey[:])
		got[k+"_iv"] = hex.EncodeToString(mk.iv[:])
		ck = chainStep(&ck, chainKeySeed)
	}
	got["chain_after_3"] = hex.EncodeToString(ck[:])

	sig, err := a.Sign(&countingReader{}, []byte("parley xeddsa known answer"))
	must(t, err)
	got["xeddsa_pub"] = hex.EncodeToString(a.PublicKey().Bytes())
	got["xeddsa_sig"] = hex.EncodeToString(sig)
	if !a.PublicKey().VerifySignature([]byte("parley xeddsa known answer"), sig) {
		t.Fatal("golden signature does not verify")
	}
	golden(t, "kdf_golden.json", got)
}

// TestX3DHTranscriptGolden pins a whole first message: with a fixed random
// source and no KEM (whose encapsulation draws system randomness) the
// PreKeySignalMessage is byte-for-byte reproducible.
func TestX3DHTranscriptGolden(t *testing.T) {
	ctx := context.Background()
	rnd := &countingReader{n: 7}
	cfg := Config{Rand: rnd, AllowNoKEM: true}
	aliceID, _ := GenerateKeyPair(rnd)
	bobID, _ := GenerateKeyPair(rnd)
	alice, bob := NewMemoryStore(aliceID, 1), NewMemoryStore(bobID, 2)
	spk, err := GenerateSignedPreKey(rnd, bobID, 1)
	must(t, err)
	opk, err := GeneratePreKeys(rnd, 5, 1)
	must(t, err)
	must(t, bob.StoreSignedPreKey(ctx, spk))
	must(t, bob.StorePreKey(ctx, opk[0]))
	pub := opk[0].KeyPair.Public
	aAddr, bAddr := Address{"alice", 1}, Address{"bob", 1}
	must(t, ProcessPreKeyBundle(ctx, cfg, alice.Stores(), bAddr, PreKeyBundle{
		RegistrationID: 2, DeviceID: 1, IdentityKey: bobID.Public, PreKeyID: 5, PreKey: &pub,
		SignedPreKeyID: 1, SignedPreKey: spk.KeyPair.Public, SignedPreKeySignature: spk.Signature,
	}))
	ct, err := Encrypt(ctx, cfg, alice.Stores(), bAddr, []byte("known answer"))
	must(t, err)
	pt, err := Decrypt(ctx, cfg, bob.Stores(), aAddr, ct)
	must(t, err)
	if string(pt) != "known answer" {
		t.Fatalf("decrypted %q", pt)
	}
	reply, err := Encrypt(ctx, cfg, bob.Stores(), aAddr, []byte("reply"))
	must(t, err)
	golden(t, "x3dh_transcript.json", map[string]string{
		"prekey_message": hex.EncodeToString(ct.Body),
		"reply":          hex.EncodeToString(reply.Body),
	})
}
