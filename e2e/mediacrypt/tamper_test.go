package mediacrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// layout of the stream used by the tamper tests: chunk size 64, four full
// chunks and a 10-byte final one.
const (
	tcs       = 64
	tsealed   = tcs + TagSize
	tchunks   = 5
	tplainLen = 4*tcs + 10
)

func tamperFixture(t *testing.T) (key, pt, ct []byte) {
	t.Helper()
	key, pt = testKey(9), pattern(tplainLen)
	ct, _ = encrypt(t, key, pt, tcs)
	if len(ct) != HeaderSize+4*tsealed+10+TagSize {
		t.Fatalf("fixture layout changed: %d bytes", len(ct))
	}
	return key, pt, ct
}

func chunkAt(ct []byte, i int) []byte {
	start := HeaderSize + i*tsealed
	return ct[start:min(start+tsealed, len(ct))]
}

// readUntilError decrypts ct and also returns the plaintext released before
// the error, which must be whole, authenticated chunks of the original.
func readUntilError(t *testing.T, key, pt, ct []byte) error {
	t.Helper()
	r, err := NewReader(bytes.NewReader(ct), key)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(r)
	if err == nil {
		t.Fatalf("modified stream decrypted without error (%d bytes)", len(got))
	}
	if !bytes.HasPrefix(pt, got) || len(got)%tcs != 0 {
		t.Fatalf("released %d bytes that are not whole chunks of the original", len(got))
	}
	return err
}

func TestTruncationAtChunkBoundaries(t *testing.T) {
	key, pt, ct := tamperFixture(t)
	cuts := []int{0, 1, HeaderSize - 1}
	for i := 0; i < tchunks; i++ {
		cuts = append(cuts, HeaderSize+i*tsealed)
	}
	for _, cut := range cuts {
		t.Run(fmt.Sprintf("cut=%d", cut), func(t *testing.T) {
			if err := readUntilError(t, key, pt, ct[:cut]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("err = %v, want ErrTruncated", err)
			}
		})
	}
}

func TestTruncationInsideChunks(t *testing.T) {
	key, pt, ct := tamperFixture(t)
	for i := 0; i < tchunks; i++ {
		start := HeaderSize + i*tsealed
		for _, off := range []int{1, TagSize - 1, TagSize, tsealed / 2, tsealed - 1} {
			cut := start + off
			if cut >= len(ct) {
				continue
			}
			t.Run(fmt.Sprintf("chunk=%d/off=%d", i, off), func(t *testing.T) {
				err := readUntilError(t, key, pt, ct[:cut])
				// A cut inside a chunk cannot be told apart from a modified
				// last chunk once at least a tag's worth of bytes remains.
				want := ErrTampered
				if off < TagSize {
					want = ErrTruncated
				}
				if !errors.Is(err, want) {
					t.Fatalf("err = %v, want %v", err, want)
				}
			})
		}
	}
}

func TestReorderDuplicateDrop(t *testing.T) {
	key, pt, ct := tamperFixture(t)
	hdr := ct[:HeaderSize]
	c := func(i int) []byte { return chunkAt(ct, i) }
	join := func(parts ...[]byte) []byte { return bytes.Join(append([][]byte{hdr}, parts...), nil) }
	tests := []struct {
		name   string
		stream []byte
	}{
		{"swap 1 and 2", join(c(0), c(2), c(1), c(3), c(4))},
		{"swap 0 and 1", join(c(1), c(0), c(2), c(3), c(4))},
		{"duplicate 1", join(c(0), c(1), c(1), c(2), c(3), c(4))},
		{"duplicate final", join(c(0), c(1), c(2), c(3), c(4), c(4))},
		{"drop 2", join(c(0), c(1), c(3), c(4))},
		{"final moved forward", join(c(0), c(1), c(2), c(4))},
		{"final replaced by full chunk", join(c(0), c(1), c(2), c(3), c(3))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := readUntilError(t, key, pt, tt.stream); !errors.Is(err, ErrTampered) {
				t.Fatalf("err = %v, want ErrTampered", err)
			}
		})
	}
}

func TestChunkFromAnotherStreamRejected(t *testing.T) {
	key, pt, ct := tamperFixture(t)
	other, _ := encrypt(t, key, pt, tcs) // same key and plaintext, other salt
	spliced := bytes.Clone(ct)
	copy(spliced[HeaderSize+tsealed:], chunkAt(other, 1))
	if err := readUntilError(t, key, pt, spliced); !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v, want ErrTampered", err)
	}
}

func TestBitFlipAnywhere(t *testing.T) {
	key, pt, ct := tamperFixture(t)
	for pos := range ct {
		for _, bit := range []byte{0x01, 0x80} {
			mod := bytes.Clone(ct)
			mod[pos] ^= bit
			err := readUntilError(t, key, pt, mod)
			var want []error
			switch {
			case pos == 0: // version
				want = []error{ErrInvalidHeader}
			case pos < 5: // chunk size: out of range, or chunks no longer line up
				want = []error{ErrInvalidHeader, ErrTampered, ErrTruncated}
			default: // salt, ciphertext, tag
				want = []error{ErrTampered}
			}
			ok := false
			for _, w := range want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Fatalf("flip %#x at %d: err = %v, want one of %v", bit, pos, err, want)
			}
		}
	}
}

func TestWrongKey(t *testing.T) {
	_, pt, ct := tamperFixture(t)
	if err := readUntilError(t, testKey(10), pt, ct); !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v, want ErrTampered", err)
	}
}

func TestTrailingGarbage(t *testing.T) {
	key := testKey(4)
	for _, size := range []int{0, 10, tcs, 4 * tcs} {
		pt := pattern(size)
		ct, _ := encrypt(t, key, pt, tcs)
		for _, extra := range []int{1, TagSize, tsealed, 3 * tsealed} {
			t.Run(fmt.Sprintf("size=%d/extra=%d", size, extra), func(t *testing.T) {
				stream := append(bytes.Clone(ct), pattern(extra)...)
				r, err := NewReader(bytes.NewReader(stream), key)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(r)
				if !errors.Is(err, ErrTampered) {
					t.Fatalf("err = %v, want ErrTampered", err)
				}
				if !bytes.HasPrefix(pt, got) {
					t.Fatal("released plaintext that is not a prefix of the original")
				}
			})
		}
	}
}

func TestParseHeader(t *testing.T) {
	good := header{chunkSize: 4096}
	for i := range good.salt {
		good.salt[i] = byte(i)
	}
	gb := good.marshal()
	mut := func(f func(b []byte)) []byte { b := bytes.Clone(gb); f(b); return b }
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"valid", gb, nil},
		{"empty", nil, ErrTruncated},
		{"short", gb[:HeaderSize-1], ErrTruncated},
		{"version 0", mut(func(b []byte) { b[0] = 0 }), ErrInvalidHeader},
		{"version 2", mut(func(b []byte) { b[0] = 2 }), ErrInvalidHeader},
		{"chunk 0", mut(func(b []byte) { copy(b[1:5], []byte{0, 0, 0, 0}) }), ErrInvalidHeader},
		{"chunk 15", mut(func(b []byte) { copy(b[1:5], []byte{0, 0, 0, 15}) }), ErrInvalidHeader},
		{"chunk 1MiB+1", mut(func(b []byte) { copy(b[1:5], []byte{0, 0x10, 0, 1}) }), ErrInvalidHeader},
		{"chunk 4GiB-1", mut(func(b []byte) { copy(b[1:5], []byte{0xff, 0xff, 0xff, 0xff}) }), ErrInvalidHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := parseHeader(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err == nil && h != good {
				t.Fatalf("parsed %+v, want %+v", h, good)
			}
		})
	}
}
