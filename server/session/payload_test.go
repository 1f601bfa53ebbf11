package session

import (
	"bytes"
	"math"
	"strings"
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
	// Every message's DELIVERED receipt is acknowledged too: read fast.
	if f, ok := readReceiptFacts(payloadSeeds(t)[4]); !ok || f.envelope || f.wants("bob") {
		t.Errorf("the node's own receipt encoding is not read fast, or wants a receipt: %+v, %v", f, ok)
	}
	// A receipt with a bad string is the full decode's to refuse.
	badFrom := protowire.AppendBytes(protowire.AppendTag(nil, rcptFrom, protowire.BytesType), []byte{0xff})
	bad := protowire.AppendBytes(protowire.AppendTag(nil, deliverReceipt, protowire.BytesType), badFrom)
	if _, err := decodeReceiptFacts(bad); err == nil {
		t.Fatal("the full decode accepts invalid UTF-8: the case below tests nothing")
	}
	if _, ok := readReceiptFacts(bad); ok {
		t.Error("a receipt with invalid UTF-8 in from was read fast")
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

// samePayload fails unless the hand encoders give proto.Marshal's bytes,
// or both refuse (invalid UTF-8).
func samePayload(t *testing.T, e *pb.Envelope, r *pb.Receipt) {
	t.Helper()
	want, werr := proto.Marshal(&pb.Deliver{Entry: &pb.Deliver_Envelope{Envelope: e}})
	got, err := envelopePayload(e)
	if (err == nil) != (werr == nil) || err == nil && !bytes.Equal(got, want) {
		t.Fatalf("envelopePayload(%v) = %x, %v; proto.Marshal gives %x, %v", e, got, err, want, werr)
	}
	if err == nil && cap(got) != len(got) {
		t.Errorf("envelope payload of %d bytes in a buffer of %d", len(got), cap(got))
	}
	want, werr = proto.Marshal(&pb.Deliver{Entry: &pb.Deliver_Receipt{Receipt: r}})
	got, err = receiptPayload(r)
	if (err == nil) != (werr == nil) || err == nil && !bytes.Equal(got, want) {
		t.Fatalf("receiptPayload(%v) = %x, %v; proto.Marshal gives %x, %v", r, got, err, want, werr)
	}
	if err == nil && cap(got) != len(got) {
		t.Errorf("receipt payload of %d bytes in a buffer of %d", len(got), cap(got))
	}
}

// TestPayloadMatchesMarshal: the stored payloads are byte for byte what
// proto.Marshal makes, for every combination of set and zero fields and
// for values at the varint size boundaries.
func TestPayloadMatchesMarshal(t *testing.T) {
	strs := []string{"", "alice", strings.Repeat("é", 70), "bad\xff"}
	blobs := [][]byte{nil, {}, []byte("0123456789abcdef"), bytes.Repeat([]byte{9}, 200)}
	ints := []int64{0, 1, 127, 128, 1<<32 - 1, 1 << 40, -1, math.MinInt64, math.MaxInt64}
	for mask := range 1 << 10 {
		pick := func(bit, n int) int {
			if mask&(1<<bit) == 0 {
				return 0
			}
			return 1 + (mask>>bit)%(n-1)
		}
		v := ints[mask%len(ints)]
		e := &pb.Envelope{
			From: strs[pick(0, len(strs))], FromDevice: uint32(v), MessageId: blobs[pick(1, len(blobs))],
			Type: pb.EnvelopeType(int32(v)), Body: blobs[pick(2, len(blobs))], ServerTimeMs: v,
			To: strs[pick(3, len(strs))], Silent: mask&(1<<4) != 0, GroupId: blobs[pick(5, len(blobs))], Ephemeral: mask&(1<<6) != 0,
		}
		if mask&(1<<7) != 0 {
			e.FromDevice, e.Type, e.ServerTimeMs = 0, 0, 0
		}
		r := &pb.Receipt{Type: pb.ReceiptType(int32(v)), From: e.From, FromDevice: e.FromDevice, MessageIds: blobs[:pick(8, len(blobs)+1)], ServerTimeMs: e.ServerTimeMs}
		if mask&(1<<9) != 0 {
			r.MessageIds = make([][]byte, maxReceiptIDs)
			for i := range r.MessageIds {
				r.MessageIds[i] = blobs[2]
			}
		}
		samePayload(t, e, r)
	}
}

// FuzzPayload: the hand encoders agree with proto.Marshal on any field
// values.
func FuzzPayload(f *testing.F) {
	f.Add("alice", uint32(2), []byte("0123456789abcdef"), int32(2), []byte("body"), int64(1790000000000), "bob", false, []byte(nil), false)
	f.Add("", uint32(0), []byte(nil), int32(-1), []byte(nil), int64(-1), "b\xc3", true, []byte("g"), true)
	f.Fuzz(func(t *testing.T, from string, dev uint32, id []byte, typ int32, body []byte, ms int64, to string, silent bool, group []byte, eph bool) {
		e := &pb.Envelope{From: from, FromDevice: dev, MessageId: id, Type: pb.EnvelopeType(typ), Body: body, ServerTimeMs: ms, To: to, Silent: silent, GroupId: group, Ephemeral: eph}
		r := &pb.Receipt{Type: pb.ReceiptType(typ), From: to, FromDevice: dev, MessageIds: bytes.SplitAfter(body, []byte{0}), ServerTimeMs: ms}
		samePayload(t, e, r)
	})
}
