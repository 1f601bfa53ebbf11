package session

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
)

// A queue entry's payload is a marshalled pb.Deliver without its seq. The
// seq is known only after Enqueue, and protobuf lets the pump prepend it
// (field 1) to the stored bytes, so delivering costs no decode/encode.

// fieldDeliver is ServerFrame.deliver's field number.
const fieldDeliver = 16

func envelopePayload(e *pb.Envelope) ([]byte, error) {
	b, err := proto.Marshal(&pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: e}})
	if err != nil {
		return nil, fmt.Errorf("session: marshal envelope: %w", err)
	}
	return b, nil
}

func receiptPayload(r *pb.Receipt) ([]byte, error) {
	b, err := proto.Marshal(&pb.Deliver{Entry: &pb.Deliver_Receipt{Receipt: r}})
	if err != nil {
		return nil, fmt.Errorf("session: marshal receipt: %w", err)
	}
	return b, nil
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
