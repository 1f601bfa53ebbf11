package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/parley-im/parley/store"
)

// Values are encoded in a small versioned binary format rather than JSON or
// protobuf: queue entries are the hot path, and the other records are few
// and fixed. Every record starts with a format version byte; decoders reject
// unknown versions, trailing bytes, oversized fields and short input.
const (
	formatV1 = 1

	// maxKeyBytes bounds one stored key blob (public keys, signatures,
	// identity keys). ML-KEM-1024 public keys are 1568 bytes; 8 KiB leaves room.
	maxKeyBytes = 8 << 10
)

var errCorrupt = errors.New("corrupt record")

// zeroTime encodes time.Time{}: no real timestamp is this early (year 1677).
const zeroTime = math.MinInt64

func timeNanos(t time.Time) int64 {
	if t.IsZero() {
		return zeroTime
	}
	return t.UnixNano()
}

func nanosTime(n int64) time.Time {
	if n == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

type enc struct{ b []byte }

func newEnc(size int) *enc {
	e := &enc{b: make([]byte, 0, size+1)}
	e.b = append(e.b, formatV1)
	return e
}
func (e *enc) u8(v byte)        { e.b = append(e.b, v) }
func (e *enc) u32(v uint32)     { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *enc) i64(v int64)      { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }
func (e *enc) time(t time.Time) { e.i64(timeNanos(t)) }
func (e *enc) bytes(v []byte)   { e.b = append(binary.AppendUvarint(e.b, uint64(len(v))), v...) }
func (e *enc) str(v string)     { e.b = append(binary.AppendUvarint(e.b, uint64(len(v))), v...) }
func (e *enc) flag(v bool)      { e.u8(boolByte(v)) }
func (e *enc) fixed(v []byte)   { e.b = append(e.b, v...) }
func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// dec reads fields in order; the first error sticks and later reads return
// zero values, so decoders check err once at the end.
type dec struct {
	b   []byte
	err error
}

func newDec(kind string, b []byte) *dec {
	d := &dec{b: b}
	if len(b) == 0 {
		d.err = fmt.Errorf("%s: empty: %w", kind, errCorrupt)
	} else if b[0] != formatV1 {
		d.err = fmt.Errorf("%s: unknown format version %d: %w", kind, b[0], errCorrupt)
	} else {
		d.b = b[1:]
	}
	return d
}

func (d *dec) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %w", what, errCorrupt)
	}
}

func (d *dec) take(n int, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.fail("short " + what)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) u8(what string) byte {
	v := d.take(1, what)
	if v == nil {
		return 0
	}
	return v[0]
}

func (d *dec) u32(what string) uint32 {
	v := d.take(4, what)
	if v == nil {
		return 0
	}
	return binary.BigEndian.Uint32(v)
}

func (d *dec) i64(what string) int64 {
	v := d.take(8, what)
	if v == nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

func (d *dec) time(what string) time.Time { return nanosTime(d.i64(what)) }

func (d *dec) flag(what string) bool {
	switch d.u8(what) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad flag " + what)
	return false
}

func (d *dec) bytes(what string, max int) []byte {
	if d.err != nil {
		return nil
	}
	n, w := binary.Uvarint(d.b)
	if w <= 0 || n > uint64(max) {
		d.fail("bad length of " + what)
		return nil
	}
	d.b = d.b[w:]
	v := d.take(int(n), what)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

func (d *dec) str(what string, max int) string { return string(d.bytes(what, max)) }

func (d *dec) done(kind string) error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%d trailing bytes: %w", len(d.b), errCorrupt)
	}
	if d.err != nil {
		return fmt.Errorf("decode %s: %w", kind, d.err)
	}
	return nil
}

func encodeAccount(a store.Account) []byte {
	e := newEnc(len(a.Handle) + 16)
	e.str(a.Handle)
	e.time(a.CreatedAt)
	e.flag(a.Disabled)
	return e.b
}

func decodeAccount(b []byte) (store.Account, error) {
	d := newDec("account", b)
	a := store.Account{
		Handle:    d.str("handle", maxNameLen),
		CreatedAt: d.time("created"),
		Disabled:  d.flag("disabled"),
	}
	return a, d.done("account")
}

func encodeDevice(v store.Device) []byte {
	e := newEnc(len(v.Address.User) + len(v.IdentityKey) + 64)
	e.str(v.Address.User)
	e.u32(v.Address.Device)
	e.fixed(v.NoiseKey[:])
	e.u32(v.RegistrationID)
	e.bytes(v.IdentityKey)
	e.time(v.CreatedAt)
	e.flag(v.Disabled)
	return e.b
}

func decodeDevice(b []byte) (store.Device, error) {
	d := newDec("device", b)
	var v store.Device
	v.Address.User = d.str("user", maxNameLen)
	v.Address.Device = d.u32("device id")
	copy(v.NoiseKey[:], d.take(32, "noise key"))
	v.RegistrationID = d.u32("registration id")
	v.IdentityKey = d.bytes("identity key", maxKeyBytes)
	v.CreatedAt = d.time("created")
	v.Disabled = d.flag("disabled")
	return v, d.done("device")
}

// keyRecord is the stored shape of every prekey kind: one-time prekeys
// simply have no signature.
type keyRecord struct {
	ID        uint32
	PublicKey []byte
	Signature []byte
}

func encodeKey(k keyRecord) []byte {
	e := newEnc(len(k.PublicKey) + len(k.Signature) + 12)
	e.u32(k.ID)
	e.bytes(k.PublicKey)
	e.bytes(k.Signature)
	return e.b
}

func decodeKey(b []byte) (keyRecord, error) {
	d := newDec("prekey", b)
	k := keyRecord{
		ID:        d.u32("id"),
		PublicKey: d.bytes("public key", maxKeyBytes),
		Signature: d.bytes("signature", maxKeyBytes),
	}
	return k, d.done("prekey")
}

func encodeInvite(inv store.Invite) []byte {
	e := newEnc(len(inv.Code) + len(inv.UsedBy) + 24)
	e.str(inv.Code)
	e.time(inv.CreatedAt)
	e.time(inv.ExpiresAt)
	e.str(inv.UsedBy)
	e.flag(inv.Revoked)
	return e.b
}

func decodeInvite(b []byte) (store.Invite, error) {
	d := newDec("invite", b)
	inv := store.Invite{
		Code:      d.str("code", maxNameLen),
		CreatedAt: d.time("created"),
		ExpiresAt: d.time("expires"),
		UsedBy:    d.str("used by", maxNameLen),
		Revoked:   d.flag("revoked"),
	}
	return inv, d.done("invite")
}

// An entry value is version | expires (8) | payload; the device and seq are
// in the key. The payload is last and unprefixed so a reader can skip it.
const entryHeader = 1 + 8

func encodeEntry(expires time.Time, payload []byte) []byte {
	e := newEnc(8 + len(payload))
	e.time(expires)
	e.fixed(payload)
	return e.b
}

// decodeEntryExpiry reads only the header, for scans that filter by expiry.
func decodeEntryExpiry(b []byte) (time.Time, error) {
	if len(b) < entryHeader || b[0] != formatV1 {
		return time.Time{}, fmt.Errorf("decode entry: %w", errCorrupt)
	}
	return nanosTime(int64(binary.BigEndian.Uint64(b[1:]))), nil
}

// decodeEntry copies the payload: b usually belongs to an iterator.
func decodeEntry(b []byte, maxPayload int) (expires time.Time, payload []byte, err error) {
	expires, err = decodeEntryExpiry(b)
	if err != nil {
		return time.Time{}, nil, err
	}
	if len(b)-entryHeader > maxPayload {
		return time.Time{}, nil, fmt.Errorf("decode entry: payload of %d bytes over %d: %w", len(b)-entryHeader, maxPayload, errCorrupt)
	}
	return expires, append([]byte{}, b[entryHeader:]...), nil
}

func encodeSeq(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

func decodeSeq(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("decode seq counter: %d bytes: %w", len(b), errCorrupt)
	}
	return binary.BigEndian.Uint64(b), nil
}
