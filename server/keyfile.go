package server

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/parley-im/parley/internal/secretfile"
	"github.com/parley-im/parley/transport"
)

// File names inside DataDir.
const (
	keyFile       = "node.key"
	tokenFile     = "admin.token"
	adminAddrFile = "admin.addr"
	storeDir      = "store"
)

// loadOrCreateKey reads the node's Noise key, creating it (0600, text form)
// on first start. The key is the node's identity: clients pin it, so it is
// never silently replaced.
func loadOrCreateKey(dir string) (transport.StaticKey, error) {
	path := filepath.Join(dir, keyFile)
	var k transport.StaticKey
	b, err := os.ReadFile(path)
	if err == nil {
		if err := k.UnmarshalText(bytes.TrimSpace(b)); err != nil {
			return k, fmt.Errorf("server: node key %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return k, fmt.Errorf("server: node key: %w", err)
	}
	k, err = transport.GenerateStaticKey(rand.Reader)
	if err != nil {
		return k, fmt.Errorf("server: generate node key: %w", err)
	}
	text, err := k.MarshalText()
	if err != nil {
		return k, fmt.Errorf("server: node key: %w", err)
	}
	if err := secretfile.WriteNew(path, append(text, '\n')); err != nil {
		return k, err
	}
	return k, nil
}

// loadOrCreateToken reads the admin bearer token, creating it on first start.
func loadOrCreateToken(dir string) (string, error) {
	path := filepath.Join(dir, tokenFile)
	b, err := os.ReadFile(path)
	if err == nil {
		t := string(bytes.TrimSpace(b))
		if len(t) < 16 {
			return "", fmt.Errorf("server: admin token %s: too short", path)
		}
		return t, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("server: admin token: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("server: admin token: %w", err)
	}
	t := base64.RawURLEncoding.EncodeToString(raw)
	if err := secretfile.WriteNew(path, []byte(t+"\n")); err != nil {
		return "", err
	}
	return t, nil
}

// ReadAdminToken and ReadAdminAddr let `parley admin --data DIR` find a
// local node's admin API without copying secrets around.
func ReadAdminToken(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, tokenFile))
	if err != nil {
		return "", fmt.Errorf("server: admin token: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

// ReadAdminAddr returns the admin address the node last bound in dataDir.
func ReadAdminAddr(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, adminAddrFile))
	if err != nil {
		return "", fmt.Errorf("server: admin address: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}
