package mediacrypt

import (
	"bytes"
	"io"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the decoder under a fixed key: it must
// never panic, and anything it accepts must have the exact length the format
// implies (seeds are valid streams, so mutations explore chunk boundaries).
func FuzzReader(f *testing.F) {
	key := testKey(11)
	for _, size := range []int{0, 1, 15, 16, 17, 48, 100} {
		ct, _ := encrypt(f, key, pattern(size), MinChunkSize)
		f.Add(ct)
	}
	f.Add([]byte{})
	f.Add([]byte{Version, 0, 0, 0, 16})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r, err := NewReader(bytes.NewReader(stream), key)
		if err != nil {
			return
		}
		pt, err := io.ReadAll(r)
		if err != nil {
			return
		}
		if want := ciphertextSize(int64(len(pt)), r.chunkSize); want != int64(len(stream)) {
			t.Fatalf("accepted a %d-byte stream holding %d bytes of plaintext; the format implies %d", len(stream), len(pt), want)
		}
	})
}

// FuzzHeader: parseHeader never panics and accepts only headers that
// marshal back to the same bytes.
func FuzzHeader(f *testing.F) {
	f.Add(header{chunkSize: DefaultChunkSize}.marshal())
	f.Add(header{chunkSize: MinChunkSize}.marshal())
	f.Add([]byte{Version})
	f.Add([]byte{2, 0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeader(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.marshal(), b[:HeaderSize]) {
			t.Fatalf("header %x re-encodes as %x", b[:HeaderSize], h.marshal())
		}
	})
}
