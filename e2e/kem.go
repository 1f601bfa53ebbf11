package e2e

import (
	"crypto/mlkem"
	"crypto/sha3"
	"crypto/subtle"
	"fmt"
	"io"
)

// KEMType is libsignal's KEM key type byte (rust/protocol/src/kem.rs), the
// first byte of every serialised KEM public key and ciphertext.
type KEMType byte

const (
	// KEMKyber1024 is round-3 Kyber1024 (0x08), the only KEM that released
	// libsignal-client builds generate and accept. It is built here from
	// crypto/mlkem: the two share keys, ciphertexts and the K-PKE core and
	// differ only in the final KDF (see kyberSharedSecret).
	KEMKyber1024 KEMType = 0x08
	// KEMMLKEM1024 is ML-KEM-1024 (FIPS 203), libsignal's KeyType::MLKEM1024
	// (0x0A, behind its "mlkem1024" feature). Parley's default.
	KEMMLKEM1024 KEMType = 0x0A
)

func (t KEMType) valid() bool { return t == KEMKyber1024 || t == KEMMLKEM1024 }

func (t KEMType) String() string {
	switch t {
	case KEMKyber1024:
		return "Kyber1024"
	case KEMMLKEM1024:
		return "ML-KEM-1024"
	}
	return fmt.Sprintf("KEMType(0x%02x)", byte(t))
}

// kyberSharedSecret turns the FIPS 203 shared secret K into round-3 Kyber's
// SHAKE-256(K ‖ SHA3-256(c)), c being the raw 1568-byte ciphertext. ML-KEM's
// K equals Kyber's pre-key K̄ for the same (already hashed) message, so this
// is exactly Kyber1024 encapsulation/decapsulation. (On decapsulation failure
// the two derive different pseudorandom values; either way the MAC fails.)
func kyberSharedSecret(ss, rawCiphertext []byte) []byte {
	h := sha3.Sum256(rawCiphertext)
	x := sha3.NewSHAKE256()
	x.Write(ss)
	x.Write(h[:])
	out := make([]byte, 32)
	x.Read(out)
	return out
}

const (
	kemPublicKeyLen  = 1 + mlkem.EncapsulationKeySize1024
	kemCiphertextLen = 1 + mlkem.CiphertextSize1024
	kemSeedLen       = mlkem.SeedSize
)

// KEMPublicKey is a Kyber1024 or ML-KEM-1024 encapsulation key, serialised as
// libsignal serialises KEM public keys: type byte, then the 1568-byte key.
type KEMPublicKey struct {
	typ KEMType
	ek  *mlkem.EncapsulationKey1024
}

// ParseKEMPublicKey parses type byte (0x08 or 0x0A) || 1568-byte key.
func ParseKEMPublicKey(b []byte) (KEMPublicKey, error) {
	if len(b) == 0 {
		return KEMPublicKey{}, fmt.Errorf("KEM public key: empty: %w", ErrInvalidKey)
	}
	if !KEMType(b[0]).valid() {
		return KEMPublicKey{}, fmt.Errorf("KEM public key: type byte 0x%02x: %w", b[0], ErrInvalidKey)
	}
	if len(b) != kemPublicKeyLen {
		return KEMPublicKey{}, fmt.Errorf("KEM public key: length %d, want %d: %w", len(b), kemPublicKeyLen, ErrInvalidKey)
	}
	ek, err := mlkem.NewEncapsulationKey1024(b[1:])
	if err != nil {
		return KEMPublicKey{}, fmt.Errorf("KEM public key: %v: %w", err, ErrInvalidKey)
	}
	return KEMPublicKey{typ: KEMType(b[0]), ek: ek}, nil
}

// Bytes returns the type byte and the encapsulation key.
func (k KEMPublicKey) Bytes() []byte {
	if k.ek == nil {
		return nil
	}
	return append([]byte{byte(k.typ)}, k.ek.Bytes()...)
}

// Type returns the KEM of the key.
func (k KEMPublicKey) Type() KEMType { return k.typ }

// IsZero reports whether k is the zero value.
func (k KEMPublicKey) IsZero() bool { return k.ek == nil }

// Equal compares two keys in constant time.
func (k KEMPublicKey) Equal(o KEMPublicKey) bool {
	if k.ek == nil || o.ek == nil {
		return k.ek == nil && o.ek == nil
	}
	return k.typ == o.typ && subtle.ConstantTimeCompare(k.ek.Bytes(), o.ek.Bytes()) == 1
}

// encapsulate returns the shared secret and the typed ciphertext
// (type byte || 1568 bytes), as carried in PreKeySignalMessage.kyber_ciphertext.
func (k KEMPublicKey) encapsulate() (shared, ct []byte, err error) {
	if k.ek == nil {
		return nil, nil, fmt.Errorf("encapsulate: %w", ErrInvalidKey)
	}
	ss, raw := k.ek.Encapsulate()
	if k.typ == KEMKyber1024 {
		ss = kyberSharedSecret(ss, raw)
	}
	return ss, append([]byte{byte(k.typ)}, raw...), nil
}

// KEMKeyPair is a Kyber1024 or ML-KEM-1024 key pair. It is stored as its
// type and 64-byte FIPS 203 seed (d ‖ z), from which both keys are
// re-derived; a key pair made by ML-KEM key generation is a valid Kyber1024
// key pair too.
type KEMKeyPair struct {
	typ KEMType
	dk  *mlkem.DecapsulationKey1024
}

// GenerateKEMKeyPair makes an ML-KEM-1024 key pair from a 64-byte seed drawn
// from rand, so tests with a fixed reader get fixed keys.
func GenerateKEMKeyPair(rand io.Reader) (KEMKeyPair, error) {
	return GenerateKEMKeyPairOfType(rand, KEMMLKEM1024)
}

// GenerateKEMKeyPairOfType is GenerateKEMKeyPair for a chosen KEM; use
// KEMKyber1024 to publish keys released libsignal builds accept.
func GenerateKEMKeyPairOfType(rand io.Reader, typ KEMType) (KEMKeyPair, error) {
	if !typ.valid() {
		return KEMKeyPair{}, fmt.Errorf("generate KEM key: %v: %w", typ, ErrInvalidKey)
	}
	seed := make([]byte, kemSeedLen)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return KEMKeyPair{}, fmt.Errorf("generate KEM key: %w", err)
	}
	dk, err := mlkem.NewDecapsulationKey1024(seed)
	if err != nil {
		return KEMKeyPair{}, fmt.Errorf("generate KEM key: %v: %w", err, ErrInvalidKey)
	}
	return KEMKeyPair{typ: typ, dk: dk}, nil
}

// ParseKEMKeyPair parses the storage form produced by Bytes:
// type byte || 64-byte seed.
func ParseKEMKeyPair(b []byte) (KEMKeyPair, error) {
	if len(b) != 1+kemSeedLen || !KEMType(b[0]).valid() {
		return KEMKeyPair{}, fmt.Errorf("KEM key pair: length %d: %w", len(b), ErrInvalidKey)
	}
	dk, err := mlkem.NewDecapsulationKey1024(b[1:])
	if err != nil {
		return KEMKeyPair{}, fmt.Errorf("KEM key pair: %v: %w", err, ErrInvalidKey)
	}
	return KEMKeyPair{typ: KEMType(b[0]), dk: dk}, nil
}

// Bytes is the local storage form (type byte || seed). It is secret.
func (k KEMKeyPair) Bytes() []byte {
	if k.dk == nil {
		return nil
	}
	return append([]byte{byte(k.typ)}, k.dk.Bytes()...)
}

// Public returns the encapsulation key.
func (k KEMKeyPair) Public() KEMPublicKey {
	if k.dk == nil {
		return KEMPublicKey{}
	}
	return KEMPublicKey{typ: k.typ, ek: k.dk.EncapsulationKey()}
}

// IsZero reports whether k is the zero value.
func (k KEMKeyPair) IsZero() bool { return k.dk == nil }

// decapsulate checks the ciphertext's type byte and length and recovers the
// shared secret. ML-KEM decapsulation never fails on a well-sized input (a
// forged ciphertext yields an unrelated secret and the MAC check fails later).
func (k KEMKeyPair) decapsulate(ct []byte) ([]byte, error) {
	if k.dk == nil {
		return nil, fmt.Errorf("decapsulate: %w", ErrInvalidKey)
	}
	if len(ct) != kemCiphertextLen || ct[0] != byte(k.typ) {
		return nil, fmt.Errorf("decapsulate: KEM ciphertext of length %d, type 0x%02x for a %v key: %w",
			len(ct), firstByte(ct), k.typ, ErrInvalidMessage)
	}
	ss, err := k.dk.Decapsulate(ct[1:])
	if err != nil {
		return nil, fmt.Errorf("decapsulate: %v: %w", err, ErrInvalidMessage)
	}
	if k.typ == KEMKyber1024 {
		ss = kyberSharedSecret(ss, ct[1:])
	}
	return ss, nil
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return 0
	}
	return b[0]
}
