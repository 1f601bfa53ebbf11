package session_test

import (
	"bytes"
	"fmt"
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

// TestConcurrentSendersOneRecipient: several devices send to one online
// device at once, so their durable entries are handed to its session out
// of order and with gaps; it still gets every message exactly once, in
// queue order with no seq skipped.
func TestConcurrentSendersOneRecipient(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	bob := servertest.Register(t, n, "bob")
	bob.Expect(t, "QueueDrained", func(f *pb.ServerFrame) bool { return f.GetQueueDrained() != nil })
	const senders, each = 4, 60
	done := make(chan error, senders)
	for i := range senders {
		c := servertest.Register(t, n, fmt.Sprintf("sender_%d", i))
		go func() {
			for j := range each {
				s := &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{{User: "bob", DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: []byte{byte(i), byte(j)}}}}
				if err := c.Write(&pb.ClientFrame{Id: uint64(j + 1), Body: &pb.ClientFrame_Send{Send: s}}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range senders {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	next := make([]int, senders) // per sender, the next message expected
	var last uint64
	var unacked []uint64
	for got := 0; got < senders*each; got++ {
		f := bob.Expect(t, "Deliver", func(f *pb.ServerFrame) bool { return f.GetDeliver().GetEnvelope() != nil })
		d := f.GetDeliver()
		if last != 0 && d.Seq != last+1 {
			t.Fatalf("seq %d after %d", d.Seq, last)
		}
		last = d.Seq
		body := d.GetEnvelope().GetBody()
		if len(body) != 2 || int(body[0]) >= senders || int(body[1]) != next[body[0]] {
			t.Fatalf("delivery %d: body %v, want message %d of sender %d", got, body, next[body[0]%senders], body[0])
		}
		next[body[0]]++
		unacked = append(unacked, d.Seq)
		if len(unacked) == 50 { // ack in batches as a device does
			if err := bob.Write(&pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: unacked}}}); err != nil {
				t.Fatal(err)
			}
			unacked = nil
		}
	}
}
