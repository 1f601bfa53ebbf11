package transport

import (
	"crypto/ecdh"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	publicKeyPrefix = "parley-key:"
	secretKeyPrefix = "parley-secret:"
)

var b64 = base64.RawURLEncoding

// PublicKey is a Noise static public key (X25519): a device's key or a
// node's key.
type PublicKey [32]byte

// String returns the "parley-key:" + base64url (no padding) form used for
// pinning, printing and configuration.
func (k PublicKey) String() string { return publicKeyPrefix + b64.EncodeToString(k[:]) }

// ParsePublicKey reads the form made by String. Only the "parley-key:"
// prefix is accepted so that a secret key or another kind of key pasted into
// the wrong field is refused.
func ParsePublicKey(s string) (PublicKey, error) {
	var k PublicKey
	rest, ok := strings.CutPrefix(s, publicKeyPrefix)
	if !ok {
		return k, fmt.Errorf("transport: public key %q: want prefix %q", truncate(s), publicKeyPrefix)
	}
	if err := decodeKey(rest, &k); err != nil {
		return k, fmt.Errorf("transport: public key %q: %w", truncate(s), err)
	}
	return k, nil
}

// Equal compares in constant time.
func (k PublicKey) Equal(o PublicKey) bool { return subtle.ConstantTimeCompare(k[:], o[:]) == 1 }

// IsZero reports whether k is the zero key (no key).
func (k PublicKey) IsZero() bool { return k.Equal(PublicKey{}) }

// MarshalText implements encoding.TextMarshaler with the String form.
func (k PublicKey) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParsePublicKey.
func (k *PublicKey) UnmarshalText(b []byte) error {
	p, err := ParsePublicKey(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// StaticKey is a Noise static X25519 key pair. Its text form holds the
// private key; files holding it should be mode 0600 (the caller's job).
// String and GoString print only the public half so a key never leaks into
// logs by accident.
type StaticKey struct {
	priv [32]byte
	pub  PublicKey
}

// GenerateStaticKey makes a key pair from 32 bytes of rand (crypto/rand.Reader
// in production; a fixed reader gives reproducible keys in tests).
func GenerateStaticKey(rand io.Reader) (StaticKey, error) {
	var k StaticKey
	if _, err := io.ReadFull(rand, k.priv[:]); err != nil {
		return StaticKey{}, fmt.Errorf("transport: generate static key: %w", err)
	}
	if err := k.derive(); err != nil {
		return StaticKey{}, err
	}
	return k, nil
}

func (k *StaticKey) derive() error {
	priv, err := ecdh.X25519().NewPrivateKey(k.priv[:])
	if err != nil {
		return fmt.Errorf("transport: static key: %w", err)
	}
	copy(k.pub[:], priv.PublicKey().Bytes())
	return nil
}

// Public returns the public half.
func (k StaticKey) Public() PublicKey { return k.pub }

// IsZero reports whether k is unset.
func (k StaticKey) IsZero() bool { return k.pub.IsZero() }

// String prints the public half only.
func (k StaticKey) String() string { return "StaticKey(" + k.pub.String() + ")" }

// GoString prints the public half only.
func (k StaticKey) GoString() string { return k.String() }

// MarshalText returns "parley-secret:" + base64url (no padding) of the
// private key.
func (k StaticKey) MarshalText() ([]byte, error) {
	if k.IsZero() {
		return nil, errors.New("transport: marshal static key: key is unset")
	}
	return []byte(secretKeyPrefix + b64.EncodeToString(k.priv[:])), nil
}

// UnmarshalText reads the MarshalText form and recomputes the public key.
func (k *StaticKey) UnmarshalText(b []byte) error {
	rest, ok := strings.CutPrefix(strings.TrimSpace(string(b)), secretKeyPrefix)
	if !ok {
		// Never echo the input: it may be a secret in the wrong format.
		return fmt.Errorf("transport: static key: want prefix %q", secretKeyPrefix)
	}
	var nk StaticKey
	if err := decodeKey(rest, (*PublicKey)(&nk.priv)); err != nil {
		return fmt.Errorf("transport: static key: %w", err)
	}
	if err := nk.derive(); err != nil {
		return err
	}
	*k = nk
	return nil
}

func decodeKey(s string, out *PublicKey) error {
	if len(s) != b64.EncodedLen(32) {
		return fmt.Errorf("want %d base64url characters, got %d", b64.EncodedLen(32), len(s))
	}
	n, err := b64.Strict().Decode(out[:], []byte(s))
	if err != nil {
		return fmt.Errorf("bad base64url: %w", err)
	}
	if n != 32 {
		return fmt.Errorf("want 32 bytes, got %d", n)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
