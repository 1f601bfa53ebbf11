package mediacrypt

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
)

// Options configures a Writer. The zero value is ready to use.
type Options struct {
	// ChunkSize is the plaintext size of every non-final chunk; 0 means
	// DefaultChunkSize. It must lie in [MinChunkSize, MaxChunkSize].
	ChunkSize int
	// Rand supplies the header salt; nil means crypto/rand.Reader.
	Rand io.Reader
}

func (o Options) chunkSize() int {
	if o.ChunkSize == 0 {
		return DefaultChunkSize
	}
	return o.ChunkSize
}

// Writer encrypts a stream as it is written. It holds one chunk of
// plaintext at a time, whatever the file size. A Writer is not safe for
// concurrent use.
type Writer struct {
	dst       io.Writer
	aead      cipher.AEAD
	hdr       []byte
	chunkSize int
	buf       []byte // pending plaintext; capacity chunkSize+TagSize so chunks seal in place
	index     uint64
	nonce     [12]byte

	ptHash, ctHash hash.Hash
	ptSize, ctSize int64
	ptSum, ctSum   []byte

	closed bool
	err    error // sticky: after a failed write the stream is unusable
}

// NewWriter writes the stream header to dst and returns a Writer that
// encrypts everything written to it under key (KeySize bytes, see
// GenerateKey). Close must be called to seal the final chunk; without it the
// recipient sees ErrTruncated.
func NewWriter(dst io.Writer, key []byte, opts Options) (*Writer, error) {
	cs := opts.chunkSize()
	if err := checkChunkSize(cs); err != nil {
		return nil, fmt.Errorf("mediacrypt: new writer: %w", err)
	}
	r := opts.Rand
	if r == nil {
		r = rand.Reader
	}
	h := header{chunkSize: cs}
	if _, err := io.ReadFull(r, h.salt[:]); err != nil {
		return nil, fmt.Errorf("mediacrypt: read salt: %w", err)
	}
	aead, err := newAEAD(key, h.salt[:])
	if err != nil {
		return nil, err
	}
	w := &Writer{
		dst:       dst,
		aead:      aead,
		hdr:       h.marshal(),
		chunkSize: cs,
		buf:       make([]byte, 0, cs+TagSize),
		ptHash:    sha256.New(),
		ctHash:    sha256.New(),
	}
	if err := w.emit(w.hdr); err != nil {
		return nil, err
	}
	return w, nil
}

// Write encrypts p. Ciphertext reaches the underlying writer a chunk at a
// time, so a short p may produce no output until later.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, ErrClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	written := 0
	for len(p) > 0 {
		// Seal a full chunk only once more data arrives: until then it may
		// turn out to be the final chunk.
		if len(w.buf) == w.chunkSize {
			if err := w.seal(false); err != nil {
				return written, err
			}
		}
		n := min(w.chunkSize-len(w.buf), len(p))
		w.buf = append(w.buf, p[:n]...)
		w.ptHash.Write(p[:n])
		w.ptSize += int64(n)
		written += n
		p = p[n:]
	}
	return written, nil
}

// Close seals the final chunk (an empty one for an empty file) and records
// the hashes. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	if w.err != nil {
		return w.err
	}
	if err := w.seal(true); err != nil {
		return err
	}
	w.closed = true
	w.ptSum = w.ptHash.Sum(nil)
	w.ctSum = w.ctHash.Sum(nil)
	return nil
}

func (w *Writer) seal(final bool) error {
	chunkNonce(&w.nonce, w.index, final)
	ct := w.aead.Seal(w.buf[:0], w.nonce[:], w.buf, w.hdr)
	if err := w.emit(ct); err != nil {
		return err
	}
	w.index++
	w.buf = w.buf[:0]
	return nil
}

func (w *Writer) emit(b []byte) error {
	n, err := w.dst.Write(b)
	w.ctHash.Write(b[:n])
	w.ctSize += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("mediacrypt: write ciphertext: %w", err)
		return w.err
	}
	return nil
}

// PlaintextSHA256 returns the SHA-256 of everything written, or nil before
// a successful Close.
func (w *Writer) PlaintextSHA256() []byte { return clone(w.ptSum) }

// CiphertextSHA256 returns the SHA-256 of the whole encrypted stream
// (header included), or nil before a successful Close. The uploader
// announces it so a recipient can reject a swapped blob before decrypting.
func (w *Writer) CiphertextSHA256() []byte { return clone(w.ctSum) }

// PlaintextSize returns the number of plaintext bytes written so far.
func (w *Writer) PlaintextSize() int64 { return w.ptSize }

// CiphertextSize returns the number of ciphertext bytes emitted so far;
// after Close it equals CiphertextSize(PlaintextSize()) for the chunk size.
func (w *Writer) CiphertextSize() int64 { return w.ctSize }

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
