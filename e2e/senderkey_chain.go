package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"math"
)

// Sender Key chain constants, as libsignal defines them.
const (
	senderMessageKeySeed = 0x01 // HMAC input deriving a message key seed
	senderChainKeySeed   = 0x02 // HMAC input deriving the next chain key
	senderKeyKDFInfo     = "WhisperGroup"
	senderChainKeyLen    = 32
)

// senderChainKey is one step of a sender's symmetric ratchet.
type senderChainKey struct {
	iteration uint32
	key       [senderChainKeyLen]byte
}

func hmacSHA256(key []byte, data byte) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte{data})
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// messageSeed is the input of the message key for this iteration.
func (c senderChainKey) messageSeed() [32]byte { return hmacSHA256(c.key[:], senderMessageKeySeed) }

// next advances the chain; the old key is gone once the caller drops it,
// which is what gives forward secrecy within the chain.
func (c senderChainKey) next() (senderChainKey, error) {
	if c.iteration == math.MaxUint32 {
		return senderChainKey{}, fmt.Errorf("sender key chain exhausted: %w", ErrInvalidRecord)
	}
	return senderChainKey{iteration: c.iteration + 1, key: hmacSHA256(c.key[:], senderChainKeySeed)}, nil
}

// senderMessageKey is the seed stored for a skipped iteration; the cipher
// key and IV are derived from it on use.
type senderMessageKey struct {
	iteration uint32
	seed      [32]byte
}

// keys derives (IV, cipher key) = HKDF-SHA256(salt = none, ikm = seed,
// info = "WhisperGroup") split 16 || 32.
func (m senderMessageKey) keys() (iv, key []byte, err error) {
	okm, err := hkdf.Key(sha256.New, m.seed[:], nil, senderKeyKDFInfo, 48)
	if err != nil {
		return nil, nil, fmt.Errorf("sender message key: %w", err)
	}
	return okm[:16], okm[16:], nil
}

func (m senderMessageKey) encrypt(plaintext []byte) ([]byte, error) {
	iv, key, err := m.keys()
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sender key encrypt: %w", err)
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	copy(buf[len(plaintext):], bytes.Repeat([]byte{byte(pad)}, pad))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
	return buf, nil
}

// decrypt runs only after the message signature verified, so a padding
// error cannot be turned into an oracle by a third party.
func (m senderMessageKey) decrypt(ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("sender key ciphertext length %d: %w", len(ciphertext), ErrInvalidMessage)
	}
	iv, key, err := m.keys()
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sender key decrypt: %w", err)
	}
	buf := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, ciphertext)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, fmt.Errorf("sender key padding: %w", ErrInvalidMessage)
	}
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("sender key padding: %w", ErrInvalidMessage)
		}
	}
	return buf[:len(buf)-pad], nil
}
