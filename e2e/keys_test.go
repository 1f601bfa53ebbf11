package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Vectors from libsignal's rust/protocol/src/curve/curve25519.rs tests: a
// signature produced by libsignal, and an X25519 agreement.
const (
	lsAliceIdentityPrivate = "c0972484 12e58bf0 5df48796 82051327 94178e36 7637f581 8f81e0e6 ce73e865"
	lsAliceIdentityPublic  = "ab7e717d 4a163b7d 9a1d8071 dfe9dcf8 cdcd1cea 3339b635 6be84d88 7e322c64"
	lsAliceEphemeralPublic = "05 edce9d9c 415ca78c b7252e72 c2c4a554 d3eb2948 5a0e1d50 3118d1a8 2d99fb4a"
	lsAliceSignature       = "5de88ca9 a89b4a11 5da79109 c67c9c74 64a3e418 0274f1cb 8c63c298 4e286dfb" +
		"ede82deb 9dcd9fae 0bfbb821 569b3d90 01bd8130 cd11d486 cef047bd 60b86e88"

	lsAgreeAlicePublic  = "1bb75966 f2e93a36 91dfff94 2bb2a466 a1c08b8d 78ca3f4d 6df8b8bf a2e4ee28"
	lsAgreeAlicePrivate = "c806439d c9d2c476 ffed8f25 80c0888d 58ab406b f7ae3698 879021b9 6bb4bf59"
	lsAgreeBobPublic    = "65361499 3d2b15ee 9e5fd3d8 6ce719ef 4ec1daae 1886a87b 3f5fa956 5a27a22f"
	lsAgreeBobPrivate   = "b03b34c3 3a1c44f2 25b662d2 bf4859b8 135411fa 7b0386d4 5fb75dc5 b91b4466"
	lsAgreeShared       = "325f2393 28941ced 6e673b86 ba410174 48e99b64 9a9c3806 c1dd7ca4 c477e629"
)

func hx(t testing.TB, s string) []byte {
	return unhex(t, string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)))
}

func TestXEdDSALibsignalVector(t *testing.T) {
	priv, err := ParsePrivateKey(hx(t, lsAliceIdentityPrivate))
	must(t, err)
	pub := priv.PublicKey()
	if !bytes.Equal(pub.Bytes()[1:], hx(t, lsAliceIdentityPublic)) {
		t.Fatalf("public key %x", pub.Bytes())
	}
	msg := hx(t, lsAliceEphemeralPublic)
	sig := hx(t, lsAliceSignature)
	if !pub.VerifySignature(msg, sig) {
		t.Fatal("libsignal's signature does not verify")
	}
	for bit := range len(sig) * 8 {
		if pub.VerifySignature(msg, flip(sig, bit)) {
			t.Fatalf("signature with bit %d flipped verifies", bit)
		}
	}
	if pub.VerifySignature(msg[1:], sig) {
		t.Fatal("signature verifies over a different message")
	}
}

func TestX25519LibsignalVector(t *testing.T) {
	a, err := ParsePrivateKey(hx(t, lsAgreeAlicePrivate))
	must(t, err)
	b, err := ParsePrivateKey(hx(t, lsAgreeBobPrivate))
	must(t, err)
	if !bytes.Equal(a.PublicKey().Bytes()[1:], hx(t, lsAgreeAlicePublic)) || !bytes.Equal(b.PublicKey().Bytes()[1:], hx(t, lsAgreeBobPublic)) {
		t.Fatal("public keys differ from libsignal's")
	}
	s1, err := a.Agree(b.PublicKey())
	must(t, err)
	s2, err := b.Agree(a.PublicKey())
	must(t, err)
	if !bytes.Equal(s1, hx(t, lsAgreeShared)) || !bytes.Equal(s2, s1) {
		t.Fatalf("shared secret %x", s1)
	}
}

func TestXEdDSASignVerify(t *testing.T) {
	for i := range 50 {
		kp, err := GenerateKeyPair(rand.Reader)
		must(t, err)
		msg := make([]byte, i*7)
		rand.Read(msg)
		sig, err := kp.Private.Sign(rand.Reader, msg)
		must(t, err)
		if !kp.Public.VerifySignature(msg, sig) {
			t.Fatal("own signature does not verify")
		}
		// The Edwards sign bit travels in the top bit of S: flipping it
		// selects the other Edwards point and must fail.
		if kp.Public.VerifySignature(msg, flip(sig, 511)) {
			t.Fatal("signature with flipped sign bit verifies")
		}
		other, _ := GenerateKeyPair(rand.Reader)
		if other.Public.VerifySignature(msg, sig) {
			t.Fatal("signature verifies under another key")
		}
	}
	// S with one of the three bits above 2^253 set is rejected outright.
	kp, _ := GenerateKeyPair(rand.Reader)
	sig, _ := kp.Private.Sign(rand.Reader, []byte("m"))
	for _, bit := range []int{63*8 + 5, 63*8 + 6} {
		if kp.Public.VerifySignature([]byte("m"), flip(sig, bit)) {
			t.Fatalf("S with bit %d set verifies", bit)
		}
	}
	if kp.Public.VerifySignature([]byte("m"), sig[:63]) || (PublicKey{}).VerifySignature([]byte("m"), sig) {
		t.Fatal("short signature or zero key verifies")
	}
}

func TestParseKeys(t *testing.T) {
	kp, _ := GenerateKeyPair(rand.Reader)
	good := kp.Public.Bytes()
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"short", good[:32]},
		{"long", append(append([]byte(nil), good...), 0)},
		{"wrong type", append([]byte{0x06}, good[1:]...)},
	} {
		if _, err := ParsePublicKey(tc.in); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	p, err := ParsePublicKey(good)
	must(t, err)
	if !p.Equal(kp.Public) || !bytes.Equal(p.Bytes(), good) {
		t.Fatal("round trip")
	}
	if _, err := ParsePrivateKey(make([]byte, 31)); !errors.Is(err, ErrInvalidKey) {
		t.Fatal("short private key accepted")
	}
	// Private keys are clamped on parse, as libsignal does.
	raw := bytes.Repeat([]byte{0xFF}, 32)
	priv, err := ParsePrivateKey(raw)
	must(t, err)
	if b := priv.Bytes(); b[0] != 0xF8 || b[31] != 0x7F {
		t.Fatalf("not clamped: %x", b)
	}
	// A low-order point yields an all-zero secret: refused.
	low, _ := ParsePublicKey(append([]byte{0x05}, make([]byte, 32)...))
	if _, err := priv.Agree(low); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("agreement with the zero point: %v", err)
	}
}

func TestKEMKeys(t *testing.T) {
	for _, typ := range []KEMType{KEMMLKEM1024, KEMKyber1024} {
		t.Run(typ.String(), func(t *testing.T) {
			kp, err := GenerateKEMKeyPairOfType(rand.Reader, typ)
			must(t, err)
			pubBytes := kp.Public().Bytes()
			if len(pubBytes) != 1569 || pubBytes[0] != byte(typ) {
				t.Fatalf("public key: %d bytes, type 0x%02x", len(pubBytes), pubBytes[0])
			}
			pub, err := ParseKEMPublicKey(pubBytes)
			must(t, err)
			if !pub.Equal(kp.Public()) {
				t.Fatal("parsed key differs")
			}
			ss, ct, err := pub.encapsulate()
			must(t, err)
			if len(ct) != 1569 || ct[0] != byte(typ) {
				t.Fatalf("ciphertext: %d bytes, type 0x%02x", len(ct), ct[0])
			}
			kp2, err := ParseKEMKeyPair(kp.Bytes())
			must(t, err)
			ss2, err := kp2.decapsulate(ct)
			must(t, err)
			if !bytes.Equal(ss, ss2) {
				t.Fatal("shared secrets differ")
			}
			bad := append([]byte(nil), ct...)
			bad[0] = byte(KEMKyber1024 ^ KEMMLKEM1024 ^ typ)
			if _, err := kp2.decapsulate(bad); err == nil {
				t.Fatal("ciphertext of the other KEM type accepted")
			}
			if _, err := kp2.decapsulate(ct[:100]); err == nil {
				t.Fatal("short ciphertext accepted")
			}
		})
	}
	for _, in := range [][]byte{nil, {0x0A}, {0x08, 1, 2}, append([]byte{0x09}, make([]byte, 1568)...)} {
		if _, err := ParseKEMPublicKey(in); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ParseKEMPublicKey(%d bytes): %v", len(in), err)
		}
	}
}
