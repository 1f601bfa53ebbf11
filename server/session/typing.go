package session

import (
	"context"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// typingAllowed spends one of the device's ephemeral-send tokens.
func (s *Session) typingAllowed() error {
	soc := s.env.Social
	if soc == nil {
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "ephemeral sends are not available on this node")
	}
	ok, wait := s.soc().typing.take(s.env.Now(), soc.TypingRate, soc.TypingBurst)
	if !ok {
		return &protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Reason: "too many typing notices", RetryAfterMS: uint64(max(wait.Milliseconds(), 1))}
	}
	return nil
}

// sendEphemeral pushes each ciphertext to its device if that device is
// connected right now, and to nobody otherwise: nothing is stored, so an
// offline device never sees it, and nothing is acknowledged.
func (s *Session) sendEphemeral(id uint64, m *pb.Send, nowMS int64) error {
	for _, c := range m.Ciphertexts {
		p := s.env.Router.Lookup(protocol.Address{User: c.User, Device: c.DeviceId})
		peer, ok := p.(*Session)
		if !ok {
			continue
		}
		peer.push(&pb.ServerFrame{Body: &pb.ServerFrame_Deliver{Deliver: &pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: &pb.Envelope{
			From: s.addr.User, FromDevice: s.addr.Device, MessageId: m.MessageId, Type: c.Type, Body: c.Body,
			ServerTimeMs: nowMS, To: m.To, Silent: true, GroupId: m.GroupId, Ephemeral: true,
		}}}}})
	}
	return s.reply(id, &pb.ServerFrame{Body: &pb.ServerFrame_Ok{Ok: &pb.Ok{}}})
}

// noteContact records that this account sent to peer, once per session
// and peer, for the "contacts" last-seen setting. Failures only cost
// visibility, so they are logged, not returned.
func (s *Session) noteContact(ctx context.Context, peer string) {
	st := s.soc()
	if st.contacts[peer] {
		return
	}
	if st.contacts == nil {
		st.contacts = make(map[string]bool)
	}
	if len(st.contacts) < 256 {
		st.contacts[peer] = true
	}
	if err := s.env.Store.AddContact(ctx, s.addr.User, peer); err != nil {
		s.env.Logger.Debug("contact not recorded", "device", s.addr.String(), "peer", peer, "err", err)
	}
}
