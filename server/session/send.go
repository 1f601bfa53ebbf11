package session

import (
	"context"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

// handleSend queues one ciphertext per target device in one durable batch.
// The store hands the entries to the targets' sessions as soon as the batch
// is visible, while it syncs (fresh.go), and the acker (inflight.go)
// answers SendAck (the first tick) once it is synced.
func handleSend(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	m := f.GetSend()
	if err := checkSend(s.addr, m); err != nil {
		return err
	}
	if m.Ephemeral {
		if err := s.typingAllowed(); err != nil { // typing.go
			return err
		}
	}
	toList, err := deviceList(ctx, s.env.Store, m.To)
	if err != nil {
		return err
	}
	if len(toList.DeviceIds) == 0 {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "user %q has no devices", m.To)
	}
	ownList, err := deviceList(ctx, s.env.Store, s.addr.User)
	if err != nil {
		return err
	}
	if !sameTargets(s.addr, m, toList, ownList) {
		return &protocol.Error{Code: pb.ErrorCode_STALE_DEVICES, Reason: "device list changed", DeviceLists: withSigned(ctx, s.env.Store, toList, ownList)}
	}
	if err := s.checkSendGroup(ctx, m); err != nil { // group.go
		return err
	}
	now := s.env.Now()
	if m.Ephemeral {
		return s.sendEphemeral(f.Id, m, now.UnixMilli()) // typing.go
	}
	s.noteContact(ctx, m.To)
	// One allocation for all entries: a Send has one per target device.
	block := make([]store.Entry, len(m.Ciphertexts))
	entries := make([]*store.Entry, len(m.Ciphertexts))
	expires := now.Add(s.env.QueueTTL)
	for i, c := range m.Ciphertexts {
		p, err := envelopePayload(&pb.Envelope{ // payload.go; stays on the stack
			From:         s.addr.User,
			FromDevice:   s.addr.Device,
			MessageId:    m.MessageId,
			Type:         c.Type,
			Body:         c.Body,
			ServerTimeMs: now.UnixMilli(),
			To:           m.To,
			Silent:       m.Silent,
			GroupId:      m.GroupId,
		})
		if err != nil {
			return err
		}
		block[i] = store.Entry{Device: protocol.Address{User: c.User, Device: c.DeviceId}, Payload: p, Expires: expires}
		entries[i] = &block[i]
	}
	// The reader does not wait for the sync: the acker answers SendAck
	// once the batch is durable, so the next
	// frame is read while this one is on its way to disk and concurrent
	// sends share syncs.
	return s.enqueueSend(ctx, f.Id, m.MessageId, now.UnixMilli(), entries) // inflight.go
}

// checkSend validates what can be checked without the store.
func checkSend(self protocol.Address, m *pb.Send) error {
	if len(m.MessageId) != protocol.MessageIDSize {
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "message id must be %d bytes", protocol.MessageIDSize)
	}
	if m.To == self.User {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "cannot send to yourself; your other devices get copies of every send")
	}
	if protocol.ValidateHandle(m.To) != nil {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no user %q", m.To)
	}
	if len(m.Ciphertexts) == 0 {
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "no ciphertexts")
	}
	for _, c := range m.Ciphertexts {
		switch {
		case c.User != m.To && c.User != self.User:
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "ciphertext for %q: neither the recipient nor you", c.User)
		case c.User == self.User && c.DeviceId == self.Device:
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "ciphertext for the sending device")
		case c.Type != pb.EnvelopeType_CIPHERTEXT && c.Type != pb.EnvelopeType_PREKEY_MESSAGE && c.Type != pb.EnvelopeType_SENDER_KEY:
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "ciphertext type %d", c.Type)
		case len(c.Body) == 0:
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "empty ciphertext")
		case len(c.Body) > protocol.MaxCiphertextSize:
			return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "ciphertext of %d bytes exceeds %d", len(c.Body), protocol.MaxCiphertextSize)
		}
	}
	return nil
}

// sameTargets reports whether the ciphertexts name exactly every device of
// the recipient plus every other device of the sender, each once.
func sameTargets(self protocol.Address, m *pb.Send, to, own *pb.DeviceList) bool {
	want := len(to.DeviceIds)
	for _, d := range own.DeviceIds {
		if d != self.Device {
			want++
		}
	}
	if len(m.Ciphertexts) != want {
		return false
	}
	seen := make(map[protocol.Address]bool, want)
	for _, c := range m.Ciphertexts {
		a := protocol.Address{User: c.User, Device: c.DeviceId}
		if seen[a] {
			return false
		}
		seen[a] = true
	}
	for _, d := range to.DeviceIds {
		if !seen[protocol.Address{User: to.User, Device: d}] {
			return false
		}
	}
	for _, d := range own.DeviceIds {
		if d != self.Device && !seen[protocol.Address{User: own.User, Device: d}] {
			return false
		}
	}
	return true
}
