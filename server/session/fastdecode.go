package session

import (
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/protocol/pb"
)

// The two frames every message brings, Send and DeliveryAck, are decoded
// by hand: proto.Unmarshal (reflection-driven, one allocation per field)
// was a visible share of the node's CPU per message. decodeHot yields
// exactly what proto.Unmarshal with DiscardUnknown would, or gives up and
// lets DecodeClientFrame ask proto.Unmarshal (which then also produces the
// error for a malformed frame). FuzzDecodeHot holds it to that.
//
// It handles what a client of any version may send inside the two bodies
// (unknown fields, a field repeated with the last one winning, wire types
// that do not match the schema and so count as unknown, packed or unpacked
// seqs), but gives up on anything unusual at the frame's top level: a
// second body, an unknown field, a body sent in pieces (proto merges them).

// Field numbers the fast decoder reads.
const (
	frameID          = 1
	frameSend        = 13
	frameDeliveryAck = 14

	sendMessageID   = 1
	sendTo          = 2
	sendCiphertexts = 3
	sendSilent      = 4
	sendClientTime  = 5
	sendEphemeral   = 6
	sendGroupID     = 7

	ctUser   = 1
	ctDevice = 2
	ctType   = 3
	ctBody   = 4

	ackSeqs = 1
)

// consumeTag is protowire.ConsumeTag with proto.Unmarshal's bound on the
// field number (ConsumeTag accepts up to MaxInt32, for MessageSet).
func consumeTag(b []byte) (protowire.Number, protowire.Type, int) {
	num, typ, n := protowire.ConsumeTag(b)
	if n >= 0 && num > protowire.MaxValidNumber {
		return 0, 0, -1
	}
	return num, typ, n
}

// decodeHot decodes b if it is a ClientFrame with a Send or DeliveryAck
// body; ok is false for every other frame and for any frame it cannot
// decode.
func decodeHot(b []byte) (f *pb.ClientFrame, ok bool) {
	var id uint64
	var body []byte
	var bodyNum protowire.Number
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case num == frameID && typ == protowire.VarintType:
			id, n = protowire.ConsumeVarint(b)
		case (num == frameSend || num == frameDeliveryAck) && typ == protowire.BytesType && bodyNum == 0:
			body, n = protowire.ConsumeBytes(b)
			bodyNum = num
		default:
			return nil, false
		}
		if n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	switch bodyNum {
	case frameSend:
		return decodeSend(id, body)
	case frameDeliveryAck:
		return decodeDeliveryAck(id, body)
	}
	return nil, false
}

// sendFrame holds a decoded Send frame's messages in one allocation,
// with room for the ciphertexts of the usual Send: the recipient's device
// and one other device of the sender.
type sendFrame struct {
	frame pb.ClientFrame
	body  pb.ClientFrame_Send
	send  pb.Send
	cts   [inlineCiphertexts]pb.OutgoingCiphertext
	ptrs  [inlineCiphertexts]*pb.OutgoingCiphertext
}

const inlineCiphertexts = 2

func decodeSend(id uint64, b []byte) (*pb.ClientFrame, bool) {
	// A first, shallow pass sizes the ciphertexts and one buffer for all
	// their bodies (each body lies within its ciphertext's bytes).
	count, room := 0, 0
	for rest := b; len(rest) > 0; {
		num, typ, n := consumeTag(rest)
		if n < 0 {
			return nil, false
		}
		rest = rest[n:]
		n = protowire.ConsumeFieldValue(num, typ, rest)
		if n < 0 {
			return nil, false
		}
		if num == sendCiphertexts && typ == protowire.BytesType {
			count++
			room += n
		}
		rest = rest[n:]
	}
	sf := new(sendFrame)
	sf.frame.Id = id
	sf.body.Send = &sf.send
	sf.frame.Body = &sf.body
	m := &sf.send
	var cts []pb.OutgoingCiphertext
	switch {
	case count > inlineCiphertexts:
		cts = make([]pb.OutgoingCiphertext, count)
		m.Ciphertexts = make([]*pb.OutgoingCiphertext, 0, count)
	case count > 0:
		// Capped, so appending to the slice moves it out of sendFrame.
		cts, m.Ciphertexts = sf.cts[:count:count], sf.ptrs[:0:count]
	}
	d := hotDecoder{bodies: make([]byte, 0, room)}
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		b = b[n:] // the first pass checked every tag and value
		switch {
		case num == sendMessageID && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			m.MessageId, b = cloneBytes(v), b[n:]
		case num == sendTo && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if !utf8.Valid(v) {
				return nil, false
			}
			m.To, b = d.str(v), b[n:]
		case num == sendCiphertexts && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			c := &cts[len(m.Ciphertexts)]
			if !d.ciphertext(c, v) {
				return nil, false
			}
			m.Ciphertexts, b = append(m.Ciphertexts, c), b[n:]
		case num == sendSilent && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			m.Silent, b = v != 0, b[n:]
		case num == sendClientTime && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			m.ClientTimeMs, b = int64(v), b[n:]
		case num == sendEphemeral && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			m.Ephemeral, b = v != 0, b[n:]
		case num == sendGroupID && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			m.GroupId, b = cloneBytes(v), b[n:]
		default: // unknown, or a known field in a wire type not its own
			b = b[protowire.ConsumeFieldValue(num, typ, b):]
		}
	}
	return &sf.frame, true
}

// hotDecoder carries what one Send's fields share: the buffer their
// bodies are copied into, and the strings made so far (a Send names the
// recipient in to and again in most ciphertexts).
type hotDecoder struct {
	bodies []byte
	strs   [2]string
}

// str returns v as a string, reusing an equal one made before.
func (d *hotDecoder) str(v []byte) string {
	for _, s := range d.strs {
		if string(v) == s {
			return s
		}
	}
	s := string(v)
	d.strs[0], d.strs[1] = s, d.strs[0]
	return s
}

func (d *hotDecoder) ciphertext(c *pb.OutgoingCiphertext, b []byte) bool {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case num == ctUser && typ == protowire.BytesType:
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n >= 0 {
				if !utf8.Valid(v) {
					return false
				}
				c.User = d.str(v)
			}
		case num == ctDevice && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			c.DeviceId = uint32(v)
		case num == ctType && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			c.Type = pb.EnvelopeType(int32(v))
		case num == ctBody && typ == protowire.BytesType:
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n >= 0 {
				c.Body = nil // proto3: an empty body on the wire leaves nil
				if len(v) > 0 {
					start := len(d.bodies)
					d.bodies = append(d.bodies, v...) // within capacity: no move
					// Capped, so an append to one body cannot reach the next.
					c.Body = d.bodies[start:len(d.bodies):len(d.bodies)]
				}
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// ackFrame holds a decoded DeliveryAck frame's three messages in one
// allocation.
type ackFrame struct {
	frame pb.ClientFrame
	body  pb.ClientFrame_DeliveryAck
	ack   pb.DeliveryAck
}

func decodeDeliveryAck(id uint64, b []byte) (*pb.ClientFrame, bool) {
	af := new(ackFrame)
	af.frame.Id = id
	af.body.DeliveryAck = &af.ack
	af.frame.Body = &af.body
	var seqs []uint64
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, false
		}
		b = b[n:]
		switch {
		case num == ackSeqs && typ == protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(b)
			seqs = append(seqs, v)
		case num == ackSeqs && typ == protowire.BytesType: // packed
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n < 0 {
				return nil, false
			}
			count := 0
			for _, c := range v {
				if c < 0x80 {
					count++
				}
			}
			seqs = slices.Grow(seqs, count)
			for len(v) > 0 {
				s, m := protowire.ConsumeVarint(v)
				if m < 0 {
					return nil, false
				}
				seqs, v = append(seqs, s), v[m:]
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return nil, false
		}
		b = b[n:]
	}
	af.ack.Seqs = seqs
	return &af.frame, true
}

// cloneBytes copies a proto3 bytes field: empty on the wire leaves nil.
func cloneBytes(v []byte) []byte {
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}
