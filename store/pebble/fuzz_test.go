package pebble

import (
	"reflect"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// Each decoder must reject or accept any input without panicking, and what
// it accepts must survive a re-encode unchanged.

func FuzzDecodeAccount(f *testing.F) {
	f.Add(encodeAccount(store.Account{Handle: "alice", CreatedAt: codecTime}))
	f.Add([]byte{formatV1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeAccount(b)
		if err != nil {
			return
		}
		if again, err := decodeAccount(encodeAccount(a)); err != nil || !reflect.DeepEqual(again, a) {
			t.Fatalf("re-encode of %+v: %+v %v", a, again, err)
		}
	})
}

func FuzzDecodeDevice(f *testing.F) {
	f.Add(encodeDevice(codecDev))
	f.Add(encodeDevice(store.Device{Address: protocol.Address{User: "b", Device: 1}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeDevice(b)
		if err != nil {
			return
		}
		if again, err := decodeDevice(encodeDevice(d)); err != nil || !reflect.DeepEqual(again, d) {
			t.Fatalf("re-encode of %+v: %+v %v", d, again, err)
		}
	})
}

func FuzzDecodeKey(f *testing.F) {
	f.Add(encodeKey(keyRecord{ID: 7, PublicKey: []byte("pk"), Signature: []byte("sig")}))
	f.Add(encodeKey(keyRecord{ID: 1, PublicKey: make([]byte, 1568)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodeKey(b)
		if err != nil {
			return
		}
		if again, err := decodeKey(encodeKey(k)); err != nil || !reflect.DeepEqual(again, k) {
			t.Fatalf("re-encode of %+v: %+v %v", k, again, err)
		}
	})
}

func FuzzDecodeInvite(f *testing.F) {
	f.Add(encodeInvite(store.Invite{Code: "abc", CreatedAt: codecTime, UsedBy: "zoe", Revoked: true}))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := decodeInvite(b)
		if err != nil {
			return
		}
		if again, err := decodeInvite(encodeInvite(inv)); err != nil || !reflect.DeepEqual(again, inv) {
			t.Fatalf("re-encode of %+v: %+v %v", inv, again, err)
		}
	})
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(codecTime, []byte("payload")))
	f.Add(encodeEntry(time.Time{}, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		exp, payload, err := decodeEntry(b, 1<<10)
		if err != nil {
			return
		}
		exp2, payload2, err := decodeEntry(encodeEntry(exp, payload), 1<<10)
		if err != nil || !exp2.Equal(exp) || string(payload2) != string(payload) {
			t.Fatalf("re-encode of %v %q: %v %q %v", exp, payload, exp2, payload2, err)
		}
	})
}

func FuzzDecodeExpiryKey(f *testing.F) {
	f.Add(expiryKey(codecTime.UnixNano(), protocol.Address{User: "bob", Device: 2}, 9))
	f.Add([]byte{pExpiry, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, seq, err := decodeExpiryKey(b)
		if err != nil {
			return
		}
		if a.User == "" || a.Device == 0 {
			t.Fatalf("decoded an invalid address %+v", a)
		}
		if again := expiryKey(0, a, seq); len(again) != len(b) {
			t.Fatalf("key of %d bytes decoded to %v/%d, which encodes to %d bytes", len(b), a, seq, len(again))
		}
	})
}
