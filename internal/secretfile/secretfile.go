// Package secretfile writes the node's small secret files (its Noise key,
// the admin token, the media secret): owner-only, synced, and never over an
// existing file, so two nodes started on one directory cannot replace each
// other's secrets. It owns nothing else.
package secretfile

import (
	"fmt"
	"os"
)

// WriteNew creates path with mode 0600, writes b and syncs it. It fails if
// path already exists.
func WriteNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}
