package e2e

import (
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Safety numbers, libsignal's NumericFingerprintGenerator (format version 0
// for the displayable digits) and its CombinedFingerprints scannable form.
const (
	// FingerprintIterations is the SHA-512 iteration count; libsignal's
	// clients use 5200 (> 112 bits of work per guess).
	FingerprintIterations = 5200
	// ScannableFingerprintVersion is written into the scannable form; a
	// scanned code with another version cannot be compared. 2 is the version
	// current Signal clients use.
	ScannableFingerprintVersion = 2

	fingerprintDigits       = 30 // per party
	scannableFingerprintLen = 32 // truncated SHA-512 per party
	maxScannableLen         = 1 << 10
)

var (
	// ErrFingerprintVersion: a scanned code carries another scannable
	// version; ask both users to update rather than reporting a mismatch.
	ErrFingerprintVersion = errors.New("e2e: fingerprint version mismatch")
	// ErrInvalidFingerprint: a scanned code is not a CombinedFingerprints
	// protobuf of the expected shape.
	ErrInvalidFingerprint = errors.New("e2e: invalid fingerprint")
)

// Fingerprint is the safety number of one conversation as seen from the
// local side. Both sides compute the same Displayable string; the Scannable
// forms are mirror images (local and remote swapped), which is what
// CompareScannable checks.
type Fingerprint struct {
	Displayable string // 60 digits
	Scannable   []byte // CombinedFingerprints protobuf, for a QR code
}

// NewFingerprint computes the safety number between the local identity
// (localID is the stable identifier the other side also knows us by, e.g.
// the account name's bytes) and the remote one.
func NewFingerprint(localID []byte, localKey PublicKey, remoteID []byte, remoteKey PublicKey) Fingerprint {
	return newFingerprint(ScannableFingerprintVersion, FingerprintIterations, localID, localKey, remoteID, remoteKey)
}

func newFingerprint(version uint32, iterations int, localID []byte, localKey PublicKey, remoteID []byte, remoteKey PublicKey) Fingerprint {
	local := fingerprintHash(iterations, localID, localKey)
	remote := fingerprintHash(iterations, remoteID, remoteKey)
	l, r := displayDigits(local[:]), displayDigits(remote[:])
	// Order the halves so both sides show the same 60 digits.
	disp := l + r
	if r < l {
		disp = r + l
	}
	return Fingerprint{
		Displayable: disp,
		Scannable:   marshalScannable(version, local[:scannableFingerprintLen], remote[:scannableFingerprintLen]),
	}
}

// fingerprintHash is H_0 = SHA-512(0x0000 || key || id || key), then
// H_i = SHA-512(H_{i-1} || key), for iterations hashes in all.
func fingerprintHash(iterations int, id []byte, key PublicKey) [sha512.Size]byte {
	kb := key.Bytes()
	h := sha512.New()
	h.Write([]byte{0, 0})
	h.Write(kb)
	h.Write(id)
	h.Write(kb)
	var sum [sha512.Size]byte
	h.Sum(sum[:0])
	for i := 1; i < iterations; i++ {
		h.Reset()
		h.Write(sum[:])
		h.Write(kb)
		h.Sum(sum[:0])
	}
	return sum
}

// displayDigits renders the first 30 bytes as six 5-byte big-endian
// numbers, each mod 100000, zero-padded to 5 digits.
func displayDigits(h []byte) string {
	var sb strings.Builder
	sb.Grow(fingerprintDigits)
	for i := 0; i < 6; i++ {
		var x uint64
		for _, b := range h[i*5 : i*5+5] {
			x = x<<8 | uint64(b)
		}
		fmt.Fprintf(&sb, "%05d", x%100000)
	}
	return sb.String()
}

// Display returns the 60 digits as 12 space-separated groups of 5, the way
// users read them aloud.
func (f Fingerprint) Display() string {
	var groups []string
	for i := 0; i+5 <= len(f.Displayable); i += 5 {
		groups = append(groups, f.Displayable[i:i+5])
	}
	return strings.Join(groups, " ")
}

// CompareScannable reports whether scanned (the other device's Scannable,
// read from its QR code) matches local: its local half must equal our remote
// half and vice versa. A code of another version fails with
// ErrFingerprintVersion, a malformed one with ErrInvalidFingerprint. Scanning
// one's own code reports false.
func CompareScannable(local Fingerprint, scanned []byte) (bool, error) {
	ourVersion, ourLocal, ourRemote, err := parseScannable(local.Scannable)
	if err != nil {
		return false, fmt.Errorf("compare fingerprint: local: %w", err)
	}
	theirVersion, theirLocal, theirRemote, err := parseScannable(scanned)
	if err != nil {
		return false, fmt.Errorf("compare fingerprint: scanned: %w", err)
	}
	if theirVersion != ourVersion {
		return false, fmt.Errorf("compare fingerprint: scanned version %d, ours %d: %w", theirVersion, ourVersion, ErrFingerprintVersion)
	}
	same1 := subtle.ConstantTimeCompare(theirLocal, ourRemote)
	same2 := subtle.ConstantTimeCompare(theirRemote, ourLocal)
	return same1&same2 == 1, nil
}

// marshalScannable encodes CombinedFingerprints{1: version, 2:
// LogicalFingerprint{1: local}, 3: LogicalFingerprint{1: remote}} in field
// order, byte for byte as libsignal does.
func marshalScannable(version uint32, local, remote []byte) []byte {
	logical := func(content []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), content)
	}
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(version))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, logical(local))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, logical(remote))
	return b
}

// parseScannable decodes CombinedFingerprints as a protobuf parser would
// (any field order, unknown fields skipped, last value wins) and requires
// both 32-byte halves.
func parseScannable(b []byte) (version uint32, local, remote []byte, err error) {
	if len(b) > maxScannableLen {
		return 0, nil, nil, fmt.Errorf("%d bytes: %w", len(b), ErrInvalidFingerprint)
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, nil, nil, fmt.Errorf("tag: %v: %w", protowire.ParseError(n), ErrInvalidFingerprint)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, nil, nil, fmt.Errorf("version: %v: %w", protowire.ParseError(n), ErrInvalidFingerprint)
			}
			version, b = uint32(v), b[n:]
		case (num == 2 || num == 3) && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, nil, nil, fmt.Errorf("field %d: %v: %w", num, protowire.ParseError(n), ErrInvalidFingerprint)
			}
			content, err := parseLogicalFingerprint(v)
			if err != nil {
				return 0, nil, nil, err
			}
			if num == 2 {
				local = content
			} else {
				remote = content
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return 0, nil, nil, fmt.Errorf("field %d: %v: %w", num, protowire.ParseError(n), ErrInvalidFingerprint)
			}
			b = b[n:]
		}
	}
	if len(local) != scannableFingerprintLen || len(remote) != scannableFingerprintLen {
		return 0, nil, nil, fmt.Errorf("fingerprint halves of %d and %d bytes: %w", len(local), len(remote), ErrInvalidFingerprint)
	}
	return version, local, remote, nil
}

func parseLogicalFingerprint(b []byte) ([]byte, error) {
	var content []byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("logical fingerprint: %v: %w", protowire.ParseError(n), ErrInvalidFingerprint)
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("logical fingerprint: %v: %w", protowire.ParseError(n), ErrInvalidFingerprint)
			}
			content, b = v, b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return nil, fmt.Errorf("logical fingerprint: %v: %w", protowire.ParseError(n), ErrInvalidFingerprint)
		}
		b = b[n:]
	}
	return content, nil
}
