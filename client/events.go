package client

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/parley-im/parley/protocol"
)

// MessageID identifies a message: 16 random bytes chosen by the sender's
// device.
type MessageID [protocol.MessageIDSize]byte

// String is the lower-case hex form used on the command line and in JSON.
func (id MessageID) String() string { return hex.EncodeToString(id[:]) }

// ParseMessageID reads the hex form.
func ParseMessageID(s string) (MessageID, error) {
	var id MessageID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("message id %q: want %d hex bytes", s, len(id))
	}
	copy(id[:], b)
	return id, nil
}

// MarshalText implements encoding.TextMarshaler (JSON as a hex string).
func (id MessageID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// Status is the state of an outgoing message: the ticks.
type Status int

const (
	StatusUnknown   Status = iota
	StatusPending          // stored on this device, not yet on the node
	StatusSent             // ✓ durable on the node
	StatusDelivered        // ✓✓ a device of the recipient has it
	StatusRead             // read (blue ✓✓)
	StatusFailed           // the node refused it
)

func (s Status) String() string {
	switch s {
	case StatusPending:
		return "pending"
	case StatusSent:
		return "sent"
	case StatusDelivered:
		return "delivered"
	case StatusRead:
		return "read"
	case StatusFailed:
		return "failed"
	}
	return "unknown"
}

// ParseStatus reads the String form.
func ParseStatus(s string) (Status, error) {
	for st := StatusPending; st <= StatusFailed; st++ {
		if st.String() == s {
			return st, nil
		}
	}
	return StatusUnknown, fmt.Errorf("unknown status %q (want sent, delivered or read)", s)
}

// Event is what Events delivers: Message, StatusChange, Connected,
// Disconnected, QueueDrained or IdentityChanged.
type Event interface{ isEvent() }

// Message is a message received by this device, or a copy of one sent by
// another device of the same user (Outgoing).
type Message struct {
	ID            MessageID
	Peer          string // the conversation partner
	From          string
	FromDevice    uint32
	Text          string
	SentAt        time.Time       // sender's clock
	ReceivedAt    time.Time       // this device's clock
	Outgoing      bool            // a copy of our own message sent from another device
	Undecryptable bool            // the ciphertext could not be decrypted; Text is empty
	Attachment    *Attachment     // a file (Text is its caption); fetch it with DownloadAttachment
	Group         *GroupRef       // set for group messages (Peer is then the sender)
	Event         *GroupEventInfo // set for a group's system line (no Text)

	inboxKey []byte // where the message waits in the inbox, for MarkShown
}

// StatusChange reports a new tick on one of our messages.
type StatusChange struct {
	ID     MessageID
	Peer   string
	Status Status
	At     time.Time
}

// Connected: a connection to the node is up.
type Connected struct {
	User   string
	Device uint32
}

// Disconnected: the connection dropped (Err says why; nil on Close).
type Disconnected struct{ Err error }

// QueueDrained: everything the node held for this device when it connected
// has been received.
type QueueDrained struct{ Count int }

// IdentityChanged: a peer device presented a new identity key (reinstall,
// or an attack): its safety number changed and should be compared again.
type IdentityChanged struct {
	User   string
	Device uint32
}

func (Message) isEvent()         {}
func (StatusChange) isEvent()    {}
func (Connected) isEvent()       {}
func (Disconnected) isEvent()    {}
func (QueueDrained) isEvent()    {}
func (IdentityChanged) isEvent() {}
