package client

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/protocol"
)

// Bounds on stored records: anything larger is corrupt, never parsed.
const (
	maxAccountRecord = 4 << 10
	maxHistoryRecord = 32 << 10
	maxSmallRecord   = 4 << 10
	// MaxTextSize bounds the text of one message (bytes of UTF-8), so that
	// the padded Content always fits protocol.MaxCiphertextSize.
	MaxTextSize = 8 << 10
)

func unmarshalBounded(b []byte, max int, m proto.Message, what string) error {
	if len(b) > max {
		return fmt.Errorf("%s: %d bytes: %w", what, len(b), ErrBadRecord)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%s: %w: %w", what, ErrBadRecord, err)
	}
	return nil
}

func decodeAccount(b []byte) (*localpb.Account, error) {
	var a localpb.Account
	if err := unmarshalBounded(b, maxAccountRecord, &a, "account"); err != nil {
		return nil, err
	}
	if len(a.IdentityPrivate) != 32 || len(a.NoiseKey) == 0 {
		return nil, fmt.Errorf("account: missing keys: %w", ErrBadRecord)
	}
	if a.Registered && (protocol.ValidateHandle(a.User) != nil || a.DeviceId == 0) {
		return nil, fmt.Errorf("account: bad address %q.%d: %w", a.User, a.DeviceId, ErrBadRecord)
	}
	return &a, nil
}

func decodeServerPin(b []byte) (*localpb.ServerPin, error) {
	var p localpb.ServerPin
	if err := unmarshalBounded(b, maxSmallRecord, &p, "server pin"); err != nil {
		return nil, err
	}
	if len(p.Key) != 32 {
		return nil, fmt.Errorf("server pin: key of %d bytes: %w", len(p.Key), ErrBadRecord)
	}
	return &p, nil
}

// maxDevicesPerUser bounds device lists from storage and from the node.
const maxDevicesPerUser = 64

func decodeDevices(b []byte) (*localpb.Devices, error) {
	var d localpb.Devices
	if err := unmarshalBounded(b, maxSmallRecord, &d, "device list"); err != nil {
		return nil, err
	}
	if len(d.DeviceIds) > maxDevicesPerUser {
		return nil, fmt.Errorf("device list: %d devices: %w", len(d.DeviceIds), ErrBadRecord)
	}
	for _, id := range d.DeviceIds {
		if id == 0 {
			return nil, fmt.Errorf("device list: device 0: %w", ErrBadRecord)
		}
	}
	return &d, nil
}

func decodeHistoryItem(b []byte) (*localpb.HistoryItem, error) {
	var h localpb.HistoryItem
	if err := unmarshalBounded(b, maxHistoryRecord, &h, "history item"); err != nil {
		return nil, err
	}
	if len(h.MessageId) != protocol.MessageIDSize {
		return nil, fmt.Errorf("history item: id of %d bytes: %w", len(h.MessageId), ErrBadRecord)
	}
	if protocol.ValidateHandle(h.Peer) != nil {
		return nil, fmt.Errorf("history item: peer %q: %w", h.Peer, ErrBadRecord)
	}
	if h.Status < localpb.Status_STATUS_UNSPECIFIED || h.Status > localpb.Status_FAILED {
		return nil, fmt.Errorf("history item: status %d: %w", h.Status, ErrBadRecord)
	}
	return &h, nil
}

func mustMarshal(m proto.Message) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		// Only invalid UTF-8 in a string field fails, and every string we
		// store was validated or came out of a decoded protobuf.
		panic(fmt.Sprintf("client: marshal %T: %v", m, err))
	}
	return b
}

// HistoryItem is one message of a conversation as History returns it.
type HistoryItem struct {
	ID            MessageID
	Peer          string
	Outgoing      bool
	From          string
	FromDevice    uint32
	Text          string
	SentAt        time.Time
	ReceivedAt    time.Time // when this device stored it
	Status        Status    // outgoing: the ticks
	StatusAt      time.Time
	Read          bool // incoming: marked read by this user
	Undecryptable bool
	Error         string
	Attachment    *Attachment     // a file sent or received (Text is its caption)
	Group         *GroupRef       // group conversation
	Event         *GroupEventInfo // a group's system line
}

func historyFromRecord(h *localpb.HistoryItem) HistoryItem {
	var id MessageID
	copy(id[:], h.MessageId)
	out := HistoryItem{
		ID: id, Peer: h.Peer, Outgoing: h.Outgoing, From: h.From, FromDevice: h.FromDevice,
		Text: h.Text, SentAt: msTime(h.SentAtMs), ReceivedAt: msTime(h.ReceivedAtMs),
		Status: Status(h.Status), StatusAt: msTime(h.StatusAtMs), Read: h.Read,
		Undecryptable: h.Undecryptable, Error: h.Error, Attachment: attachmentFromRecord(h),
	}
	out.Group, out.Event = groupFields(h)
	return out
}

func messageFromRecord(h *localpb.HistoryItem) Message {
	var id MessageID
	copy(id[:], h.MessageId)
	m := Message{
		ID: id, Peer: h.Peer, From: h.From, FromDevice: h.FromDevice, Text: h.Text,
		SentAt: msTime(h.SentAtMs), ReceivedAt: msTime(h.ReceivedAtMs),
		Outgoing: h.Outgoing, Undecryptable: h.Undecryptable, Attachment: attachmentFromRecord(h),
	}
	m.Group, m.Event = groupFields(h)
	return m
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
