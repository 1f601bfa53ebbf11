package mediacrypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
)

const (
	// Version is the only stream format version this build writes and reads.
	Version = 0x01
	// KeySize is the length of a media key.
	KeySize = 32
	// SaltSize is the length of the per-file random salt in the header.
	SaltSize = 32
	// HeaderSize is the length of the stream header.
	HeaderSize = 1 + 4 + SaltSize
	// TagSize is the AES-GCM tag appended to every chunk.
	TagSize = 16
	// DefaultChunkSize is the plaintext size of every non-final chunk unless
	// Options.ChunkSize says otherwise.
	DefaultChunkSize = 64 << 10
	// MinChunkSize and MaxChunkSize bound the chunk size a header may name;
	// the upper bound caps what a hostile header can make a reader allocate.
	MinChunkSize = 16
	MaxChunkSize = 1 << 20

	// kdfInfo separates the media key schedule from every other HKDF use.
	kdfInfo = "Parley media v1"

	flagMore  = 0x00
	flagFinal = 0x01
)

// header is the parsed form of the first HeaderSize bytes of a stream.
type header struct {
	chunkSize int
	salt      [SaltSize]byte
}

func (h header) marshal() []byte {
	b := make([]byte, HeaderSize)
	b[0] = Version
	binary.BigEndian.PutUint32(b[1:5], uint32(h.chunkSize))
	copy(b[5:], h.salt[:])
	return b
}

func parseHeader(b []byte) (header, error) {
	var h header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("header is %d bytes, want %d: %w", len(b), HeaderSize, ErrTruncated)
	}
	if b[0] != Version {
		return h, fmt.Errorf("version %#x: %w", b[0], ErrInvalidHeader)
	}
	cs := binary.BigEndian.Uint32(b[1:5])
	if cs < MinChunkSize || cs > MaxChunkSize {
		return h, fmt.Errorf("chunk size %d outside [%d, %d]: %w", cs, MinChunkSize, MaxChunkSize, ErrInvalidHeader)
	}
	h.chunkSize = int(cs)
	copy(h.salt[:], b[5:HeaderSize])
	return h, nil
}

func checkChunkSize(n int) error {
	if n < MinChunkSize || n > MaxChunkSize {
		return fmt.Errorf("chunk size %d outside [%d, %d]: %w", n, MinChunkSize, MaxChunkSize, ErrInvalidHeader)
	}
	return nil
}

// newAEAD derives the per-file key. The salt makes the AEAD key unique per
// file even if a caller reuses a media key, which is what lets the nonce be
// a plain counter.
func newAEAD(mediaKey []byte, salt []byte) (cipher.AEAD, error) {
	if len(mediaKey) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d: %w", len(mediaKey), KeySize, ErrInvalidKey)
	}
	k, err := hkdf.Key(sha256.New, mediaKey, salt, kdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("mediacrypt: derive key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("mediacrypt: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("mediacrypt: gcm: %w", err)
	}
	return aead, nil
}

// chunkNonce writes the STREAM nonce: an 88-bit big-endian chunk index
// followed by the final flag, so a chunk opens only at its own position and
// only the true last chunk opens as final.
func chunkNonce(dst *[12]byte, index uint64, final bool) {
	clear(dst[:3])
	binary.BigEndian.PutUint64(dst[3:11], index)
	dst[11] = flagMore
	if final {
		dst[11] = flagFinal
	}
}

// CiphertextSize returns the encrypted size of a plainSize-byte file written
// with DefaultChunkSize.
func CiphertextSize(plainSize int64) int64 {
	return ciphertextSize(plainSize, DefaultChunkSize)
}

// CiphertextSize returns the encrypted size of a plainSize-byte file written
// with these options.
func (o Options) CiphertextSize(plainSize int64) int64 {
	return ciphertextSize(plainSize, o.chunkSize())
}

func ciphertextSize(plainSize int64, chunkSize int) int64 {
	if plainSize < 0 {
		return -1
	}
	chunks := (plainSize + int64(chunkSize) - 1) / int64(chunkSize)
	if chunks == 0 {
		chunks = 1 // an empty file still has its (empty) final chunk
	}
	return HeaderSize + plainSize + chunks*TagSize
}

// GenerateKey returns a fresh random media key. A nil rand means
// crypto/rand.Reader.
func GenerateKey(r io.Reader) ([]byte, error) {
	if r == nil {
		r = rand.Reader
	}
	k := make([]byte, KeySize)
	if _, err := io.ReadFull(r, k); err != nil {
		return nil, fmt.Errorf("mediacrypt: generate key: %w", err)
	}
	return k, nil
}
