package session

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
)

// A queue entry's payload is a marshalled pb.Deliver without its seq. The
// seq is known only after Enqueue, and protobuf lets the pump prepend it
// (field 1) to the stored bytes, so delivering costs no decode/encode.

// fieldDeliver is ServerFrame.deliver's field number.
const fieldDeliver = 16

// The payloads are encoded by hand, straight into one exactly-sized
// buffer: proto.Marshal of a freshly built pb.Deliver was a visible share
// of the node's CPU per message. The bytes are proto.Marshal's (fields in
// number order, proto3 zero values omitted, invalid UTF-8 in a string
// refused), which TestPayloadMatchesMarshal and FuzzPayload check.

// Field numbers of pb.Deliver and pb.Receipt the encoders write (the
// envelope's are below, with receiptFacts).
const (
	deliverReceipt = 3
	envFromDevice  = 2
	envType        = 4
	envBody        = 5
	envServerTime  = 6
	rcptType       = 1
	rcptFrom       = 2
	rcptFromDevice = 3
	rcptMessageIDs = 4
	rcptServerTime = 5
)

// envelopePayload encodes Deliver{envelope: e}, without seq.
func envelopePayload(e *pb.Envelope) ([]byte, error) {
	if !utf8.ValidString(e.From) || !utf8.ValidString(e.To) {
		return nil, errors.New("session: marshal envelope: invalid UTF-8 in from or to")
	}
	n := sizeString(envFrom, e.From) + sizeVarint(envFromDevice, uint64(e.FromDevice)) +
		sizeBytes(envMessageID, e.MessageId) + sizeVarint(envType, uint64(int64(e.Type))) +
		sizeBytes(envBody, e.Body) + sizeVarint(envServerTime, uint64(e.ServerTimeMs)) +
		sizeString(envTo, e.To) + sizeBool(envSilent, e.Silent) + sizeBytes(envGroupID, e.GroupId) +
		sizeBool(envEphemeral, e.Ephemeral)
	b := make([]byte, 0, protowire.SizeTag(deliverEnvelope)+protowire.SizeBytes(n))
	b = protowire.AppendTag(b, deliverEnvelope, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = appendString(b, envFrom, e.From)
	b = appendVarint(b, envFromDevice, uint64(e.FromDevice))
	b = appendBytes(b, envMessageID, e.MessageId)
	b = appendVarint(b, envType, uint64(int64(e.Type)))
	b = appendBytes(b, envBody, e.Body)
	b = appendVarint(b, envServerTime, uint64(e.ServerTimeMs))
	b = appendString(b, envTo, e.To)
	b = appendBool(b, envSilent, e.Silent)
	b = appendBytes(b, envGroupID, e.GroupId)
	return appendBool(b, envEphemeral, e.Ephemeral), nil
}

// receiptPayload encodes Deliver{receipt: r}, without seq.
func receiptPayload(r *pb.Receipt) ([]byte, error) {
	if !utf8.ValidString(r.From) {
		return nil, errors.New("session: marshal receipt: invalid UTF-8 in from")
	}
	n := sizeVarint(rcptType, uint64(int64(r.Type))) + sizeString(rcptFrom, r.From) +
		sizeVarint(rcptFromDevice, uint64(r.FromDevice)) + sizeVarint(rcptServerTime, uint64(r.ServerTimeMs))
	for _, id := range r.MessageIds {
		n += protowire.SizeTag(rcptMessageIDs) + protowire.SizeBytes(len(id))
	}
	b := make([]byte, 0, protowire.SizeTag(deliverReceipt)+protowire.SizeBytes(n))
	b = protowire.AppendTag(b, deliverReceipt, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = appendVarint(b, rcptType, uint64(int64(r.Type)))
	b = appendString(b, rcptFrom, r.From)
	b = appendVarint(b, rcptFromDevice, uint64(r.FromDevice))
	for _, id := range r.MessageIds { // repeated: every element, empty or not
		b = protowire.AppendTag(b, rcptMessageIDs, protowire.BytesType)
		b = protowire.AppendBytes(b, id)
	}
	return appendVarint(b, rcptServerTime, uint64(r.ServerTimeMs)), nil
}

// Sizes and appends of one proto3 singular field: a zero value is omitted.

func sizeVarint(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func sizeBool(num protowire.Number, v bool) int {
	if !v {
		return 0
	}
	return protowire.SizeTag(num) + 1
}

func sizeBytes(num protowire.Number, v []byte) int {
	if len(v) == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(v))
}

func sizeString(num protowire.Number, v string) int {
	if v == "" {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(len(v))
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
}

func appendBool(b []byte, num protowire.Number, v bool) []byte {
	if !v {
		return b
	}
	return append(protowire.AppendTag(b, num, protowire.VarintType), 1)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
}

func appendString(b []byte, num protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, num, protowire.BytesType), v)
}

// appendDeliverFrame appends the ServerFrame{deliver: Deliver{seq, ...}}
// encoding of one entry to dst.
func appendDeliverFrame(dst []byte, seq uint64, payload []byte) []byte {
	inner := protowire.SizeTag(1) + protowire.SizeVarint(seq) + len(payload)
	dst = protowire.AppendTag(dst, fieldDeliver, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(inner))
	dst = protowire.AppendTag(dst, 1, protowire.VarintType)
	dst = protowire.AppendVarint(dst, seq)
	return append(dst, payload...)
}

// decodePayload reads a stored payload back (for receipts on ack).
func decodePayload(b []byte) (*pb.Deliver, error) {
	d := new(pb.Deliver)
	if err := proto.Unmarshal(b, d); err != nil {
		return nil, fmt.Errorf("session: stored payload: %w", err)
	}
	return d, nil
}

// receiptFacts is what a receipt needs from a stored payload: whether it
// holds an envelope, and the envelope's fields that decide the receipt.
type receiptFacts struct {
	envelope           bool
	from, to           string
	messageID, groupID []byte
	silent, ephemeral  bool
}

// Field numbers of pb.Deliver and pb.Envelope that receiptFacts reads.
const (
	deliverEnvelope = 2
	envFrom         = 1
	envMessageID    = 3
	envTo           = 7
	envSilent       = 8
	envGroupID      = 9
	envEphemeral    = 10
)

// wellFormedReceipt reports whether b is a Receipt as the node writes it:
// every field known, of its own wire type, the one string valid UTF-8.
// Anything else is left to the full decode.
func wellFormedReceipt(b []byte) bool {
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		switch {
		case (num == rcptType || num == rcptFromDevice || num == rcptServerTime) && typ == protowire.VarintType:
			_, n = protowire.ConsumeVarint(b)
		case num == rcptFrom && typ == protowire.BytesType:
			var v []byte
			if v, n = protowire.ConsumeBytes(b); n >= 0 && !utf8.Valid(v) {
				return false
			}
		case num == rcptMessageIDs && typ == protowire.BytesType:
			_, n = protowire.ConsumeBytes(b)
		default:
			return false
		}
		if n < 0 {
			return false
		}
		b = b[n:]
	}
	return true
}

// readReceiptFacts reads receiptFacts from a stored payload without
// unmarshalling it: on every ack the node reads each acknowledged entry
// back, and the full protobuf decode (bodies, allocations) was a visible
// share of the ack path. ok is false for anything but the canonical
// encoding the node itself writes (a repeated or out-of-place field, an
// unknown wire type): the caller then decodes it fully, so the result is
// always what proto.Unmarshal would give (FuzzReceiptFacts).
func readReceiptFacts(b []byte) (f receiptFacts, ok bool) {
	var env []byte
	seen, receipt := false, false
	for len(b) > 0 {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return f, false
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.VarintType: // seq: not stored, but harmless
			_, n = protowire.ConsumeVarint(b)
		case num == deliverEnvelope && typ == protowire.BytesType && !seen && !receipt:
			env, n = protowire.ConsumeBytes(b)
			seen = true
		case num == deliverReceipt && typ == protowire.BytesType && !seen && !receipt:
			// A receipt being acknowledged makes no receipt, which is
			// all this needs to know; it is checked as the full decode
			// would check it, so both agree (FuzzReceiptFacts).
			var r []byte
			if r, n = protowire.ConsumeBytes(b); n >= 0 && !wellFormedReceipt(r) {
				return f, false
			}
			receipt = true
		default:
			return f, false // a group event, a repeated or switched oneof: decode fully
		}
		if n < 0 {
			return f, false
		}
		b = b[n:]
	}
	if receipt {
		return receiptFacts{}, true
	}
	if !seen {
		return f, false
	}
	f.envelope = true
	var got [envEphemeral + 1]bool
	for len(env) > 0 {
		num, typ, n := consumeTag(env)
		if n < 0 || num <= 0 || int(num) < len(got) && got[num] {
			return f, false // malformed, or a repeated field (merge rules): decode fully
		}
		env = env[n:]
		if int(num) < len(got) {
			got[num] = true
		}
		switch typ {
		case protowire.VarintType:
			var v uint64
			v, n = protowire.ConsumeVarint(env)
			switch num {
			case envSilent:
				f.silent = v != 0
			case envEphemeral:
				f.ephemeral = v != 0
			}
		case protowire.BytesType:
			var v []byte
			v, n = protowire.ConsumeBytes(env)
			switch num {
			case envFrom, envTo:
				if !utf8.Valid(v) {
					return f, false // proto rejects it; let the full decode say so
				}
				if num == envFrom {
					f.from = string(v)
				} else {
					f.to = string(v)
				}
			case envMessageID:
				f.messageID = v
			case envGroupID:
				f.groupID = v
			}
		default:
			n = protowire.ConsumeFieldValue(num, typ, env)
		}
		if n < 0 {
			return f, false
		}
		env = env[n:]
	}
	return f, true
}

// receiptFactsOf is readReceiptFacts with the full decode as fallback.
func receiptFactsOf(b []byte) (receiptFacts, error) {
	if f, ok := readReceiptFacts(b); ok {
		return f, nil
	}
	return decodeReceiptFacts(b)
}

// decodeReceiptFacts reads receiptFacts through the full decode.
func decodeReceiptFacts(b []byte) (receiptFacts, error) {
	d, err := decodePayload(b)
	if err != nil {
		return receiptFacts{}, err
	}
	e := d.GetEnvelope()
	if e == nil {
		return receiptFacts{}, nil
	}
	return receiptFacts{envelope: true, from: e.From, to: e.To, messageID: e.MessageId, groupID: e.GroupId, silent: e.Silent, ephemeral: e.Ephemeral}, nil
}

// wants reports whether acknowledging the entry makes a DELIVERED receipt
// for self: pairwise envelopes addressed to self, and group envelopes (to
// is empty) from another user. Copies of one's own sends, silent and
// ephemeral envelopes, receipts and events make none.
func (f receiptFacts) wants(self string) bool {
	switch {
	case !f.envelope || f.silent || f.ephemeral:
		return false
	case f.to == self:
		return true
	}
	return f.to == "" && len(f.groupID) > 0 && f.from != self
}
