package session

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
)

// benchSend is the Send frame of a one-to-one message as `parley bench
// msgs` makes it: one ciphertext for the recipient's device, one for the
// sender's other device.
func benchSend(tb testing.TB) []byte {
	tb.Helper()
	b, err := proto.Marshal(&pb.ClientFrame{Id: 42, Body: &pb.ClientFrame_Send{Send: &pb.Send{
		MessageId:    bytes.Repeat([]byte{1}, 16),
		To:           "rcv17",
		ClientTimeMs: 1_790_000_000_000,
		Ciphertexts: []*pb.OutgoingCiphertext{
			{User: "rcv17", DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: bytes.Repeat([]byte{7}, 160)},
			{User: "snd17", DeviceId: 2, Type: pb.EnvelopeType_CIPHERTEXT, Body: bytes.Repeat([]byte{8}, 160)},
		},
	}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// benchAck acknowledges a delivery window's worth of entries.
func benchAck(tb testing.TB) []byte {
	tb.Helper()
	seqs := make([]uint64, 8)
	for i := range seqs {
		seqs[i] = uint64(100_000 + i)
	}
	b, err := proto.Marshal(&pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: seqs}}})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkDecodeClientFrame: what the reader spends decoding the two
// frames every message brings (a Send, and later a DeliveryAck), by hand
// (what DecodeClientFrame does) and through proto.Unmarshal.
func BenchmarkDecodeClientFrame(b *testing.B) {
	for _, c := range []struct {
		name  string
		frame []byte
	}{{"send", benchSend(b)}, {"ack", benchAck(b)}} {
		for _, d := range []struct {
			name   string
			decode func([]byte) (*pb.ClientFrame, error)
		}{{"fast", DecodeClientFrame}, {"proto", decodeWithProto}} {
			b.Run(c.name+"/"+d.name, func(b *testing.B) {
				b.ReportAllocs()
				for range b.N {
					if _, err := d.decode(c.frame); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPayload: encoding one stored envelope (per ciphertext of a
// Send) and one receipt (per sender per ack).
func BenchmarkPayload(b *testing.B) {
	body := bytes.Repeat([]byte{7}, 160)
	id := bytes.Repeat([]byte{1}, 16)
	b.Run("envelope", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := envelopePayload(&pb.Envelope{From: "snd17", FromDevice: 1, MessageId: id, Type: pb.EnvelopeType_CIPHERTEXT, Body: body, ServerTimeMs: 1_790_000_000_000, To: "rcv17"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("receipt", func(b *testing.B) {
		b.ReportAllocs()
		ids := [][]byte{id, id, id, id}
		for range b.N {
			if _, err := receiptPayload(&pb.Receipt{Type: pb.ReceiptType_DELIVERED, From: "rcv17", FromDevice: 1, MessageIds: ids, ServerTimeMs: 1_790_000_000_000}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
