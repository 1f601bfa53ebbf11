package e2e

import (
	"crypto/ecdh"
	"crypto/subtle"
	"fmt"
	"io"
	"sync"
)

// djbKeyType is libsignal's type byte for Curve25519 public keys.
const djbKeyType = 0x05

const (
	curveKeyLen     = 32
	publicKeyLen    = 1 + curveKeyLen
	privateKeyLen   = curveKeyLen
	signatureLength = 64
)

// PublicKey is a Curve25519 (X25519) public key. It serialises as libsignal
// does: the type byte 0x05 followed by the 32-byte Montgomery u-coordinate.
// The zero value is not a valid key.
type PublicKey struct {
	u     [curveKeyLen]byte
	valid bool
}

// ParsePublicKey parses the 33-byte libsignal encoding (0x05 || u).
func ParsePublicKey(b []byte) (PublicKey, error) {
	if len(b) != publicKeyLen {
		return PublicKey{}, fmt.Errorf("public key: length %d, want %d: %w", len(b), publicKeyLen, ErrInvalidKey)
	}
	if b[0] != djbKeyType {
		return PublicKey{}, fmt.Errorf("public key: type byte 0x%02x: %w", b[0], ErrInvalidKey)
	}
	var k PublicKey
	copy(k.u[:], b[1:])
	k.valid = true
	return k, nil
}

// publicKeyFromRaw wraps a bare 32-byte u-coordinate.
func publicKeyFromRaw(u []byte) (PublicKey, error) {
	if len(u) != curveKeyLen {
		return PublicKey{}, fmt.Errorf("public key: raw length %d: %w", len(u), ErrInvalidKey)
	}
	var k PublicKey
	copy(k.u[:], u)
	k.valid = true
	return k, nil
}

// Bytes returns the 33-byte serialisation with the 0x05 type byte.
func (k PublicKey) Bytes() []byte {
	out := make([]byte, publicKeyLen)
	out[0] = djbKeyType
	copy(out[1:], k.u[:])
	return out
}

// IsZero reports whether k is the zero value (not a parsed or generated key).
func (k PublicKey) IsZero() bool { return !k.valid }

// Equal compares two keys in constant time.
func (k PublicKey) Equal(o PublicKey) bool {
	return subtle.ConstantTimeCompare(k.u[:], o.u[:]) == 1 && k.valid == o.valid
}

// String is a short hex prefix for logs; it never reveals more than the
// public key itself.
func (k PublicKey) String() string { return fmt.Sprintf("05%x…", k.u[:6]) }

// VerifySignature verifies a 64-byte XEdDSA signature exactly as libsignal's
// curve25519 verify_signature does (the Edwards sign bit travels in the top
// bit of the signature's last byte).
func (k PublicKey) VerifySignature(msg, sig []byte) bool {
	if !k.valid || len(sig) != signatureLength {
		return false
	}
	return xeddsaVerify(&k.u, msg, sig)
}

// PrivateKey is a Curve25519 private scalar, clamped on creation as libsignal
// clamps it, so Bytes round-trips through libsignal unchanged.
type PrivateKey struct {
	p *privateKey // nil for the zero value; shared by copies, never mutated after init
}

type privateKey struct {
	raw  [privateKeyLen]byte
	once sync.Once
	k    *ecdh.PrivateKey
	err  error
}

// ecdh returns the crypto/ecdh key, built on first use: building it costs a
// scalar multiplication (crypto/ecdh derives the public key eagerly), which
// loading a stored session should not pay for keys it only carries along.
func (p *privateKey) ecdh() (*ecdh.PrivateKey, error) {
	p.once.Do(func() { p.k, p.err = ecdh.X25519().NewPrivateKey(p.raw[:]) })
	return p.k, p.err
}

// GeneratePrivateKey draws 32 random bytes from rand and clamps them.
func GeneratePrivateKey(rand io.Reader) (PrivateKey, error) {
	var b [privateKeyLen]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return PrivateKey{}, fmt.Errorf("generate private key: %w", err)
	}
	return ParsePrivateKey(b[:])
}

// ParsePrivateKey accepts 32 bytes; like libsignal it clamps them.
func ParsePrivateKey(b []byte) (PrivateKey, error) {
	if len(b) != privateKeyLen {
		return PrivateKey{}, fmt.Errorf("private key: length %d, want %d: %w", len(b), privateKeyLen, ErrInvalidKey)
	}
	p := &privateKey{}
	copy(p.raw[:], b)
	p.raw[0] &= 248
	p.raw[31] &= 127
	p.raw[31] |= 64
	return PrivateKey{p: p}, nil
}

// Bytes returns the 32-byte clamped scalar.
func (k PrivateKey) Bytes() []byte {
	if k.p == nil {
		return make([]byte, privateKeyLen)
	}
	return append([]byte(nil), k.p.raw[:]...)
}

// IsZero reports whether k is the zero value.
func (k PrivateKey) IsZero() bool { return k.p == nil }

// PublicKey returns the matching X25519 public key.
func (k PrivateKey) PublicKey() PublicKey {
	if k.p == nil {
		return PublicKey{}
	}
	e, err := k.p.ecdh()
	if err != nil {
		return PublicKey{}
	}
	p, _ := publicKeyFromRaw(e.PublicKey().Bytes())
	return p
}

// Sign makes a 64-byte XEdDSA signature as libsignal's calculate_signature
// does, drawing 64 bytes of nonce randomness from rand.
func (k PrivateKey) Sign(rand io.Reader, msg []byte) ([]byte, error) {
	if k.p == nil {
		return nil, fmt.Errorf("sign: %w", ErrInvalidKey)
	}
	var z [64]byte
	if _, err := io.ReadFull(rand, z[:]); err != nil {
		return nil, fmt.Errorf("sign: randomness: %w", err)
	}
	return xeddsaSign(k.p.raw[:], msg, &z), nil
}

// Agree computes the X25519 shared secret. It fails for a low-order remote
// key (all-zero output), which is how a malicious key shows up.
func (k PrivateKey) Agree(pub PublicKey) ([]byte, error) {
	if k.p == nil || !pub.valid {
		return nil, fmt.Errorf("agree: %w", ErrInvalidKey)
	}
	priv, err := k.p.ecdh()
	if err != nil {
		return nil, fmt.Errorf("agree: %v: %w", err, ErrInvalidKey)
	}
	p, err := ecdh.X25519().NewPublicKey(pub.u[:])
	if err != nil {
		return nil, fmt.Errorf("agree: %v: %w", err, ErrInvalidKey)
	}
	s, err := priv.ECDH(p)
	if err != nil {
		return nil, fmt.Errorf("agree: %v: %w", err, ErrInvalidKey)
	}
	return s, nil
}

// KeyPair is a Curve25519 key pair.
type KeyPair struct {
	Public  PublicKey
	Private PrivateKey
}

// IdentityKeyPair is a device's long-term identity: an X25519 key pair that
// also signs (XEdDSA).
type IdentityKeyPair = KeyPair

// GenerateKeyPair generates a fresh Curve25519 key pair.
func GenerateKeyPair(rand io.Reader) (KeyPair, error) {
	priv, err := GeneratePrivateKey(rand)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Public: priv.PublicKey(), Private: priv}, nil
}

// keyPairFromPrivate rebuilds a pair from a stored private key.
func keyPairFromPrivate(b []byte) (KeyPair, error) {
	priv, err := ParsePrivateKey(b)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Public: priv.PublicKey(), Private: priv}, nil
}
