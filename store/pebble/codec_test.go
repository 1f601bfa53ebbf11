package pebble

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

var (
	codecTime = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	codecDev  = store.Device{
		Address:        protocol.Address{User: "alice", Device: 3},
		NoiseKey:       [32]byte{1, 2, 3, 31: 0xff},
		RegistrationID: 4242,
		IdentityKey:    []byte("identity"),
		CreatedAt:      codecTime,
		Disabled:       true,
	}
)

func TestCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		enc  func(any) []byte
		dec  func([]byte) (any, error)
	}{
		{"Account", store.Account{Handle: "alice", CreatedAt: codecTime, Disabled: true},
			func(v any) []byte { return encodeAccount(v.(store.Account)) },
			func(b []byte) (any, error) { return decodeAccount(b) }},
		{"AccountZeroTime", store.Account{Handle: "bob"},
			func(v any) []byte { return encodeAccount(v.(store.Account)) },
			func(b []byte) (any, error) { return decodeAccount(b) }},
		{"Device", codecDev,
			func(v any) []byte { return encodeDevice(v.(store.Device)) },
			func(b []byte) (any, error) { return decodeDevice(b) }},
		{"Key", keyRecord{ID: 7, PublicKey: []byte("pk"), Signature: []byte("sig")},
			func(v any) []byte { return encodeKey(v.(keyRecord)) },
			func(b []byte) (any, error) { return decodeKey(b) }},
		{"KeyNoSignature", keyRecord{ID: 8, PublicKey: []byte("pk")},
			func(v any) []byte { return encodeKey(v.(keyRecord)) },
			func(b []byte) (any, error) { return decodeKey(b) }},
		{"Invite", store.Invite{Code: "abc", CreatedAt: codecTime, ExpiresAt: codecTime.Add(time.Hour), UsedBy: "zoe", Revoked: true},
			func(v any) []byte { return encodeInvite(v.(store.Invite)) },
			func(b []byte) (any, error) { return decodeInvite(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.enc(tc.in)
			got, err := tc.dec(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.in) {
				t.Fatalf("round trip = %+v, want %+v", got, tc.in)
			}
			for _, bad := range [][]byte{nil, {2}, b[:len(b)-1], append(slices.Clone(b), 0)} {
				if _, err := tc.dec(bad); !errors.Is(err, errCorrupt) {
					t.Fatalf("decode(%x) = %v, want errCorrupt", bad, err)
				}
			}
		})
	}
}

func TestEntryCodec(t *testing.T) {
	for _, exp := range []time.Time{{}, codecTime, time.Unix(0, 0).UTC(), time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)} {
		b := encodeEntry(exp, []byte("payload"))
		gotExp, payload, err := decodeEntry(b, 100)
		if err != nil || !gotExp.Equal(exp) || gotExp.IsZero() != exp.IsZero() || string(payload) != "payload" {
			t.Fatalf("decodeEntry(encode(%v)) = %v %q %v", exp, gotExp, payload, err)
		}
	}
	if _, _, err := decodeEntry(encodeEntry(time.Time{}, make([]byte, 101)), 100); !errors.Is(err, errCorrupt) {
		t.Fatalf("oversized payload: %v, want errCorrupt", err)
	}
	if _, _, err := decodeEntry([]byte{formatV1, 0, 0}, 100); !errors.Is(err, errCorrupt) {
		t.Fatalf("short entry: %v, want errCorrupt", err)
	}
}

// TestKeyOrder checks the layout properties the queue and expiry scans rely on.
func TestKeyOrder(t *testing.T) {
	bob := protocol.Address{User: "bob", Device: 1}
	bobby := protocol.Address{User: "bobby", Device: 1}
	bob2 := protocol.Address{User: "bob", Device: 2}
	lo, hi := queueRange(bob, 0)
	for _, tc := range []struct {
		name string
		key  []byte
		in   bool
	}{
		{"FirstSeq", queueKey(bob, 1), true},
		{"LastSeq", queueKey(bob, ^uint64(0)), true},
		{"Seq0", queueKey(bob, 0), false},
		{"OtherDevice", queueKey(bob2, 1), false},
		{"LongerName", queueKey(bobby, 1), false},
		{"Counter", addrKey(pSeq, bob), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if in := bytes.Compare(tc.key, lo) >= 0 && bytes.Compare(tc.key, hi) < 0; in != tc.in {
				t.Fatalf("key %x in bob's queue range: %v, want %v", tc.key, in, tc.in)
			}
		})
	}
	if bytes.Compare(queueKey(bob, 255), queueKey(bob, 256)) >= 0 {
		t.Fatal("queue keys are not ordered by seq")
	}
	times := []int64{-5e18, -1, 0, 1, 5e18}
	for i := 1; i < len(times); i++ {
		if bytes.Compare(expiryKey(times[i-1], bobby, 9), expiryKey(times[i], bob, 1)) >= 0 {
			t.Fatalf("expiry %d does not sort before %d", times[i-1], times[i])
		}
	}
	_, ehi := expiredRange(100)
	if bytes.Compare(expiryKey(99, bob, 1), ehi) >= 0 || bytes.Compare(expiryKey(100, bob, 1), ehi) < 0 {
		t.Fatal("expiredRange(100) must hold expiry 99 and not 100")
	}
	a, seq, err := decodeExpiryKey(expiryKey(42, bob2, 77))
	if err != nil || a != bob2 || seq != 77 {
		t.Fatalf("decodeExpiryKey = %v %d %v", a, seq, err)
	}
}
