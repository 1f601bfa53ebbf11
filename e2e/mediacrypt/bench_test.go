package mediacrypt

import (
	"bytes"
	"io"
	"testing"
)

const benchSize = 8 << 20

func BenchmarkEncrypt(b *testing.B) {
	key, pt := testKey(12), pattern(benchSize)
	b.SetBytes(benchSize)
	for b.Loop() {
		w, err := NewWriter(io.Discard, key, Options{})
		if err != nil {
			b.Fatal(err)
		}
		w.Write(pt)
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecrypt(b *testing.B) {
	key, pt := testKey(12), pattern(benchSize)
	ct, _ := encrypt(b, key, pt, DefaultChunkSize)
	buf := make([]byte, 64<<10)
	b.SetBytes(benchSize)
	for b.Loop() {
		r, err := NewReader(bytes.NewReader(ct), key)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyBuffer(io.Discard, r, buf); err != nil {
			b.Fatal(err)
		}
	}
}
