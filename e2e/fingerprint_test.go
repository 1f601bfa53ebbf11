package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"regexp"
	"strconv"
	"testing"
)

type libsignalFingerprintVectors struct {
	Iterations    int                          `json:"iterations"`
	AliceIdentity string                       `json:"alice_identity"`
	BobIdentity   string                       `json:"bob_identity"`
	AliceStableID string                       `json:"alice_stable_id"`
	BobStableID   string                       `json:"bob_stable_id"`
	Displayable   string                       `json:"displayable"`
	Scannable     map[string]map[string]string `json:"scannable"`
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustPublicKey(t testing.TB, b []byte) PublicKey {
	t.Helper()
	k, err := ParsePublicKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestFingerprintLibsignalVectors reproduces libsignal's own published
// vectors, which proves both the displayable and the scannable form are
// byte-compatible with Signal's implementation.
func TestFingerprintLibsignalVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/fingerprint_libsignal.json")
	if err != nil {
		t.Fatal(err)
	}
	var v libsignalFingerprintVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	alice := mustPublicKey(t, mustHex(t, v.AliceIdentity))
	bob := mustPublicKey(t, mustHex(t, v.BobIdentity))
	if v.Iterations != FingerprintIterations {
		t.Fatalf("vectors use %d iterations, package %d", v.Iterations, FingerprintIterations)
	}
	for ver, want := range v.Scannable {
		version, _ := strconv.Atoi(ver)
		t.Run("version "+ver, func(t *testing.T) {
			a := newFingerprint(uint32(version), v.Iterations, []byte(v.AliceStableID), alice, []byte(v.BobStableID), bob)
			b := newFingerprint(uint32(version), v.Iterations, []byte(v.BobStableID), bob, []byte(v.AliceStableID), alice)
			if a.Displayable != v.Displayable || b.Displayable != v.Displayable {
				t.Errorf("displayable = %s / %s, want %s", a.Displayable, b.Displayable, v.Displayable)
			}
			if got := hex.EncodeToString(a.Scannable); got != want["alice"] {
				t.Errorf("alice scannable = %s, want %s", got, want["alice"])
			}
			if got := hex.EncodeToString(b.Scannable); got != want["bob"] {
				t.Errorf("bob scannable = %s, want %s", got, want["bob"])
			}
			for _, c := range []struct{ local, scanned Fingerprint }{{a, b}, {b, a}} {
				if ok, err := CompareScannable(c.local, c.scanned.Scannable); !ok || err != nil {
					t.Errorf("CompareScannable = %v, %v; want true", ok, err)
				}
			}
		})
	}
	// The public constructor is the version-2 one.
	a := NewFingerprint([]byte(v.AliceStableID), alice, []byte(v.BobStableID), bob)
	if got := hex.EncodeToString(a.Scannable); got != v.Scannable["2"]["alice"] {
		t.Errorf("NewFingerprint scannable = %s", got)
	}
}

func TestScannableEncoding(t *testing.T) {
	// libsignal's fingerprint_encodings test.
	got := hex.EncodeToString(marshalScannable(2, bytes.Repeat([]byte{0x12}, 32), bytes.Repeat([]byte{0xba}, 32)))
	want := "080212220a20" + string(bytes.Repeat([]byte("12"), 32)) + "1a220a20" + string(bytes.Repeat([]byte("ba"), 32))
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func randomIdentity(t testing.TB) PublicKey {
	t.Helper()
	kp, err := GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return kp.Public
}

func TestFingerprintComparison(t *testing.T) {
	alice, bob, mallory := randomIdentity(t), randomIdentity(t), randomIdentity(t)
	aID, bID := []byte("alice"), []byte("bob")
	fp := func(lid []byte, lk PublicKey, rid []byte, rk PublicKey) Fingerprint {
		return newFingerprint(ScannableFingerprintVersion, 1024, lid, lk, rid, rk)
	}
	aliceView := fp(aID, alice, bID, bob)
	tests := []struct {
		name     string
		scanned  Fingerprint
		wantSame bool
	}{
		{"bob's own view", fp(bID, bob, aID, alice), true},
		{"alice scans her own code", aliceView, false},
		{"man in the middle key", fp(bID, bob, aID, mallory), false},
		{"alice sees mallory as bob", fp(bID, mallory, aID, alice), false},
		{"different identifier", fp([]byte("bob2"), bob, aID, alice), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := CompareScannable(aliceView, tt.scanned.Scannable)
			if err != nil || ok != tt.wantSame {
				t.Fatalf("CompareScannable = %v, %v; want %v", ok, err, tt.wantSame)
			}
			if same := aliceView.Displayable == tt.scanned.Displayable; same != tt.wantSame && tt.name != "alice scans her own code" {
				t.Fatalf("displayable equal = %v, want %v", same, tt.wantSame)
			}
		})
	}
}

func TestFingerprintDisplay(t *testing.T) {
	f := NewFingerprint([]byte("alice"), randomIdentity(t), []byte("bob"), randomIdentity(t))
	if !regexp.MustCompile(`^[0-9]{60}$`).MatchString(f.Displayable) {
		t.Fatalf("Displayable = %q", f.Displayable)
	}
	if !regexp.MustCompile(`^([0-9]{5} ){11}[0-9]{5}$`).MatchString(f.Display()) {
		t.Fatalf("Display = %q", f.Display())
	}
}

func TestCompareScannableErrors(t *testing.T) {
	alice, bob := randomIdentity(t), randomIdentity(t)
	local := NewFingerprint([]byte("a"), alice, []byte("b"), bob)
	remoteV1 := newFingerprint(1, 1024, []byte("b"), bob, []byte("a"), alice)
	half := bytes.Repeat([]byte{1}, 32)
	tests := []struct {
		name    string
		scanned []byte
		want    error
	}{
		{"other version", remoteV1.Scannable, ErrFingerprintVersion},
		{"empty", nil, ErrInvalidFingerprint},
		{"garbage", []byte{0xff, 0xff, 0xff}, ErrInvalidFingerprint},
		{"truncated", local.Scannable[:40], ErrInvalidFingerprint},
		{"short half", marshalScannable(2, half[:31], half), ErrInvalidFingerprint},
		{"missing remote", local.Scannable[:36], ErrInvalidFingerprint},
		{"oversized", make([]byte, 2000), ErrInvalidFingerprint},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := CompareScannable(local, tt.scanned)
			if ok || !errors.Is(err, tt.want) {
				t.Fatalf("CompareScannable = %v, %v; want false, %v", ok, err, tt.want)
			}
		})
	}
}

func FuzzParseScannable(f *testing.F) {
	f.Add(marshalScannable(2, bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)))
	f.Add([]byte{0x08, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, l, r, err := parseScannable(b)
		if err != nil {
			return
		}
		if len(l) != 32 || len(r) != 32 {
			t.Fatalf("accepted halves of %d and %d bytes", len(l), len(r))
		}
		// Anything accepted re-encodes to a form that parses the same.
		v2, l2, r2, err := parseScannable(marshalScannable(v, l, r))
		if err != nil || v2 != v || !bytes.Equal(l, l2) || !bytes.Equal(r, r2) {
			t.Fatalf("re-encoding changed the fingerprint: %v", err)
		}
	})
}

func BenchmarkNewFingerprint(b *testing.B) {
	alice, bob := randomIdentity(b), randomIdentity(b)
	for b.Loop() {
		NewFingerprint([]byte("alice"), alice, []byte("bob"), bob)
	}
}
