package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"
)

func TestPreKeyRecordsRoundTrip(t *testing.T) {
	id, _ := GenerateKeyPair(rand.Reader)
	pks, err := GeneratePreKeys(rand.Reader, 0xFFFFFFFF, 3)
	must(t, err)
	if pks[0].ID != 0xFFFFFFFF || pks[1].ID != 1 || pks[2].ID != 2 {
		t.Fatalf("ids %d %d %d: want wrap past 2^32-1 skipping 0", pks[0].ID, pks[1].ID, pks[2].ID)
	}
	b, err := pks[1].Marshal()
	must(t, err)
	pk, err := ParsePreKeyRecord(b)
	must(t, err)
	if pk.ID != 1 || !pk.KeyPair.Public.Equal(pks[1].KeyPair.Public) || !bytes.Equal(pk.KeyPair.Private.Bytes(), pks[1].KeyPair.Private.Bytes()) {
		t.Fatal("prekey record round trip")
	}

	spk, err := GenerateSignedPreKey(rand.Reader, id, 9)
	must(t, err)
	spk.Timestamp = 1234
	b, err = spk.Marshal()
	must(t, err)
	spk2, err := ParseSignedPreKeyRecord(b)
	must(t, err)
	if spk2.ID != 9 || spk2.Timestamp != 1234 || !id.Public.VerifySignature(spk2.KeyPair.Public.Bytes(), spk2.Signature) {
		t.Fatal("signed prekey record round trip")
	}

	for _, typ := range []KEMType{KEMMLKEM1024, KEMKyber1024} {
		kem, err := GenerateKEMPreKeyOfType(rand.Reader, id, 11, true, typ)
		must(t, err)
		b, err = kem.Marshal()
		must(t, err)
		kem2, err := ParseKEMPreKeyRecord(b)
		must(t, err)
		if kem2.ID != 11 || !kem2.LastResort || !kem2.KeyPair.Public().Equal(kem.KeyPair.Public()) ||
			!id.Public.VerifySignature(kem2.KeyPair.Public().Bytes(), kem2.Signature) {
			t.Fatalf("%v prekey record round trip", typ)
		}
	}
}

func TestParseRecordsRejectGarbage(t *testing.T) {
	rec := &SessionRecord{}
	good, err := rec.Marshal()
	must(t, err)
	_, err = ParseSessionRecord(good)
	must(t, err)
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrInvalidRecord},
		{"future version", []byte{2}, ErrUnsupportedVersion},
		{"bad protobuf", []byte{1, 0xFF, 0xFF}, ErrInvalidRecord},
		{"session without keys", []byte{1, 0x0A, 0x02, 0x08, 0x04}, ErrInvalidKey},
		{"unknown session version", []byte{1, 0x0A, 0x02, 0x08, 0x09}, ErrUnsupportedVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseSessionRecord(tc.in); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ParsePreKeyRecord([]byte{1, 0x12, 0x01, 0x05}); err == nil {
		t.Fatal("prekey record with a 1-byte key parsed")
	}
	if _, err := ParseSignedPreKeyRecord(make([]byte, maxPreKeyRecordLen+1)); !errors.Is(err, ErrInvalidRecord) {
		t.Fatal("oversized record accepted")
	}
}

// TestKyberSession runs a whole session over a round-3 Kyber1024 (0x08) KEM
// prekey, the type libsignal publishes.
func TestKyberSession(t *testing.T) {
	ctx := context.Background()
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	kem, err := GenerateKEMPreKeyOfType(rand.Reader, bob.id, 300, false, KEMKyber1024)
	must(t, err)
	must(t, bob.store.StoreKEMPreKey(ctx, kem))
	b := bob.bundle(true, false, false)
	pub := kem.KeyPair.Public()
	b.KEMPreKeyID, b.KEMPreKey, b.KEMPreKeySignature = kem.ID, &pub, kem.Signature
	must(t, ProcessPreKeyBundle(ctx, Config{}, alice.store.Stores(), bob.addr, b))
	ct := alice.encrypt(t, Config{}, bob, "kyber")
	m, err := parsePreKeySignalMessage(ct.Body)
	must(t, err)
	if m.kemCiphertext[0] != byte(KEMKyber1024) || ct.Body[0] != 0x44 {
		t.Fatalf("ciphertext type 0x%02x, version 0x%02x", m.kemCiphertext[0], ct.Body[0])
	}
	bob.decrypt(t, Config{}, alice, ct, "kyber")
	alice.decrypt(t, Config{}, bob, bob.encrypt(t, Config{}, alice, "ok"), "ok")
}
