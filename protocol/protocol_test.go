package protocol

import (
	"regexp"
	"strings"
	"testing"
)

// handleSpec is the documented rule; ValidateHandle spells it out by hand
// for speed, and these tests hold the two together.
var handleSpec = regexp.MustCompile(`^[a-z][a-z0-9_]{2,31}$`)

func TestValidateHandle(t *testing.T) {
	tests := []struct {
		handle string
		ok     bool
	}{
		{"bob", true},
		{"alice_2", true},
		{"a" + strings.Repeat("b", 31), true},
		{"a" + strings.Repeat("b", 32), false}, // 33 characters
		{"ab", false},
		{"", false},
		{"2bob", false},
		{"_bob", false},
		{"Bob", false},
		{"bob-x", false},
		{"bob x", false},
		{"böb", false},
		{"bob\n", false},
		{"bob:1", false},
	}
	for _, tc := range tests {
		if err := ValidateHandle(tc.handle); (err == nil) != tc.ok {
			t.Errorf("ValidateHandle(%q) = %v, want ok=%v", tc.handle, err, tc.ok)
		}
	}
}

func FuzzValidateHandle(f *testing.F) {
	for _, s := range []string{"bob", "a_1", "Zed", "ab", "abc\x00", strings.Repeat("x", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		if got, want := ValidateHandle(h) == nil, handleSpec.MatchString(h); got != want {
			t.Fatalf("ValidateHandle(%q) ok=%v, the rule says %v", h, got, want)
		}
	})
}

func TestParseAddress(t *testing.T) {
	a, err := ParseAddress("bob.3")
	if err != nil || a.User != "bob" || a.Device != 3 {
		t.Fatalf("ParseAddress(bob.3) = %+v, %v", a, err)
	}
	for _, bad := range []string{"bob", "bob.0", "bob.x", "B.1", ".1", "bob.4294967296"} {
		if _, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) accepted", bad)
		}
	}
}
