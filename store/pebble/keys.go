package pebble

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/parley-im/parley/protocol"
)

// Key prefixes: one byte per kind, so every kind is its own ordered range.
// They are part of the on-disk format; never renumber one.
const (
	pAccount    = 'a' // a | handle                       → account
	pDevice     = 'd' // d | addr                         → device
	pNoiseKey   = 'n' // n | noise key (32)               → addr (index for DeviceByKey)
	pSignedPre  = 's' // s | addr                         → signed prekey
	pLastResort = 'l' // l | addr                         → last-resort KEM prekey
	pPreKey     = 'o' // o | addr | id (4, BE)            → one-time prekey
	pKEMPreKey  = 'm' // m | addr | id (4, BE)            → one-time KEM prekey
	pInvite     = 'i' // i | code                         → invite
	pQueue      = 'q' // q | addr | seq (8, BE)           → queue entry
	pSeq        = 'c' // c | addr                         → last seq handed out (8, BE)
	pExpiry     = 'x' // x | expires (8, sortable) | addr | seq (8, BE) → empty
)

// maxNameLen bounds a handle or invite code: names are length-prefixed with
// one byte so that "bob" can never be a key prefix of "bobby".
const maxNameLen = 255

// errBadKey reports a key read from disk that does not have the expected shape.
var errBadKey = errors.New("malformed key")

// appendName appends a one-byte length and the name.
func appendName(b []byte, s string) []byte {
	return append(append(b, byte(len(s))), s...)
}

func checkName(kind, s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("%s %q: length must be 1..%d bytes", kind, s, maxNameLen)
	}
	return nil
}

// appendAddr encodes a device address as name | device id (4, BE), so all
// devices of one user are adjacent and ordered by id.
func appendAddr(b []byte, a protocol.Address) []byte {
	return binary.BigEndian.AppendUint32(appendName(b, a.User), a.Device)
}

func checkAddr(a protocol.Address) error {
	if err := checkName("user", a.User); err != nil {
		return err
	}
	if a.Device == 0 {
		return fmt.Errorf("address %s: device id 0", a)
	}
	return nil
}

// decodeAddr reads an address encoded by appendAddr and returns the rest.
func decodeAddr(b []byte) (protocol.Address, []byte, error) {
	if len(b) < 1 {
		return protocol.Address{}, nil, errBadKey
	}
	n := int(b[0])
	if n == 0 || len(b) < 1+n+4 {
		return protocol.Address{}, nil, errBadKey
	}
	a := protocol.Address{User: string(b[1 : 1+n]), Device: binary.BigEndian.Uint32(b[1+n:])}
	if a.Device == 0 {
		return protocol.Address{}, nil, errBadKey
	}
	return a, b[1+n+4:], nil
}

func accountKey(handle string) []byte {
	return appendName([]byte{pAccount}, handle)
}

func deviceKey(a protocol.Address) []byte {
	return appendAddr([]byte{pDevice}, a)
}

// devicesRange bounds every device key of one user.
func devicesRange(handle string) (lo, hi []byte) {
	lo = appendName([]byte{pDevice}, handle)
	hi = append(append([]byte(nil), lo...), 0xff, 0xff, 0xff, 0xff, 0x00)
	return lo, hi
}

func noiseKeyKey(k [32]byte) []byte {
	return append([]byte{pNoiseKey}, k[:]...)
}

func addrKey(prefix byte, a protocol.Address) []byte {
	return appendAddr([]byte{prefix}, a)
}

func oneTimeKey(prefix byte, a protocol.Address, id uint32) []byte {
	return binary.BigEndian.AppendUint32(addrKey(prefix, a), id)
}

// idRange bounds every 4-byte-id key under prefix|addr.
func idRange(prefix byte, a protocol.Address) (lo, hi []byte) {
	lo = addrKey(prefix, a)
	hi = append(append([]byte(nil), lo...), 0xff, 0xff, 0xff, 0xff, 0x00)
	return lo, hi
}

func inviteKey(code string) []byte {
	return appendName([]byte{pInvite}, code)
}

func queueKey(a protocol.Address, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(addrKey(pQueue, a), seq)
}

// queueRange bounds a device's entries with seq > after: one ordered range,
// so draining a queue is a single iterator scan.
func queueRange(a protocol.Address, after uint64) (lo, hi []byte) {
	p := addrKey(pQueue, a)
	lo = binary.BigEndian.AppendUint64(append([]byte(nil), p...), after+1)
	hi = append(p, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00)
	if after == ^uint64(0) {
		lo = hi // nothing can follow the largest seq
	}
	return lo, hi
}

// sortableTime maps Unix nanoseconds to a big-endian-sortable uint64 (sign
// bit flipped, so times before 1970 sort first).
func sortableTime(nanos int64) uint64 { return uint64(nanos) ^ (1 << 63) }

func expiryKey(expires int64, a protocol.Address, seq uint64) []byte {
	b := binary.BigEndian.AppendUint64([]byte{pExpiry}, sortableTime(expires))
	return binary.BigEndian.AppendUint64(appendAddr(b, a), seq)
}

// expiredRange bounds index keys of entries that expire strictly before now.
func expiredRange(now int64) (lo, hi []byte) {
	return []byte{pExpiry}, binary.BigEndian.AppendUint64([]byte{pExpiry}, sortableTime(now))
}

// decodeExpiryKey reads the address and seq an expiry index key points to.
func decodeExpiryKey(k []byte) (protocol.Address, uint64, error) {
	if len(k) < 1+8 || k[0] != pExpiry {
		return protocol.Address{}, 0, fmt.Errorf("expiry key: %w", errBadKey)
	}
	a, rest, err := decodeAddr(k[9:])
	if err != nil || len(rest) != 8 {
		return protocol.Address{}, 0, fmt.Errorf("expiry key: %w", errBadKey)
	}
	return a, binary.BigEndian.Uint64(rest), nil
}

// decodeQueueSeq reads the seq at the end of a queue key.
func decodeQueueSeq(k []byte) (uint64, error) {
	if len(k) < 1+8 || k[0] != pQueue {
		return 0, fmt.Errorf("queue key: %w", errBadKey)
	}
	return binary.BigEndian.Uint64(k[len(k)-8:]), nil
}
