package media

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"github.com/parley-im/parley/internal/secretfile"
)

// A slot token is base64url(size (8 bytes) || expiry ms (8 bytes) ||
// HMAC-SHA256(secret, "parley media slot v1|" blob id "|" size "|" expiry)).
// The blob id is not inside: it comes from the URL, and the MAC binds it.
const (
	tokenRawLen = 8 + 8 + sha256.Size
	tokenLen    = (tokenRawLen*8 + 5) / 6 // unpadded base64
)

func (s *Service) mac(id string, size, expMs int64) []byte {
	m := hmac.New(sha256.New, s.cfg.Secret)
	m.Write([]byte("parley media slot v1|" + id + "|" + strconv.FormatInt(size, 10) + "|" + strconv.FormatInt(expMs, 10)))
	return m.Sum(nil)
}

func (s *Service) token(id string, size, expMs int64) string {
	var b [tokenRawLen]byte
	binary.BigEndian.PutUint64(b[0:], uint64(size))
	binary.BigEndian.PutUint64(b[8:], uint64(expMs))
	copy(b[16:], s.mac(id, size, expMs))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// checkToken verifies tok for blob id and returns the slot's size. The MAC
// is compared in constant time before expiry is looked at, so an attacker
// learns nothing from the error besides "not valid".
func (s *Service) checkToken(id, tok string) (int64, error) {
	if len(tok) != tokenLen {
		return 0, fmt.Errorf("%w: length %d", ErrBadToken, len(tok))
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) != tokenRawLen {
		return 0, fmt.Errorf("%w: not base64url", ErrBadToken)
	}
	size := int64(binary.BigEndian.Uint64(b[0:]))
	exp := int64(binary.BigEndian.Uint64(b[8:]))
	if !hmac.Equal(b[16:], s.mac(id, size, exp)) {
		return 0, ErrBadToken
	}
	if s.cfg.Now().UnixMilli() >= exp {
		return 0, ErrExpiredToken
	}
	return size, nil
}

// LoadOrCreateSecret reads the node's media secret from path, or creates a
// fresh 32-byte one (mode 0600) if the file does not exist. Keeping it on
// disk keeps granted slots valid across restarts.
func LoadOrCreateSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("media: secret %s: %d bytes, want 32", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("media: secret: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("media: secret: %w", err)
	}
	if err := secretfile.WriteNew(path, b); err != nil {
		return nil, fmt.Errorf("media: secret: %w", err)
	}
	return b, nil
}
