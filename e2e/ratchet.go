package e2e

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
)

// KDF labels and constants, byte for byte as libsignal uses them
// (rust/protocol/src/ratchet.rs and ratchet/keys.rs).
const (
	infoRootPQXDH = "WhisperText_X25519_SHA-256_CRYSTALS-KYBER-1024" // initial keys, with KEM
	infoRootX3DH  = "WhisperText"                                    // initial keys, without KEM
	infoRatchet   = "WhisperRatchet"
	infoMessage   = "WhisperMessageKeys"

	messageKeySeed = 0x01
	chainKeySeed   = 0x02
)

// Message versions (the high nibble of the first byte of a message).
const (
	versionPreKyber = 3 // X3DH only
	versionKyber    = 4 // PQXDH
	versionCurrent  = versionKyber
)

// deriveInitialKeys is the PQXDH/X3DH KDF: HKDF-SHA256 with no salt over the
// concatenated secret, split into root key and first chain key.
func deriveInitialKeys(hasKEM bool, secret []byte) (root, chain [32]byte) {
	info := infoRootX3DH
	if hasKEM {
		info = infoRootPQXDH
	}
	out, err := hkdf.Key(sha256.New, secret, nil, info, 64)
	if err != nil {
		panic("hkdf: " + err.Error()) // only for lengths > 255*32
	}
	copy(root[:], out[:32])
	copy(chain[:], out[32:])
	return root, chain
}

// kdfRoot is the DH-ratchet step: HKDF-SHA256(salt=root key, ikm=DH output,
// info="WhisperRatchet") → new root key, new chain key.
func kdfRoot(rootKey *[32]byte, dh []byte) (root, chain [32]byte) {
	out, err := hkdf.Key(sha256.New, dh, rootKey[:], infoRatchet, 64)
	if err != nil {
		panic("hkdf: " + err.Error())
	}
	copy(root[:], out[:32])
	copy(chain[:], out[32:])
	return root, chain
}

// createChain runs kdfRoot on DH(ours, theirs).
func createChain(rootKey *[32]byte, theirs PublicKey, ours PrivateKey) (root, chain [32]byte, err error) {
	dh, err := ours.Agree(theirs)
	if err != nil {
		return root, chain, fmt.Errorf("ratchet: %w", err)
	}
	root, chain = kdfRoot(rootKey, dh)
	return root, chain, nil
}

// chainStep returns HMAC-SHA256(chain key, seed byte): seed 0x01 gives the
// message key seed, 0x02 the next chain key.
func chainStep(ck *[32]byte, seed byte) [32]byte {
	m := hmac.New(sha256.New, ck[:])
	m.Write([]byte{seed})
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// messageKeys are the per-message keys derived from a message key seed.
type messageKeys struct {
	cipherKey [32]byte
	macKey    [32]byte
	iv        [16]byte
	counter   uint32
}

// deriveMessageKeys: HKDF-SHA256(salt=none, ikm=seed,
// info="WhisperMessageKeys") → 80 bytes = AES key ‖ HMAC key ‖ IV.
func deriveMessageKeys(seed *[32]byte, counter uint32) messageKeys {
	out, err := hkdf.Key(sha256.New, seed[:], nil, infoMessage, 80)
	if err != nil {
		panic("hkdf: " + err.Error())
	}
	var k messageKeys
	copy(k.cipherKey[:], out[:32])
	copy(k.macKey[:], out[32:64])
	copy(k.iv[:], out[64:80])
	k.counter = counter
	return k
}
