package session

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
)

func mustPayload(t testing.TB, d *pb.Deliver) []byte {
	t.Helper()
	b, err := proto.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sameFacts(a, b receiptFacts) bool {
	return a.envelope == b.envelope && a.from == b.from && a.to == b.to && bytes.Equal(a.messageID, b.messageID) &&
		bytes.Equal(a.groupID, b.groupID) && a.silent == b.silent && a.ephemeral == b.ephemeral
}

func payloadSeeds(t testing.TB) [][]byte {
	env := &pb.Envelope{From: "alice", FromDevice: 2, MessageId: []byte("0123456789abcdef"), Type: pb.EnvelopeType_CIPHERTEXT, Body: bytes.Repeat([]byte{7}, 160), ServerTimeMs: 1, To: "bob"}
	group := &pb.Envelope{From: "alice", MessageId: []byte("m"), Type: pb.EnvelopeType_SENDER_KEY, GroupId: []byte("g"), Body: []byte("x")}
	silent := &pb.Envelope{From: "alice", To: "bob", Silent: true, MessageId: []byte("s")}
	typing := &pb.Envelope{From: "alice", To: "bob", Ephemeral: true}
	out := [][]byte{
		mustPayload(t, &pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: env}}),
		mustPayload(t, &pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: group}}),
		mustPayload(t, &pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: silent}}),
		mustPayload(t, &pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: typing}}),
		mustPayload(t, &pb.Deliver{Entry: &pb.Deliver_Receipt{Receipt: &pb.Receipt{Type: pb.ReceiptType_DELIVERED, From: "bob", MessageIds: [][]byte{[]byte("m")}}}}),
		mustPayload(t, &pb.Deliver{Seq: 9, Entry: &pb.Deliver_Envelope{Envelope: env}}),
		{},
	}
	// Not what the node writes, but legal protobuf: an envelope sent twice
	// (merged), then a receipt after an envelope (the oneof switches).
	e1 := mustPayload(t, &pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: &pb.Envelope{From: "a"}}})
	e2 := mustPayload(t, &pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: &pb.Envelope{To: "b"}}})
	r := mustPayload(t, &pb.Deliver{Entry: &pb.Deliver_Receipt{Receipt: &pb.Receipt{From: "b"}}})
	out = append(out, append(bytes.Clone(e1), e2...), append(bytes.Clone(e1), r...))
	// A repeated field inside the envelope (last one wins).
	inner := protowire.AppendTag(nil, envFrom, protowire.BytesType)
	inner = protowire.AppendString(inner, "first")
	inner = protowire.AppendTag(inner, envFrom, protowire.BytesType)
	inner = protowire.AppendString(inner, "second")
	outer := protowire.AppendTag(nil, deliverEnvelope, protowire.BytesType)
	out = append(out, protowire.AppendBytes(outer, inner))
	return out
}

// TestReceiptFacts: the fast reader agrees with the full decode on what
// the node writes, and on the legal oddities it hands to the full decode.
func TestReceiptFacts(t *testing.T) {
	for i, b := range payloadSeeds(t) {
		want, werr := decodeReceiptFacts(b)
		got, err := receiptFactsOf(b)
		if (err == nil) != (werr == nil) || !sameFacts(got, want) {
			t.Errorf("payload %d: facts %+v, %v; the full decode gives %+v, %v", i, got, err, want, werr)
		}
	}
	if f, ok := readReceiptFacts(payloadSeeds(t)[0]); !ok || !f.wants("bob") || f.wants("carol") {
		t.Errorf("the node's own envelope encoding is not read fast, or wants a receipt wrongly: %+v, %v", f, ok)
	}
}

// FuzzReceiptFacts: whenever the fast reader answers, the full decode
// succeeds and agrees.
func FuzzReceiptFacts(f *testing.F) {
	for _, b := range payloadSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := readReceiptFacts(b)
		if !ok {
			return
		}
		want, err := decodeReceiptFacts(b)
		if err != nil {
			t.Fatalf("fast reader accepted what the full decode refuses: %v", err)
		}
		if !sameFacts(got, want) {
			t.Fatalf("fast %+v, full %+v", got, want)
		}
	})
}

// BenchmarkReceiptFacts: what an ack spends per acknowledged entry to
// decide its receipt, read fast or decoded fully.
func BenchmarkReceiptFacts(b *testing.B) {
	p := payloadSeeds(b)[0] // a 160-byte one-to-one envelope
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, ok := readReceiptFacts(p); !ok {
				b.Fatal("not read")
			}
		}
	})
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := decodeReceiptFacts(p); err != nil {
				b.Fatal(err)
			}
		}
	})
}
