package session

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
)

// hotSeeds are Send and DeliveryAck frames as clients send them, and the
// legal oddities a client of another version may send.
func hotSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	marshal := func(f *pb.ClientFrame) []byte {
		b, err := proto.Marshal(f)
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(b, num, protowire.BytesType), v)
	}
	varint := func(b []byte, num protowire.Number, v uint64) []byte {
		return protowire.AppendVarint(protowire.AppendTag(b, num, protowire.VarintType), v)
	}
	group := marshal(&pb.ClientFrame{Id: 3, Body: &pb.ClientFrame_Send{Send: &pb.Send{
		MessageId: []byte("0123456789abcdef"), To: "bob", Silent: true, Ephemeral: true, GroupId: []byte("g"), ClientTimeMs: -5,
		Ciphertexts: []*pb.OutgoingCiphertext{{User: "bob", DeviceId: 1, Type: pb.EnvelopeType_SENDER_KEY, Body: []byte("x")}, {}},
	}}})
	// A ciphertext with its fields repeated (last one wins), an unknown
	// field and a device id in the wrong wire type (unknown, skipped).
	var ct []byte
	ct = field(ct, ctUser, []byte("first"))
	ct = field(ct, ctUser, []byte("bob"))
	ct = varint(ct, ctDevice, 1)
	ct = varint(ct, ctDevice, 2)
	ct = field(ct, ctDevice, []byte{9})
	ct = varint(ct, 99, 7)
	ct = field(ct, ctBody, []byte("body"))
	ct = field(ct, ctBody, nil)
	var send []byte
	send = field(send, sendTo, []byte("bob"))
	send = field(send, sendCiphertexts, ct)
	send = field(send, sendMessageID, []byte("id"))
	send = protowire.AppendTag(send, 50, protowire.StartGroupType)
	send = varint(send, 1, 1)
	send = protowire.AppendTag(send, 50, protowire.EndGroupType)
	odd := field(varint(nil, frameID, 9), frameSend, send)
	// Seqs unpacked, packed, and both.
	var seqs []byte
	seqs = varint(seqs, ackSeqs, 5)
	seqs = field(seqs, ackSeqs, protowire.AppendVarint(protowire.AppendVarint(nil, 1<<40), 6))
	seqs = varint(seqs, ackSeqs, 7)
	return [][]byte{
		benchSend(tb), benchAck(tb), group, odd,
		field(nil, frameDeliveryAck, seqs),
		field(nil, frameDeliveryAck, nil),
		field(nil, frameSend, nil),
		field(nil, frameSend, field(nil, sendTo, []byte("b\xffd"))),
		field(nil, frameSend, field(nil, sendCiphertexts, field(nil, ctUser, []byte("\xc3")))),
		field(nil, frameDeliveryAck, field(nil, ackSeqs, []byte{0x80})),
		append(benchAck(tb), benchAck(tb)...), // merged by proto
		append(benchSend(tb), marshal(&pb.ClientFrame{Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}})...),
		marshal(&pb.ClientFrame{Id: 1, Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}}),
	}
}

// TestDecodeHot: the hand decoder takes the frames clients send and gives
// what proto.Unmarshal gives.
func TestDecodeHot(t *testing.T) {
	for i, b := range hotSeeds(t)[:6] {
		got, ok := decodeHot(b)
		if !ok {
			t.Errorf("frame %d (%x): not decoded fast", i, b)
			continue
		}
		want, err := decodeWithProto(b)
		if err != nil || !proto.Equal(got, want) {
			t.Errorf("frame %d: fast %v; proto %v, %v", i, got, want, err)
		}
	}
}

// FuzzDecodeHot: DecodeClientFrame with the hand decoder agrees with
// proto.Unmarshal on any input (error or not, and the frame), the frame
// does not alias the input, and frames in the canonical encoding of a
// Send or DeliveryAck take the fast path.
func FuzzDecodeHot(f *testing.F) {
	for _, b := range hotSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		want, werr := decodeWithProto(bytes.Clone(b))
		got, err := DecodeClientFrame(b)
		if (err == nil) != (werr == nil) {
			t.Fatalf("DecodeClientFrame = %v, %v; proto gives %v, %v", got, err, want, werr)
		}
		if err != nil {
			return
		}
		if !proto.Equal(got, want) {
			t.Fatalf("DecodeClientFrame = %v; proto gives %v", got, want)
		}
		fast, ok := decodeHot(b)
		if !ok {
			canon, _ := proto.MarshalOptions{Deterministic: true}.Marshal(want)
			if (want.GetSend() != nil || want.GetDeliveryAck() != nil) && bytes.Equal(canon, b) {
				t.Fatalf("canonical %T frame left to proto", want.Body)
			}
			return
		}
		for i := range b {
			b[i] ^= 0xff
		}
		if !proto.Equal(fast, want) {
			t.Fatalf("the fast frame changed with its input: %v, want %v", fast, want)
		}
	})
}
