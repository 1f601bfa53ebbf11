package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/parley-im/parley/client/storage"
)

// Run runs the suite; open returns a fresh, empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) storage.Storage) {
	ctx := context.Background()
	t.Run("GetMissing", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, []byte("nope")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get missing = %v, want ErrNotFound", err)
		}
	})
	t.Run("SetGetDelete", func(t *testing.T) {
		s := open(t)
		if err := storage.Set(ctx, s, []byte("k"), []byte("v1")); err != nil {
			t.Fatal(err)
		}
		if err := storage.Set(ctx, s, []byte("k"), []byte("v2")); err != nil {
			t.Fatal(err)
		}
		got, err := s.Get(ctx, []byte("k"))
		if err != nil || string(got) != "v2" {
			t.Fatalf("Get = %q, %v; want v2", got, err)
		}
		got[0] = 'X' // the caller owns the copy
		if again, _ := s.Get(ctx, []byte("k")); string(again) != "v2" {
			t.Fatalf("Get returned an alias: %q", again)
		}
		if err := storage.Delete(ctx, s, []byte("k")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, []byte("k")); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("after Delete: %v", err)
		}
		if err := storage.Set(ctx, s, []byte("empty"), nil); err != nil {
			t.Fatal(err)
		}
		if v, err := s.Get(ctx, []byte("empty")); err != nil || len(v) != 0 {
			t.Fatalf("empty value: %q, %v", v, err)
		}
	})
	t.Run("BatchAtomicOrder", func(t *testing.T) {
		s := open(t)
		var b storage.Batch
		b.Set([]byte("a"), []byte("1"))
		b.Set([]byte("b"), []byte("2"))
		b.Delete([]byte("a"))
		b.Set([]byte("c"), []byte("3"))
		if err := s.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
		if got := keys(t, s, "", false); got != "b=2,c=3" {
			t.Fatalf("after batch: %s", got)
		}
	})
	t.Run("ScanPrefixOrder", func(t *testing.T) {
		s := open(t)
		var b storage.Batch
		for _, k := range []string{"h/bob/2", "h/bob/1", "h/bobby/1", "h/bo", "i/x", "h/bob/10"} {
			b.Set([]byte(k), []byte("v"))
		}
		b.Set([]byte{0xff, 0xff}, []byte("edge"))
		if err := s.Apply(ctx, &b); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			prefix  string
			reverse bool
			want    string
		}{
			{"h/bob/", false, "h/bob/1=v,h/bob/10=v,h/bob/2=v"},
			{"h/bob/", true, "h/bob/2=v,h/bob/10=v,h/bob/1=v"},
			{"h/bob", false, "h/bob/1=v,h/bob/10=v,h/bob/2=v,h/bobby/1=v"},
			{"z", false, ""},
			{"\xff", false, "\xff\xff=edge"},
		}
		for _, tt := range tests {
			if got := keys(t, s, tt.prefix, tt.reverse); got != tt.want {
				t.Errorf("Scan(%q, reverse=%v) = %s, want %s", tt.prefix, tt.reverse, got, tt.want)
			}
		}
	})
	t.Run("ScanStop", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			if err := storage.Set(ctx, s, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		err := s.Scan(ctx, []byte("k"), false, func(k, v []byte) error {
			n++
			if n == 2 {
				return storage.ErrStop
			}
			return nil
		})
		if err != nil || n != 2 {
			t.Fatalf("stop: n=%d err=%v", n, err)
		}
		boom := errors.New("boom")
		if err := s.Scan(ctx, []byte("k"), false, func(k, v []byte) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("callback error not returned: %v", err)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		s := open(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, []byte("k")); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("Get after Close: %v", err)
		}
		if err := storage.Set(ctx, s, []byte("k"), []byte("v")); !errors.Is(err, storage.ErrClosed) {
			t.Fatalf("Apply after Close: %v", err)
		}
	})
}

func keys(t *testing.T, s storage.Storage, prefix string, reverse bool) string {
	t.Helper()
	var buf bytes.Buffer
	err := s.Scan(context.Background(), []byte(prefix), reverse, func(k, v []byte) error {
		if buf.Len() > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, "%s=%s", k, v)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.String()
}
