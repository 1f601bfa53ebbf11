package bench

import (
	"bytes"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
)

// The lean encoder must produce what the node decodes as the Send the
// proto path would have sent.
func TestAppendSendFrame(t *testing.T) {
	tests := []struct {
		name     string
		to       string
		stream   uint32
		seq      uint64
		size     int
		sentNs   int64
		clientMs int64
	}{
		{"typical", "bench-r-000001", 7, 12345, 160, 987654321, 1_790_000_000_000},
		{"first", "b", 0, 0, 160, 0, 1},
		{"tiny body padded to header", "bench-r-2", 3, 1, 4, 5, 1_790_000_000_000},
		{"large", "bench-r-3", 1<<31 - 1, maxSeq - 1, 16 << 10, 1 << 62, 1_790_000_000_000},
		{"no client time", "bench-r-4", 9, 9, 160, 42, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const tag = 0xfeedbeef
			b := appendSendFrame([]byte("prefix"), tc.to, tc.stream, tc.seq, tag, tc.size, tc.sentNs, tc.clientMs)
			if !bytes.HasPrefix(b, []byte("prefix")) {
				t.Fatalf("prefix overwritten")
			}
			var got pb.ClientFrame
			if err := proto.Unmarshal(b[len("prefix"):], &got); err != nil {
				t.Fatalf("node cannot decode it: %v", err)
			}
			want := sendFrame(tc.to, tc.stream, tc.seq, tag, messageBody(tc.size, tc.sentNs, tc.stream, tc.seq))
			want.GetSend().ClientTimeMs = tc.clientMs
			if !proto.Equal(&got, want) {
				t.Errorf("decoded %v\nwant %v", &got, want)
			}
		})
	}
}

func TestAppendDeliveryAck(t *testing.T) {
	tests := []struct {
		name string
		seqs []uint64
	}{
		{"one", []uint64{1}},
		{"burst", []uint64{5, 6, 7, 300, 1 << 40}},
		{"empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got pb.ClientFrame
			if err := proto.Unmarshal(appendDeliveryAck(nil, tc.seqs), &got); err != nil {
				t.Fatal(err)
			}
			want := &pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: tc.seqs}}}
			if !proto.Equal(&got, want) {
				t.Errorf("decoded %v, want %v", &got, want)
			}
		})
	}
}

// The lean decoder must read from the node's frames what proto.Unmarshal
// would.
func TestSplitServerFrame(t *testing.T) {
	const tag = 0x01020304
	id := messageID(4, 99, tag)
	body := messageBody(160, 777, 4, 99)
	tests := []struct {
		name      string
		f         *pb.ServerFrame
		field     int
		entry     int    // Deliver entry
		seq       uint64 // Deliver seq
		msgID     []byte // SendAck or Envelope message id
		envBody   []byte
		receiptID [][]byte
	}{
		{
			name:  "send ack",
			f:     &pb.ServerFrame{ReplyTo: sendIDFlag | 4<<32 | 99, Body: &pb.ServerFrame_SendAck{SendAck: &pb.SendAck{MessageId: id, ServerTimeMs: 123}}},
			field: fServerSendAck, msgID: id,
		},
		{
			name: "envelope",
			f: &pb.ServerFrame{Body: &pb.ServerFrame_Deliver{Deliver: &pb.Deliver{Seq: 1 << 33, Entry: &pb.Deliver_Envelope{Envelope: &pb.Envelope{
				From: "bench-s-1", FromDevice: 1, MessageId: id, Type: pb.EnvelopeType_CIPHERTEXT, Body: body, ServerTimeMs: 5, To: "bench-r-1",
			}}}}},
			field: fServerDeliver, entry: fDeliverEnvelope, seq: 1 << 33, msgID: id, envBody: body,
		},
		{
			name: "receipt",
			f: &pb.ServerFrame{Body: &pb.ServerFrame_Deliver{Deliver: &pb.Deliver{Seq: 8, Entry: &pb.Deliver_Receipt{Receipt: &pb.Receipt{
				Type: pb.ReceiptType_DELIVERED, From: "bench-r-1", FromDevice: 1, MessageIds: [][]byte{id, messageID(4, 100, tag)},
			}}}}},
			field: fServerDeliver, entry: fDeliverReceipt, seq: 8, receiptID: [][]byte{id, messageID(4, 100, tag)},
		},
		{
			name:  "other frames are left to proto",
			f:     &pb.ServerFrame{ReplyTo: 3, Body: &pb.ServerFrame_QueueDrained{QueueDrained: &pb.QueueDrained{}}},
			field: 20,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := proto.Marshal(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			f, ok := splitServerFrame(b)
			if !ok || int(f.field) != tc.field || f.replyTo != tc.f.ReplyTo {
				t.Fatalf("split = %+v, %v; want field %d reply_to %d", f, ok, tc.field, tc.f.ReplyTo)
			}
			switch tc.field {
			case fServerSendAck:
				if got, ok := bytesField(f.body, fSendAckMessageID); !ok || !bytes.Equal(got, tc.msgID) {
					t.Errorf("message id %x, want %x", got, tc.msgID)
				}
			case fServerDeliver:
				d, ok := splitDeliver(f.body)
				if !ok || d.seq != tc.seq || int(d.entry) != tc.entry {
					t.Fatalf("deliver = %+v, %v; want seq %d entry %d", d, ok, tc.seq, tc.entry)
				}
				if tc.entry == fDeliverEnvelope {
					gotID, _ := bytesField(d.body, fEnvMessageID)
					gotBody, _ := bytesField(d.body, fEnvBody)
					if !bytes.Equal(gotID, tc.msgID) || !bytes.Equal(gotBody, tc.envBody) {
						t.Errorf("envelope id %x body %x", gotID, gotBody)
					}
				}
				if tc.entry == fDeliverReceipt {
					var ids [][]byte
					fields(d.body, func(n protowire.Number, _ uint64, p []byte) bool {
						if n == fReceiptMessageIDs {
							ids = append(ids, p)
						}
						return true
					})
					if len(ids) != len(tc.receiptID) || !bytes.Equal(ids[0], tc.receiptID[0]) || !bytes.Equal(ids[1], tc.receiptID[1]) {
						t.Errorf("receipt ids %x, want %x", ids, tc.receiptID)
					}
				}
			}
		})
	}
	if _, ok := splitServerFrame([]byte{0x0a, 0x05, 0x01}); ok {
		t.Errorf("truncated frame accepted")
	}
}

// A reader fed the node's frames records deliveries, receipts and SendAcks
// against the ledgers exactly as the proto path did.
func TestReaderRecordsLeanFrames(t *testing.T) {
	const tag = 0x0a0b0c0d
	l := &ledger{sentAt: []int64{0, 0}}
	cnt := new(counters)
	r := &reader{tag: tag, cnt: cnt, clk: clock{t0: time.Now()}, out: func(uint32) *ledger { return l }, in: func(uint32) *ledger { return l }}

	env := func(seq uint64) []byte {
		b, _ := proto.Marshal(&pb.Envelope{MessageId: messageID(2, seq, tag), Body: messageBody(160, 1, 2, seq)})
		return b
	}
	r.envelope(env(0))
	r.envelope(env(1))
	r.envelope(env(1))
	rc, _ := proto.Marshal(&pb.Receipt{MessageIds: [][]byte{messageID(2, 0, tag), messageID(2, 1, tag)}})
	r.receipt(rc)
	r.envelope([]byte{0xff})

	if got := cnt.delivered.Load(); got != 2 {
		t.Errorf("delivered = %d, want 2", got)
	}
	if got := cnt.dups.Load(); got != 1 {
		t.Errorf("duplicates = %d, want 1", got)
	}
	if got := cnt.receiptIDs.Load(); got != 2 {
		t.Errorf("receipts = %d, want 2", got)
	}
	if got := cnt.foreign.Load(); got != 1 {
		t.Errorf("foreign = %d, want 1 (the undecodable envelope)", got)
	}
}
