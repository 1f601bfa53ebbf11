package client

import (
	"errors"

	"github.com/parley-im/parley/client/storage"
)

// Sentinel errors. Errors from the node are *protocol.Error values (match
// them with errors.Is(err, &protocol.Error{Code: pb.ErrorCode_X}) or
// protocol.CodeOf); these are the SDK's own.
var (
	// ErrNotRegistered: this device has no account yet (run Register).
	ErrNotRegistered = errors.New("this device is not registered (run `parley register HANDLE` first)")
	// ErrAlreadyRegistered: Register was called on a registered device.
	ErrAlreadyRegistered = errors.New("this device is already registered")
	// ErrNotConnected: the call needs a live connection to the node.
	ErrNotConnected = errors.New("not connected to the node")
	// ErrSendPending: a send did not reach a first tick because the
	// connection ended or the node did not answer in time. The message is
	// stored on this device (PENDING) and sent again, under the same id,
	// each time the device connects until the node takes or refuses it.
	// It is returned wrapped with the cause.
	ErrSendPending = errors.New("not on the node yet: kept on this device and sent again when connected")
	// ErrClosed: the Client was closed.
	ErrClosed = errors.New("client closed")
	// ErrDeviceUnknown: the node no longer knows this device (removed or
	// the node's data was reset).
	ErrDeviceUnknown = errors.New("the node does not know this device any more (removed, or the node's data was reset)")
	// ErrNoSuchUser: the peer has no account (or no devices) on the node.
	// The error returned is a *NoSuchUserError naming the user.
	ErrNoSuchUser = errors.New("no such user")
	// ErrTextTooLong: the text exceeds MaxTextSize.
	ErrTextTooLong = errors.New("message text too long")
	// ErrSelf: messages to one's own user are not supported yet.
	ErrSelf = errors.New("cannot send to yourself")
	// ErrUnknownMessage: no history item has that id.
	ErrUnknownMessage = errors.New("unknown message id")
	// ErrBadRecord: a stored record could not be decoded (corrupt storage
	// or a newer incompatible build).
	ErrBadRecord = errors.New("corrupt local record")
	// ErrFileTooLarge: the node refused an upload over its size limit.
	ErrFileTooLarge = errors.New("file too large for this node")
	// ErrAttachmentCorrupt: a downloaded attachment failed verification
	// (tampered, truncated or not what the sender announced); no file was
	// written.
	ErrAttachmentCorrupt = errors.New("attachment failed verification (tampered or truncated); nothing was saved")
	// ErrAttachmentGone: the node no longer has the attachment (expired).
	ErrAttachmentGone = errors.New("attachment no longer on the node (expired)")
	// ErrNoAttachment: the message carries no attachment.
	ErrNoAttachment = errors.New("message has no attachment")
	// ErrDeviceListUnsigned: the node gave a device list that the user's
	// primary device has not signed; nothing is encrypted to it.
	ErrDeviceListUnsigned = errors.New("device list is not signed by the account's primary device")
	// ErrDeviceListSignature: a device list's signature does not verify, or
	// its content contradicts what the node says (tampering); refused.
	ErrDeviceListSignature = errors.New("device list signature is invalid (tampered list?)")
	// ErrDeviceListRollback: a device list older than one already verified
	// (a replay of a list from before a device was removed); refused.
	ErrDeviceListRollback = errors.New("device list is older than one already seen (rollback)")
	// ErrNotPrimary: only the primary device (device 1) may change the
	// account's device list (approve a link, remove a device).
	ErrNotPrimary = errors.New("only the primary device (device 1) can do this")
	// ErrLinkTimeout: the link code was not approved in time.
	ErrLinkTimeout = errors.New("the link code was not approved in time")
	// ErrNoSuchGroup: no group of that name or id is known on this device.
	ErrNoSuchGroup = errors.New("no such group on this device")
	// ErrGroupNameTaken: another local group already has this name (the
	// CLI resolves groups by name, so names are unique per device).
	ErrGroupNameTaken = errors.New("a group with this name already exists on this device")
	// ErrNotMember: this user is no longer a member of the group.
	ErrNotMember = errors.New("you are not a member of this group")
	// ErrNotFound is storage.ErrNotFound, re-exported for callers of the
	// SDK that implement Storage.
	ErrNotFound = storage.ErrNotFound
)

// NoSuchUserError names the user the node does not know; it matches
// ErrNoSuchUser with errors.Is.
type NoSuchUserError struct{ User string }

func (e *NoSuchUserError) Error() string { return e.User + " is not registered on this node" }

// Is makes errors.Is(err, ErrNoSuchUser) true.
func (e *NoSuchUserError) Is(target error) bool { return target == ErrNoSuchUser }
