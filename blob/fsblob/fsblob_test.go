package fsblob

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/blob"
	"github.com/parley-im/parley/blob/blobtest"
)

func newStore(tb testing.TB) blob.Backend {
	s, err := New(filepath.Join(tb.TempDir(), DefaultSubdir))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { blobtest.Run(t, newStore) }

func BenchmarkStore(b *testing.B) { blobtest.Benchmark(b, newStore) }

// TestNothingOutsideRoot checks that a store writes only under its
// directory and cleans its temporary files, whatever keys it was given.
func TestNothingOutsideRoot(t *testing.T) {
	parent := t.TempDir()
	s, err := New(filepath.Join(parent, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_ = s.Put(ctx, "../escape", strings.NewReader("x"), 1)
	if err := s.Put(ctx, "ok", strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	_ = s.Put(ctx, "bad", strings.NewReader("xx"), 1) // size mismatch
	entries, _ := os.ReadDir(parent)
	if len(entries) != 1 || entries[0].Name() != "blobs" {
		t.Fatalf("parent holds %v, want only blobs/", entries)
	}
	tmp, _ := os.ReadDir(filepath.Join(parent, "blobs", "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("tmp/ holds %d leftovers", len(tmp))
	}
}

// TestResumeAfterRestart reopens the directory between appends, as a node
// restart would, and finishes the upload.
func TestResumeAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s1, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.CreateUpload(ctx, "k", 6); err != nil {
		t.Fatal(err)
	}
	if off, err := s1.AppendUpload(ctx, "k", 0, strings.NewReader("abc")); err != nil || off != 3 {
		t.Fatalf("append = %d, %v", off, err)
	}
	s2, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s2.UploadStatus(ctx, "k")
	if err != nil || st.Offset != 3 || st.Size != 6 {
		t.Fatalf("after restart: %+v, %v", st, err)
	}
	if off, err := s2.AppendUpload(ctx, "k", 3, strings.NewReader("def")); err != nil || off != 6 {
		t.Fatalf("append = %d, %v", off, err)
	}
	if info, err := s2.Stat(ctx, "k"); err != nil || info.Size != 6 {
		t.Fatalf("Stat = %+v, %v", info, err)
	}
}

func FuzzParseMeta(f *testing.F) {
	f.Add([]byte("12 1700000000000000000\n"))
	f.Add([]byte("0 0"))
	f.Add([]byte("-1 5"))
	f.Add([]byte("1 2 3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		size, created, err := parseMeta(b)
		if err != nil {
			return
		}
		if size < 0 || created.UnixNano() < 0 {
			t.Fatalf("accepted negative values from %q", b)
		}
		s2, c2, err := parseMeta([]byte(formatMeta(size, created)))
		if err != nil || s2 != size || !c2.Equal(created) {
			t.Fatalf("round trip of %q failed", b)
		}
	})
}
