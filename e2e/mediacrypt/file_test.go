package mediacrypt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDecryptFile(t *testing.T) {
	key := testKey(5)
	pt := pattern(3*tcs + 1)
	ct, w := encrypt(t, key, pt, tcs)
	good := func() ([]byte, []byte) { return w.CiphertextSHA256(), w.PlaintextSHA256() }
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	tests := []struct {
		name    string
		ctx     context.Context
		stream  []byte
		key     []byte
		hashes  func() ([]byte, []byte)
		wantErr error
	}{
		{"ok", context.Background(), ct, key, good, nil},
		{"wrong ciphertext hash", context.Background(), ct, key, func() ([]byte, []byte) {
			c, p := good()
			c[0] ^= 1
			return c, p
		}, ErrHashMismatch},
		{"wrong plaintext hash", context.Background(), ct, key, func() ([]byte, []byte) {
			c, p := good()
			p[31] ^= 1
			return c, p
		}, ErrHashMismatch},
		{"missing hashes", context.Background(), ct, key, func() ([]byte, []byte) { return nil, nil }, ErrHashMismatch},
		{"tampered", context.Background(), tampered, key, good, ErrTampered},
		{"truncated", context.Background(), ct[:HeaderSize+tsealed], key, good, ErrTruncated},
		{"wrong key", context.Background(), ct, testKey(6), good, ErrTampered},
		{"canceled", canceled, ct, key, good, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "photo.jpg")
			// A file already at dst must survive a failed download.
			if err := os.WriteFile(dst, []byte("previous"), 0o600); err != nil {
				t.Fatal(err)
			}
			c, p := tt.hashes()
			err := DecryptFile(tt.ctx, bytes.NewReader(tt.stream), tt.key, c, p, dst)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			got, rerr := os.ReadFile(dst)
			if rerr != nil {
				t.Fatal(rerr)
			}
			want := []byte("previous")
			if tt.wantErr == nil {
				want = pt
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("dst holds %d bytes, want %d", len(got), len(want))
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Fatalf("directory holds %v, want only photo.jpg (temporary file left behind)", names)
			}
		})
	}
}

func TestDecryptFileHashOfStream(t *testing.T) {
	// The ciphertext hash covers the header too: it is the hash of the blob
	// as stored, which is what the uploader announces.
	key := testKey(7)
	ct, w := encrypt(t, key, nil, DefaultChunkSize)
	if sum := sha256.Sum256(ct); !bytes.Equal(sum[:], w.CiphertextSHA256()) {
		t.Fatal("CiphertextSHA256 is not the hash of the whole stream")
	}
	dst := filepath.Join(t.TempDir(), "empty")
	if err := DecryptFile(context.Background(), bytes.NewReader(ct), key, w.CiphertextSHA256(), w.PlaintextSHA256(), dst); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Size() != 0 {
		t.Fatalf("empty file: %v, %v", fi, err)
	}
}
