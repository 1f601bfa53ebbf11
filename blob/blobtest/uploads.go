package blobtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/blob"
)

func testUploadResume(t *testing.T, s blob.Backend) {
	ctx := context.Background()
	const key = "resumable"
	size := int64(12*mib + 3)
	data := genBytes(9, int(size))
	if err := s.CreateUpload(ctx, key, size); err != nil {
		t.Fatalf("CreateUpload: %v", err)
	}
	st, err := s.UploadStatus(ctx, key)
	if err != nil || st.Offset != 0 || st.Size != size || st.Key != key || time.Since(st.Created) > time.Minute {
		t.Fatalf("UploadStatus = %+v, %v; want offset 0, size %d, created now", st, err, size)
	}

	// Chunks of awkward sizes, with dropped connections in between: every
	// byte that reached the store before the drop counts.
	type step struct {
		chunk   int64 // bytes the client sends
		dropped bool  // the connection fails after chunk bytes
	}
	off := int64(0)
	for i, sp := range []step{
		{1000, false},
		{3 * mib, true},
		{2*mib + 17, false},
		{1, true},
		{6 * mib, true},
		{4 * mib, false}, // more than is missing: only the rest is read
	} {
		var r io.Reader = bytes.NewReader(data[off:min(off+sp.chunk, size)])
		if sp.dropped {
			r = &failingReader{r: r, left: min(sp.chunk, size-off)}
		}
		want := min(off+sp.chunk, size)
		got, err := s.AppendUpload(ctx, key, off, r)
		if sp.dropped && got < size && err == nil {
			t.Fatalf("step %d: dropped connection reported no error", i)
		}
		if !sp.dropped && err != nil {
			t.Fatalf("step %d: AppendUpload: %v", i, err)
		}
		if got != want {
			t.Fatalf("step %d: offset %d, want %d", i, got, want)
		}
		if got < size {
			if st, err := s.UploadStatus(ctx, key); err != nil || st.Offset != got {
				t.Fatalf("step %d: UploadStatus = %+v, %v; want offset %d", i, st, err, got)
			}
			assertNotFound(t, s, key) // not visible before complete
			if _, err := s.AppendUpload(ctx, key, got-1, strings.NewReader("x")); !errors.Is(err, blob.ErrOffsetMismatch) {
				t.Fatalf("step %d: append at a stale offset = %v, want ErrOffsetMismatch", i, err)
			}
		}
		off = got
	}
	if off != size {
		t.Fatalf("finished at %d, want %d", off, size)
	}
	if _, err := s.UploadStatus(ctx, key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("UploadStatus after finish = %v, want ErrNotFound", err)
	}
	got, info := readAll(t, s, key, 0, -1)
	if info.Size != size || !bytes.Equal(got, data) {
		t.Fatalf("finished blob: %d bytes (equal %v), want %d", len(got), bytes.Equal(got, data), size)
	}
	if err := s.Put(ctx, key, strings.NewReader("x"), 1); !errors.Is(err, blob.ErrExists) {
		t.Fatalf("Put over a finished upload = %v, want ErrExists", err)
	}
}

func testUploadEdges(t *testing.T, s blob.Backend) {
	ctx := context.Background()
	t.Run("empty", func(t *testing.T) {
		if err := s.CreateUpload(ctx, "up-empty", 0); err != nil {
			t.Fatal(err)
		}
		if off, err := s.AppendUpload(ctx, "up-empty", 0, strings.NewReader("ignored")); err != nil || off != 0 {
			t.Fatalf("AppendUpload = %d, %v; want 0, nil", off, err)
		}
		if got, info := readAll(t, s, "up-empty", 0, -1); len(got) != 0 || info.Size != 0 {
			t.Fatalf("empty upload became %d bytes", len(got))
		}
	})
	t.Run("single-append", func(t *testing.T) {
		if err := s.CreateUpload(ctx, "up-one", 5); err != nil {
			t.Fatal(err)
		}
		if off, err := s.AppendUpload(ctx, "up-one", 0, strings.NewReader("hello")); err != nil || off != 5 {
			t.Fatalf("AppendUpload = %d, %v; want 5, nil", off, err)
		}
		if got, _ := readAll(t, s, "up-one", 0, -1); string(got) != "hello" {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("exists", func(t *testing.T) {
		mustPut(t, s, "up-taken", []byte("x"))
		if err := s.CreateUpload(ctx, "up-taken", 1); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("CreateUpload over a blob = %v, want ErrExists", err)
		}
		if err := s.CreateUpload(ctx, "up-twice", 1); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateUpload(ctx, "up-twice", 1); !errors.Is(err, blob.ErrExists) {
			t.Fatalf("second CreateUpload = %v, want ErrExists", err)
		}
	})
	t.Run("invalid-size", func(t *testing.T) {
		if err := s.CreateUpload(ctx, "up-neg", -1); !errors.Is(err, blob.ErrInvalidSize) {
			t.Fatalf("CreateUpload(-1) = %v, want ErrInvalidSize", err)
		}
	})
	t.Run("abort", func(t *testing.T) {
		if err := s.AbortUpload(ctx, "up-never"); err != nil {
			t.Fatalf("abort of a missing upload = %v", err)
		}
		if err := s.CreateUpload(ctx, "up-abort", 10*mib); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AppendUpload(ctx, "up-abort", 0, newGen(2, 6*mib)); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if err := s.AbortUpload(ctx, "up-abort"); err != nil {
				t.Fatalf("AbortUpload: %v", err)
			}
		}
		if _, err := s.UploadStatus(ctx, "up-abort"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("UploadStatus after abort = %v, want ErrNotFound", err)
		}
		if _, err := s.AppendUpload(ctx, "up-abort", 6*mib, newGen(2, 1)); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("AppendUpload after abort = %v, want ErrNotFound", err)
		}
		assertNotFound(t, s, "up-abort")
		// The key is free again.
		if err := s.CreateUpload(ctx, "up-abort", 1); err != nil {
			t.Fatalf("CreateUpload after abort: %v", err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		if _, err := s.UploadStatus(ctx, "up-none"); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("UploadStatus = %v, want ErrNotFound", err)
		}
		if _, err := s.AppendUpload(ctx, "up-none", 0, strings.NewReader("x")); !errors.Is(err, blob.ErrNotFound) {
			t.Fatalf("AppendUpload = %v, want ErrNotFound", err)
		}
	})
	t.Run("list", func(t *testing.T) {
		got := map[string]blob.UploadInfo{}
		if err := s.ListUploads(ctx, func(u blob.UploadInfo) error { got[u.Key] = u; return nil }); err != nil {
			t.Fatal(err)
		}
		// Left pending by the subtests above: up-twice (1 B), up-abort (1 B).
		for _, k := range []string{"up-twice", "up-abort"} {
			u, ok := got[k]
			if !ok || u.Size != 1 || time.Since(u.Created) > time.Minute {
				t.Errorf("ListUploads: %s = %+v (present %v), want size 1, created now", k, u, ok)
			}
		}
		for _, k := range []string{"up-one", "up-empty", "up-never"} {
			if _, ok := got[k]; ok {
				t.Errorf("ListUploads shows %s, which is finished or never existed", k)
			}
		}
		if len(got) != 2 {
			t.Errorf("ListUploads = %d uploads, want 2: %v", len(got), got)
		}
	})
}
