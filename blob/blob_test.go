package blob

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestValidKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{"AZaz09-_", true},
		{strings.Repeat("x", MaxKeyLen), true},
		{"", false},
		{strings.Repeat("x", MaxKeyLen+1), false},
		{"..", false},
		{"../x", false},
		{"a/b", false},
		{"a\\b", false},
		{"a.b", false},
		{"a b", false},
		{"a\x00", false},
		{"ü", false},
	} {
		err := ValidKey(tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("ValidKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, not ErrInvalidKey", tc.key, err)
		}
	}
	if ValidPrefix("") != nil || ValidPrefix("ab") != nil || ValidPrefix("a/") == nil {
		t.Error("ValidPrefix: empty and key-like prefixes pass, others fail")
	}
}

func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"a", "../etc/passwd", "a.b", "x/y", strings.Repeat("k", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidKey(key) != nil {
			return
		}
		if len(key) == 0 || len(key) > MaxKeyLen || strings.ContainsAny(key, "./\\") {
			t.Fatalf("accepted %q", key)
		}
		for _, r := range key {
			if r > 127 {
				t.Fatalf("accepted non-ASCII %q", key)
			}
		}
	})
}

func TestClampRange(t *testing.T) {
	for _, tc := range []struct {
		size, off, length, want int64
		err                     bool
	}{
		{100, 0, -1, 100, false},
		{100, 10, 20, 20, false},
		{100, 90, 20, 10, false},
		{100, 100, -1, 0, false},
		{0, 0, -1, 0, false},
		{100, 101, -1, 0, true},
		{100, -1, 5, 0, true},
		{100, 0, -2, 0, true},
	} {
		n, err := ClampRange(tc.size, tc.off, tc.length)
		if (err != nil) != tc.err || n != tc.want {
			t.Errorf("ClampRange(%d, %d, %d) = %d, %v; want %d, err=%v", tc.size, tc.off, tc.length, n, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, ErrInvalidRange) {
			t.Errorf("error %v is not ErrInvalidRange", err)
		}
	}
}

func TestExactReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    string
		size    int64
		wantErr error
	}{
		{"exact", "hello", 5, nil},
		{"empty", "", 0, nil},
		{"unknown", "anything", -1, nil},
		{"short", "hell", 5, ErrSizeMismatch},
		{"long", "hello!", 5, ErrSizeMismatch},
		{"long-empty", "x", 0, ErrSizeMismatch},
	} {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{
			{"plain", func(r io.Reader) io.Reader { return r }},
			{"one-byte", iotest.OneByteReader},
			{"data-err", iotest.DataErrReader},
		} {
			t.Run(tc.name+"/"+wrap.name, func(t *testing.T) {
				got, err := io.ReadAll(ExactReader(wrap.f(strings.NewReader(tc.data)), tc.size))
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if tc.wantErr == nil && string(got) != tc.data {
					t.Fatalf("read %q, want %q", got, tc.data)
				}
			})
		}
	}
	// A consumer that stops after exactly size bytes (an HTTP body with a
	// Content-Length) must still see the excess.
	r := ExactReader(strings.NewReader("hello!"), 5)
	buf := make([]byte, 5)
	if _, err := io.ReadFull(r, buf); !errors.Is(err, ErrSizeMismatch) {
		t.Fatalf("ReadFull of the declared size = %v, want ErrSizeMismatch", err)
	}
	// A reader's own failure passes through unchanged.
	boom := errors.New("boom")
	if _, err := io.ReadAll(ExactReader(iotest.ErrReader(boom), 5)); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
}
