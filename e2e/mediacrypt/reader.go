package mediacrypt

import (
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
)

// Reader decrypts a stream written by Writer. Plaintext of a chunk is
// returned only after that chunk authenticated, and io.EOF only after the
// final chunk authenticated and the source ended right after it. It holds one
// chunk of ciphertext and one of plaintext at a time, whatever the file size.
// A Reader is not safe for concurrent use.
type Reader struct {
	src       io.Reader
	aead      cipher.AEAD
	hdr       []byte
	chunkSize int

	// in holds one sealed chunk plus one lookahead byte: a full-size chunk
	// is the final one exactly when nothing follows it.
	in      []byte
	inLen   int
	out     []byte
	pending []byte
	index   uint64
	nonce   [12]byte

	done bool
	err  error // sticky
}

// NewReader reads and checks the stream header from src and returns a Reader
// that decrypts the rest under key.
func NewReader(src io.Reader, key []byte) (*Reader, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("mediacrypt: new reader: key is %d bytes, want %d: %w", len(key), KeySize, ErrInvalidKey)
	}
	hdr := make([]byte, HeaderSize)
	if _, err := io.ReadFull(src, hdr); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("mediacrypt: read header: %w", ErrTruncated)
		}
		return nil, fmt.Errorf("mediacrypt: read header: %w", err)
	}
	h, err := parseHeader(hdr)
	if err != nil {
		return nil, fmt.Errorf("mediacrypt: %w", err)
	}
	aead, err := newAEAD(key, h.salt[:])
	if err != nil {
		return nil, err
	}
	return &Reader{
		src:       src,
		aead:      aead,
		hdr:       hdr,
		chunkSize: h.chunkSize,
		in:        make([]byte, h.chunkSize+TagSize+1),
		out:       make([]byte, 0, h.chunkSize),
	}, nil
}

// Read returns authenticated plaintext. When the stream ends without a valid
// final chunk it returns an error wrapping ErrTruncated or ErrTampered, never
// io.EOF; errors from src are returned wrapped.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		r.err = r.next()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

func (r *Reader) next() error {
	full := r.chunkSize + TagSize
	n, err := io.ReadFull(r.src, r.in[r.inLen:full+1])
	r.inLen += n
	eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !eof {
		return fmt.Errorf("mediacrypt: read chunk %d: %w", r.index, err)
	}

	if !eof {
		chunk := r.in[:full]
		pt, ok := r.open(chunk, false)
		if !ok {
			if _, final := r.open(chunk, true); final {
				return fmt.Errorf("mediacrypt: data after final chunk %d: %w", r.index, ErrTampered)
			}
			return fmt.Errorf("mediacrypt: chunk %d: %w", r.index, ErrTampered)
		}
		r.pending = pt
		r.in[0] = r.in[full]
		r.inLen = 1
		r.index++
		return nil
	}

	chunk := r.in[:r.inLen]
	if len(chunk) < TagSize {
		return fmt.Errorf("mediacrypt: stream ends %d bytes into chunk %d: %w", len(chunk), r.index, ErrTruncated)
	}
	pt, ok := r.open(chunk, true)
	if !ok {
		if len(chunk) == full {
			if _, more := r.open(chunk, false); more {
				return fmt.Errorf("mediacrypt: stream ends after chunk %d: %w", r.index, ErrTruncated)
			}
		}
		return fmt.Errorf("mediacrypt: final chunk %d: %w", r.index, ErrTampered)
	}
	if len(pt) == 0 && r.index > 0 {
		// Writer only emits an empty final chunk for an empty file; accept one
		// encoding per plaintext.
		return fmt.Errorf("mediacrypt: empty final chunk %d: %w", r.index, ErrTampered)
	}
	r.pending = pt
	r.inLen = 0
	r.done = true
	return nil
}

func (r *Reader) open(chunk []byte, final bool) ([]byte, bool) {
	chunkNonce(&r.nonce, r.index, final)
	pt, err := r.aead.Open(r.out[:0], r.nonce[:], chunk, r.hdr)
	return pt, err == nil
}
