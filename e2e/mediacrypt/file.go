package mediacrypt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parley-im/parley/internal/ioctx"
)

// DecryptFile decrypts the stream from src into dstPath. It writes to a
// temporary file in dstPath's directory and renames it over dstPath only
// after every chunk authenticated and both SHA-256 hashes matched, so a
// failed or cancelled download never leaves plaintext behind. Both hashes
// are required (sha256.Size bytes each): they are what the sender announced
// inside the end-to-end message.
func DecryptFile(ctx context.Context, src io.Reader, key, wantCipherSHA256, wantPlainSHA256 []byte, dstPath string) (err error) {
	if len(wantCipherSHA256) != sha256.Size || len(wantPlainSHA256) != sha256.Size {
		return fmt.Errorf("mediacrypt: decrypt file: expected hashes must be %d bytes: %w", sha256.Size, ErrHashMismatch)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dstPath), "."+filepath.Base(dstPath)+".*.part")
	if err != nil {
		return fmt.Errorf("mediacrypt: decrypt file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()

	ctHash, ptHash := sha256.New(), sha256.New()
	r, err := NewReader(io.TeeReader(ioctx.Reader(ctx, src), ctHash), key)
	if err != nil {
		return fmt.Errorf("mediacrypt: decrypt file: %w", err)
	}
	if _, err := io.Copy(io.MultiWriter(tmp, ptHash), r); err != nil {
		return fmt.Errorf("mediacrypt: decrypt file: %w", err)
	}
	if !bytes.Equal(ctHash.Sum(nil), wantCipherSHA256) {
		return fmt.Errorf("mediacrypt: decrypt file: ciphertext: %w", ErrHashMismatch)
	}
	if !bytes.Equal(ptHash.Sum(nil), wantPlainSHA256) {
		return fmt.Errorf("mediacrypt: decrypt file: plaintext: %w", ErrHashMismatch)
	}
	if err := tmp.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("mediacrypt: decrypt file: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("mediacrypt: decrypt file: close: %w", err)
	}
	if err := os.Rename(tmp.Name(), dstPath); err != nil {
		return fmt.Errorf("mediacrypt: decrypt file: %w", err)
	}
	return nil
}
