package protocol

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/parley-im/parley/protocol/pb"
)

// Version is the protocol version the node announces in Welcome.
const Version = 1

// MaxFrameSize bounds one decrypted frame. Media never travels in frames, so
// the largest legitimate frame is a Send fanned out to many devices.
const MaxFrameSize = 64 << 10

// MaxCiphertextSize bounds one device's ciphertext inside a Send.
const MaxCiphertextSize = 16 << 10

// MessageIDSize is the length of a message id chosen by the sender device.
const MessageIDSize = 16

// Address names one device of one user.
type Address struct {
	User   string
	Device uint32
}

// String renders "user.device", the form used in logs and on the command line.
func (a Address) String() string { return a.User + "." + strconv.FormatUint(uint64(a.Device), 10) }

// ParseAddress reads the "user.device" form.
func ParseAddress(s string) (Address, error) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 {
		return Address{}, fmt.Errorf("address %q: want user.device", s)
	}
	d, err := strconv.ParseUint(s[i+1:], 10, 32)
	if err != nil || d == 0 {
		return Address{}, fmt.Errorf("address %q: bad device id", s)
	}
	if err := ValidateHandle(s[:i]); err != nil {
		return Address{}, err
	}
	return Address{User: s[:i], Device: uint32(d)}, nil
}

// ValidateHandle checks a user handle: 3–32 characters, lower-case ASCII
// letters, digits and underscore, starting with a letter. Keeping handles this
// narrow avoids look-alike names and keeps them safe in keys and URLs.
func ValidateHandle(h string) error {
	if !validHandle(h) {
		return fmt.Errorf("invalid handle %q: use 3-32 lower-case letters, digits or _, starting with a letter", h)
	}
	return nil
}

// validHandle is ^[a-z][a-z0-9_]{2,31}$ written out: it runs for every
// address of every Send, where the regexp engine was a visible share of the
// node's CPU.
func validHandle(h string) bool {
	if len(h) < 3 || len(h) > 32 || h[0] < 'a' || h[0] > 'z' {
		return false
	}
	for i := 1; i < len(h); i++ {
		c := h[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

// Error is a typed protocol error: what the node sends in pb.Error and what
// the SDK returns to applications. Match codes with errors.Is against a
// *Error holding only the code, or use CodeOf.
type Error struct {
	Code         pb.ErrorCode
	Reason       string
	RetryAfterMS uint64
	DeviceLists  []*pb.DeviceList
}

func (e *Error) Error() string {
	if e.Reason == "" {
		return "parley: " + e.Code.String()
	}
	return "parley: " + e.Code.String() + ": " + e.Reason
}

// Is matches any *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// Errorf builds a typed error with a formatted reason.
func Errorf(code pb.ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// CodeOf returns the protocol code of err, or ERROR_CODE_UNSPECIFIED.
func CodeOf(err error) pb.ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return pb.ErrorCode_ERROR_CODE_UNSPECIFIED
}

// ToProto converts a typed error for the wire.
func (e *Error) ToProto() *pb.Error {
	return &pb.Error{Code: e.Code, Reason: e.Reason, RetryAfterMs: e.RetryAfterMS, DeviceLists: e.DeviceLists}
}

// FromProto converts a wire error into a typed error.
func FromProto(p *pb.Error) *Error {
	return &Error{Code: p.GetCode(), Reason: p.GetReason(), RetryAfterMS: p.GetRetryAfterMs(), DeviceLists: p.GetDeviceLists()}
}
