package e2e

import (
	"crypto/sha512"
	"crypto/subtle"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// libsignal's XEdDSA differs from the paper (signal.org/docs/specifications/xeddsa)
// in one detail: instead of negating the private scalar so that the Edwards
// public key has sign bit 0, it keeps the scalar and stores the Edwards sign
// bit in the (always clear) top bit of the signature's S. The verifier reads
// that bit to pick which of the two Edwards points maps to the Montgomery key.
// The nonce hash is SHA-512(0xFE ‖ 0xFF×31 ‖ a ‖ M ‖ Z) (the paper's hash_1)
// with a the clamped private key bytes and Z 64 random bytes.

// xeddsaSign signs msg with the clamped 32-byte X25519 private key.
func xeddsaSign(priv []byte, msg []byte, z *[64]byte) []byte {
	a, err := edwards25519.NewScalar().SetBytesWithClamping(priv)
	if err != nil {
		panic("xeddsa: private key length") // callers pass 32 bytes
	}
	A := new(edwards25519.Point).ScalarBaseMult(a)
	aBytes := A.Bytes()
	signBit := aBytes[31] & 0x80

	// hash_1 prefix of the XEdDSA paper: 2^256 - 2 in little-endian.
	var prefix [32]byte
	for i := range prefix {
		prefix[i] = 0xFF
	}
	prefix[0] = 0xFE
	h := sha512.New()
	h.Write(prefix[:])
	h.Write(priv)
	h.Write(msg)
	h.Write(z[:])
	r, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	R := new(edwards25519.Point).ScalarBaseMult(r)
	rBytes := R.Bytes()

	h.Reset()
	h.Write(rBytes)
	h.Write(aBytes)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	s := edwards25519.NewScalar().MultiplyAdd(k, a, r)

	sig := make([]byte, 0, signatureLength)
	sig = append(sig, rBytes...)
	sig = append(sig, s.Bytes()...)
	sig[63] &= 0x7F
	sig[63] |= signBit
	return sig
}

// xeddsaVerify checks sig (64 bytes) over msg for the Montgomery key u.
func xeddsaVerify(u *[32]byte, msg, sig []byte) bool {
	A, ok := montgomeryToEdwards(u, sig[63]>>7)
	if !ok {
		return false
	}
	var sBytes [32]byte
	copy(sBytes[:], sig[32:])
	sBytes[31] &= 0x7F
	// libsignal rejects S with any of the three top bits set rather than
	// requiring S < ℓ; it then reduces S modulo ℓ.
	if sBytes[31]&0xE0 != 0 {
		return false
	}
	var wide [64]byte
	copy(wide[:], sBytes[:])
	s, _ := edwards25519.NewScalar().SetUniformBytes(wide[:])

	aBytes := A.Bytes()
	h := sha512.New()
	h.Write(sig[:32])
	h.Write(aBytes)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))

	minusA := new(edwards25519.Point).Negate(A)
	check := new(edwards25519.Point).VarTimeDoubleScalarBaseMult(k, minusA, s)
	return subtle.ConstantTimeCompare(check.Bytes(), sig[:32]) == 1
}

// montgomeryToEdwards maps u to the Edwards point with y = (u-1)/(u+1) and
// the given sign of x, failing (like curve25519-dalek) for u = -1 or when no
// such point exists.
func montgomeryToEdwards(u *[32]byte, sign byte) (*edwards25519.Point, bool) {
	fu, err := new(field.Element).SetBytes(u[:]) // ignores bit 255, as dalek does
	if err != nil {
		return nil, false
	}
	one := new(field.Element).One()
	uPlus1 := new(field.Element).Add(fu, one)
	if uPlus1.Equal(new(field.Element).Zero()) == 1 {
		return nil, false
	}
	uMinus1 := new(field.Element).Subtract(fu, one)
	y := new(field.Element).Multiply(uMinus1, new(field.Element).Invert(uPlus1))
	enc := y.Bytes()
	enc[31] |= sign << 7
	p, err := new(edwards25519.Point).SetBytes(enc)
	if err != nil {
		return nil, false
	}
	return p, true
}
