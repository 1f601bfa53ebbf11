package mediacrypt

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i/251)
	}
	return p
}

// encrypt writes pt in uneven pieces so chunk assembly across Write calls is
// exercised, and returns the stream and the closed Writer.
func encrypt(t testing.TB, key, pt []byte, chunkSize int) ([]byte, *Writer) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, key, Options{ChunkSize: chunkSize})
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	for rest, step := pt, 1; len(rest) > 0; step = step*3 + 1 {
		n := min(step, len(rest))
		if m, err := w.Write(rest[:n]); err != nil || m != n {
			t.Fatalf("Write = %d, %v; want %d, nil", m, err, n)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes(), w
}

func decrypt(key, ct []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(ct), key)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestRoundTrip(t *testing.T) {
	key := testKey(1)
	for _, cs := range []int{MinChunkSize, 100, DefaultChunkSize} {
		for _, size := range []int{0, 1, cs - 1, cs, cs + 1, 3 * cs, 3*cs + 5} {
			t.Run(fmt.Sprintf("chunk=%d/size=%d", cs, size), func(t *testing.T) {
				pt := pattern(size)
				ct, w := encrypt(t, key, pt, cs)
				opts := Options{ChunkSize: cs}
				if got, want := int64(len(ct)), opts.CiphertextSize(int64(size)); got != want {
					t.Errorf("len(ciphertext) = %d, CiphertextSize = %d", got, want)
				}
				if w.CiphertextSize() != int64(len(ct)) || w.PlaintextSize() != int64(size) {
					t.Errorf("writer sizes = %d/%d, want %d/%d", w.PlaintextSize(), w.CiphertextSize(), size, len(ct))
				}
				if ps, cs := sha256.Sum256(pt), sha256.Sum256(ct); !bytes.Equal(w.PlaintextSHA256(), ps[:]) || !bytes.Equal(w.CiphertextSHA256(), cs[:]) {
					t.Errorf("writer hashes do not match the data")
				}
				got, err := decrypt(key, ct)
				if err != nil {
					t.Fatalf("decrypt: %v", err)
				}
				if !bytes.Equal(got, pt) {
					t.Fatalf("plaintext differs (got %d bytes, want %d)", len(got), len(pt))
				}
				// Byte-at-a-time source and the io.Reader contract checks.
				r, err := NewReader(iotest.OneByteReader(bytes.NewReader(ct)), key)
				if err != nil {
					t.Fatal(err)
				}
				if err := iotest.TestReader(r, pt); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

func TestCiphertextSize(t *testing.T) {
	tests := []struct{ plain, want int64 }{
		{0, HeaderSize + TagSize},
		{1, HeaderSize + 1 + TagSize},
		{DefaultChunkSize, HeaderSize + DefaultChunkSize + TagSize},
		{DefaultChunkSize + 1, HeaderSize + DefaultChunkSize + 1 + 2*TagSize},
		{-1, -1},
	}
	for _, tt := range tests {
		if got := CiphertextSize(tt.plain); got != tt.want {
			t.Errorf("CiphertextSize(%d) = %d, want %d", tt.plain, got, tt.want)
		}
	}
}

func TestSaltMakesStreamsDiffer(t *testing.T) {
	key, pt := testKey(2), pattern(50)
	a, _ := encrypt(t, key, pt, 16)
	b, _ := encrypt(t, key, pt, 16)
	if bytes.Equal(a, b) {
		t.Fatal("two encryptions under the same media key produced the same stream")
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateKey(nil)
	if len(a) != KeySize || bytes.Equal(a, b) {
		t.Fatalf("keys %x and %x", a, b)
	}
	if _, err := GenerateKey(bytes.NewReader(make([]byte, 3))); err == nil {
		t.Fatal("GenerateKey with a short rand succeeded")
	}
}

func TestInvalidArguments(t *testing.T) {
	var sink bytes.Buffer
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"writer short key", second(NewWriter(&sink, make([]byte, 31), Options{})), ErrInvalidKey},
		{"writer chunk too small", second(NewWriter(&sink, testKey(1), Options{ChunkSize: MinChunkSize - 1})), ErrInvalidHeader},
		{"writer chunk too large", second(NewWriter(&sink, testKey(1), Options{ChunkSize: MaxChunkSize + 1})), ErrInvalidHeader},
		{"reader short key", second(NewReader(bytes.NewReader(nil), make([]byte, 33))), ErrInvalidKey},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestWriterAfterClose(t *testing.T) {
	w, err := NewWriter(io.Discard, testKey(1), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close = %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

type failAfter struct {
	n   int
	err error
}

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	f.n--
	return len(p), nil
}

func TestWriterDestinationErrorIsSticky(t *testing.T) {
	boom := errors.New("disk full")
	w, err := NewWriter(&failAfter{n: 1, err: boom}, testKey(1), Options{ChunkSize: 16})
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.Write(pattern(40)) // seals chunk 0, which fails
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want %v", err, boom)
	}
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close after failed write = %v, want %v", err, boom)
	}
	if w.PlaintextSHA256() != nil {
		t.Fatal("hashes reported for a failed stream")
	}
}

func TestReaderSourceErrorPassesThrough(t *testing.T) {
	key := testKey(3)
	ct, _ := encrypt(t, key, pattern(100), 16)
	boom := errors.New("connection reset")
	src := io.MultiReader(bytes.NewReader(ct[:HeaderSize+20]), iotest.ErrReader(boom))
	r, err := NewReader(src, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, boom) {
		t.Fatalf("ReadAll = %v, want %v", err, boom)
	}
}
