package transport

import (
	"bytes"
	"crypto/ecdh"
	"fmt"
	"strings"
	"testing"
)

func TestPublicKeyText(t *testing.T) {
	k := newKey(t).Public()
	s := k.String()
	if !strings.HasPrefix(s, "parley-key:") || len(s) != len("parley-key:")+43 {
		t.Fatalf("String() = %q", s)
	}
	got, err := ParsePublicKey(s)
	if err != nil || !got.Equal(k) {
		t.Fatalf("ParsePublicKey(String()) = %v, %v", got, err)
	}
	var u PublicKey
	if err := u.UnmarshalText([]byte(s)); err != nil || u != k {
		t.Fatalf("UnmarshalText = %v, %v", u, err)
	}

	secret, _ := newKey(t).MarshalText()
	bad := []string{
		"",
		s[len("parley-key:"):],                  // no prefix
		"PARLEY-KEY:" + s[len("parley-key:"):],  // wrong case
		string(secret),                          // a secret key in the public-key field
		s[:len(s)-1],                            // too short
		s + "A",                                 // too long
		strings.Replace(s, s[12:13], "+", 1),    // standard base64 alphabet
		s[:len(s)-1] + "B",                      // non-zero trailing bits
		"parley-key:" + strings.Repeat("=", 43), // padding
	}
	for _, in := range bad {
		if _, err := ParsePublicKey(in); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", in)
		}
	}
}

func TestStaticKeyText(t *testing.T) {
	k := newKey(t)
	text, err := k.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(text, []byte("parley-secret:")) {
		t.Fatalf("MarshalText = %q", text)
	}
	var back StaticKey
	if err := back.UnmarshalText(append(text, '\n')); err != nil {
		t.Fatal(err)
	}
	if back != k {
		t.Fatal("round trip changed the key")
	}
	if err := back.UnmarshalText([]byte(k.Public().String())); err == nil {
		t.Error("UnmarshalText accepted a public key")
	}
	if _, err := (StaticKey{}).MarshalText(); err == nil {
		t.Error("MarshalText of the zero key succeeded")
	}
	// Formatting never reveals the secret.
	secret := string(text[len("parley-secret:"):])
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, k); strings.Contains(out, secret) {
			t.Errorf("%s prints the secret: %s", f, out)
		}
	}
}

func TestStaticKeyMatchesX25519(t *testing.T) {
	k := fixedKey(t, 1)
	priv, err := ecdh.X25519().NewPrivateKey(k.priv[:])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(priv.PublicKey().Bytes(), k.pub[:]) {
		t.Fatal("public key is not X25519(priv)")
	}
	if a, b := fixedKey(t, 1), fixedKey(t, 2); a.Public().Equal(b.Public()) || !a.Public().Equal(k.Public()) {
		t.Fatal("GenerateStaticKey is not a function of its random input")
	}
}

func TestGenerateStaticKeyShortRand(t *testing.T) {
	if _, err := GenerateStaticKey(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("GenerateStaticKey accepted 31 random bytes")
	}
}
