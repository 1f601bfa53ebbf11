package session_test

import (
	"bytes"
	"testing"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// TestPipelinedSends: a device may send many messages without waiting for
// each SendAck (more than the node keeps in flight, so back-pressure is
// exercised); every one is acknowledged exactly once, and the recipient
// gets them in the order they were sent, each followed by one DELIVERED
// receipt to the sender.
func TestPipelinedSends(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	bob.Expect(t, "QueueDrained", func(f *pb.ServerFrame) bool { return f.GetQueueDrained() != nil })

	const count = 100
	ids := make([][]byte, count)
	for i := range ids {
		ids[i] = servertest.MessageID()
		s := &pb.Send{MessageId: ids[i], To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{{User: "bob", DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: []byte{byte(i)}}}}
		if err := alice.Write(&pb.ClientFrame{Id: uint64(1000 + i), Body: &pb.ClientFrame_Send{Send: s}}); err != nil {
			t.Fatal(err)
		}
	}
	acked := make(map[uint64]bool)
	for len(acked) < count {
		f := alice.Expect(t, "SendAck", func(f *pb.ServerFrame) bool { return f.GetSendAck() != nil || f.GetError() != nil })
		if f.GetError() != nil || acked[f.ReplyTo] || f.ReplyTo < 1000 || f.ReplyTo >= 1000+count {
			t.Fatalf("unexpected answer %v (already acked: %v)", f, acked[f.ReplyTo])
		}
		if !bytes.Equal(f.GetSendAck().GetMessageId(), ids[f.ReplyTo-1000]) {
			t.Fatalf("SendAck for request %d names another message", f.ReplyTo)
		}
		acked[f.ReplyTo] = true
	}
	var seqs []uint64
	for i := range count {
		f := bob.Expect(t, "Deliver", func(f *pb.ServerFrame) bool { return f.GetDeliver() != nil })
		if got := f.GetDeliver().GetEnvelope().GetMessageId(); !bytes.Equal(got, ids[i]) {
			t.Fatalf("delivery %d is not the %dth message sent", i, i)
		}
		seqs = append(seqs, f.GetDeliver().Seq)
	}
	if err := bob.Write(&pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: seqs}}}); err != nil {
		t.Fatal(err)
	}
	receipted := 0
	for receipted < count {
		f := alice.Expect(t, "receipt", func(f *pb.ServerFrame) bool { return f.GetDeliver().GetReceipt() != nil })
		receipted += len(f.GetDeliver().GetReceipt().GetMessageIds())
	}
	if receipted != count {
		t.Fatalf("%d receipts for %d messages", receipted, count)
	}
}
