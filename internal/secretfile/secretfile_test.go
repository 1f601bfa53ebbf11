package secretfile

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	if err := WriteNew(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if err := WriteNew(path, []byte("two")); err == nil {
		t.Fatal("second WriteNew overwrote the file")
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, []byte("one")) {
		t.Fatalf("content %q, want the first write", b)
	}
}
