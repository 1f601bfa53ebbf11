package bench

import (
	"encoding/binary"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/protocol/pb"
)

// The hot frames of `bench msgs` (Send, DeliveryAck, and SendAck and
// Deliver on the way back) are encoded and decoded here with protowire
// straight into and out of reused buffers: proto.Marshal and Unmarshal go
// through reflection and allocate a message tree per frame, which cost the
// load generator more CPU per message than the node's own decoding and so
// took it from the node it shares the cores with. The bytes are the same
// protobuf encoding (wire_test.go checks them against proto.Marshal and
// proto.Unmarshal); every other frame still goes through proto.

// Field numbers from protocol/pb/parley.proto.
const (
	fClientID          = 1  // ClientFrame.id
	fClientSend        = 13 // ClientFrame.send
	fClientDeliveryAck = 14 // ClientFrame.delivery_ack

	fSendMessageID   = 1 // Send.message_id
	fSendTo          = 2 // Send.to
	fSendCiphertexts = 3 // Send.ciphertexts
	fSendClientTime  = 5 // Send.client_time_ms

	fCtUser     = 1 // OutgoingCiphertext.user
	fCtDeviceID = 2 // OutgoingCiphertext.device_id
	fCtType     = 3 // OutgoingCiphertext.type
	fCtBody     = 4 // OutgoingCiphertext.body

	fAckSeqs = 1 // DeliveryAck.seqs (packed)

	fServerReplyTo = 1  // ServerFrame.reply_to
	fServerSendAck = 15 // ServerFrame.send_ack
	fServerDeliver = 16 // ServerFrame.deliver

	fSendAckMessageID = 1 // SendAck.message_id

	fDeliverSeq      = 1 // Deliver.seq
	fDeliverEnvelope = 2 // Deliver.envelope
	fDeliverReceipt  = 3 // Deliver.receipt

	fEnvMessageID = 3 // Envelope.message_id
	fEnvBody      = 5 // Envelope.body

	fReceiptMessageIDs = 4 // Receipt.message_ids
)

// appendSendFrame appends the ClientFrame sendFrame(to, stream, seq, tag,
// messageBody(size, sentNs, stream, seq)) marshals to, with clientMs as
// its client time, without building it.
func appendSendFrame(b []byte, to string, stream uint32, seq uint64, tag uint32, size int, sentNs, clientMs int64) []byte {
	bodyLen := max(size, bodyHeader)
	ct := protowire.SizeTag(fCtUser) + protowire.SizeBytes(len(to)) +
		protowire.SizeTag(fCtDeviceID) + protowire.SizeVarint(1) +
		protowire.SizeTag(fCtType) + protowire.SizeVarint(uint64(pb.EnvelopeType_CIPHERTEXT)) +
		protowire.SizeTag(fCtBody) + protowire.SizeBytes(bodyLen)
	send := protowire.SizeTag(fSendMessageID) + protowire.SizeBytes(16) +
		protowire.SizeTag(fSendTo) + protowire.SizeBytes(len(to)) +
		protowire.SizeTag(fSendCiphertexts) + protowire.SizeBytes(ct)
	if clientMs != 0 {
		send += protowire.SizeTag(fSendClientTime) + protowire.SizeVarint(uint64(clientMs))
	}
	b = protowire.AppendTag(b, fClientID, protowire.VarintType)
	b = protowire.AppendVarint(b, sendIDFlag|uint64(stream)<<32|seq)
	b = protowire.AppendTag(b, fClientSend, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(send))

	b = protowire.AppendTag(b, fSendMessageID, protowire.BytesType)
	b = protowire.AppendVarint(b, 16)
	b = appendMessageID(b, stream, seq, tag)
	b = protowire.AppendTag(b, fSendTo, protowire.BytesType)
	b = protowire.AppendString(b, to)
	b = protowire.AppendTag(b, fSendCiphertexts, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(ct))

	b = protowire.AppendTag(b, fCtUser, protowire.BytesType)
	b = protowire.AppendString(b, to)
	b = protowire.AppendTag(b, fCtDeviceID, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, fCtType, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(pb.EnvelopeType_CIPHERTEXT))
	b = protowire.AppendTag(b, fCtBody, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(bodyLen))
	b = appendBody(b, bodyLen, sentNs, stream, seq)

	if clientMs != 0 {
		b = protowire.AppendTag(b, fSendClientTime, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(clientMs))
	}
	return b
}

// appendBody appends a message body of n ≥ bodyHeader bytes: the send
// time, stream and seq, then filler (incompressible enough; the node
// never looks).
func appendBody(b []byte, n int, sentNs int64, stream uint32, seq uint64) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(sentNs))
	b = binary.BigEndian.AppendUint32(b, stream)
	b = binary.BigEndian.AppendUint64(b, seq)
	for i := bodyHeader; i < n; i++ {
		b = append(b, byte(i))
	}
	return b
}

// appendDeliveryAck appends a ClientFrame carrying DeliveryAck{Seqs: seqs}.
func appendDeliveryAck(b []byte, seqs []uint64) []byte {
	packed := 0
	for _, s := range seqs {
		packed += protowire.SizeVarint(s)
	}
	inner := 0
	if len(seqs) > 0 {
		inner = protowire.SizeTag(fAckSeqs) + protowire.SizeBytes(packed)
	}
	b = protowire.AppendTag(b, fClientDeliveryAck, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(inner))
	if len(seqs) > 0 {
		b = protowire.AppendTag(b, fAckSeqs, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(packed))
		for _, s := range seqs {
			b = protowire.AppendVarint(b, s)
		}
	}
	return b
}

// serverFrame is a ServerFrame split without decoding its body: replyTo,
// the body's oneof field number and its encoded message.
type serverFrame struct {
	replyTo uint64
	field   protowire.Number
	body    []byte
}

// splitServerFrame splits b; ok is false when b is not well-formed.
func splitServerFrame(b []byte) (f serverFrame, ok bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return f, false
		}
		b = b[n:]
		switch {
		case num == fServerReplyTo && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return f, false
			}
			f.replyTo, b = v, b[m:]
		case typ == protowire.BytesType && num != fServerReplyTo:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return f, false
			}
			f.field, f.body, b = num, v, b[m:] // the last oneof member wins, as in proto
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return f, false
			}
			b = b[m:]
		}
	}
	return f, true
}

// fields calls fn with every field of the message b (a varint's value in
// v, a length-delimited field's bytes in p) and reports whether b was
// well-formed; fn returning false stops early.
func fields(b []byte, fn func(num protowire.Number, v uint64, p []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return false
			}
			b = b[m:]
			if !fn(num, v, nil) {
				return true
			}
		case protowire.BytesType:
			p, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return false
			}
			b = b[m:]
			if !fn(num, 0, p) {
				return true
			}
		default:
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return false
			}
			b = b[m:]
		}
	}
	return true
}

// bytesField is the last occurrence of the length-delimited field num in
// the message b (nil when absent).
func bytesField(b []byte, num protowire.Number) (p []byte, ok bool) {
	ok = fields(b, func(n protowire.Number, _ uint64, q []byte) bool {
		if n == num && q != nil {
			p = q
		}
		return true
	})
	return p, ok
}

// deliver is a Deliver split: its seq and which entry it carries.
type deliver struct {
	seq   uint64
	entry protowire.Number // fDeliverEnvelope, fDeliverReceipt, another entry, or 0
	body  []byte
}

func splitDeliver(b []byte) (d deliver, ok bool) {
	ok = fields(b, func(n protowire.Number, v uint64, p []byte) bool {
		switch {
		case n == fDeliverSeq && p == nil:
			d.seq = v
		case p != nil && n != fDeliverSeq:
			d.entry, d.body = n, p
		}
		return true
	})
	return d, ok
}
