package server_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// The whole life of a message: send → SendAck → Deliver → DeliveryAck →
// DELIVERED receipt to the sender → receipt acked without a receipt back.
func TestSendDeliverAckReceipt(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	bob.Expect(t, "QueueDrained", func(f *pb.ServerFrame) bool { return f.GetQueueDrained() != nil })

	msg := &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{
		{User: "bob", DeviceId: 1, Type: pb.EnvelopeType_PREKEY_MESSAGE, Body: []byte("ciphertext-1")},
	}}
	r := alice.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_Send{Send: msg}})
	if a := r.GetSendAck(); a == nil || !bytes.Equal(a.MessageId, msg.MessageId) {
		t.Fatalf("send reply %v, want SendAck", r)
	}

	d := bob.Expect(t, "Deliver", isDeliver).GetDeliver()
	e := d.GetEnvelope()
	if e == nil || e.From != "alice" || e.FromDevice != 1 || e.To != "bob" || !bytes.Equal(e.MessageId, msg.MessageId) ||
		e.Type != pb.EnvelopeType_PREKEY_MESSAGE || string(e.Body) != "ciphertext-1" || d.Seq == 0 {
		t.Fatalf("deliver = %v", d)
	}
	if err := bob.Write(ack(d.Seq)); err != nil {
		t.Fatal(err)
	}

	rd := alice.Expect(t, "receipt", isDeliver).GetDeliver()
	rc := rd.GetReceipt()
	if rc == nil || rc.Type != pb.ReceiptType_DELIVERED || rc.From != "bob" || rc.FromDevice != 1 ||
		len(rc.MessageIds) != 1 || !bytes.Equal(rc.MessageIds[0], msg.MessageId) {
		t.Fatalf("receipt = %v", rd)
	}
	if err := alice.Write(ack(rd.Seq)); err != nil {
		t.Fatal(err)
	}
	// Acking a receipt makes nothing for bob; the queues end empty.
	st := server.StoreOf(n.Node)
	waitDepth(t, st, protocol.Address{User: "alice", Device: 1}, 0)
	waitDepth(t, st, protocol.Address{User: "bob", Device: 1}, 0)
	bob.Timeout = 200 * time.Millisecond
	if f, err := bob.Next(); err == nil {
		t.Fatalf("bob got %v after acking, want nothing", f)
	}
}

type depther interface {
	QueueDepth(context.Context, protocol.Address) (int, error)
}

func waitDepth(t *testing.T, st depther, a protocol.Address, want int) {
	t.Helper()
	var got int
	for range 200 {
		var err error
		if got, err = st.QueueDepth(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		if got == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("queue depth of %s = %d, want %d", a, got, want)
}

func TestSilentMessagesGetNoReceipt(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	s := &pb.Send{MessageId: servertest.MessageID(), To: "bob", Silent: true, Ciphertexts: []*pb.OutgoingCiphertext{
		{User: "bob", DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: []byte("typing")}}}
	if r := alice.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_Send{Send: s}}); r.GetSendAck() == nil {
		t.Fatal(r)
	}
	d := bob.Expect(t, "Deliver", isDeliver).GetDeliver()
	if !d.GetEnvelope().GetSilent() {
		t.Fatalf("silent flag lost: %v", d)
	}
	bob.Write(ack(d.Seq))
	waitDepth(t, server.StoreOf(n.Node), protocol.Address{User: "bob", Device: 1}, 0)
	alice.Timeout = 300 * time.Millisecond
	for {
		f, err := alice.Next()
		if err != nil {
			break
		}
		if f.GetDeliver() != nil {
			t.Fatalf("alice got %v for a silent message", f)
		}
	}
}

func TestSendErrors(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	servertest.Register(t, n, "bob")
	ct := func(user string, dev uint32) *pb.OutgoingCiphertext {
		return &pb.OutgoingCiphertext{User: user, DeviceId: dev, Type: pb.EnvelopeType_CIPHERTEXT, Body: []byte("x")}
	}
	tests := []struct {
		name string
		send *pb.Send
		want pb.ErrorCode
	}{
		{"unknown user", &pb.Send{MessageId: servertest.MessageID(), To: "nobody", Ciphertexts: []*pb.OutgoingCiphertext{ct("nobody", 1)}}, pb.ErrorCode_NOT_FOUND},
		{"to oneself", &pb.Send{MessageId: servertest.MessageID(), To: "alice", Ciphertexts: []*pb.OutgoingCiphertext{ct("alice", 2)}}, pb.ErrorCode_NOT_FOUND},
		{"short id", &pb.Send{MessageId: []byte{1, 2}, To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{ct("bob", 1)}}, pb.ErrorCode_INVALID_ARGUMENT},
		{"no ciphertexts", &pb.Send{MessageId: servertest.MessageID(), To: "bob"}, pb.ErrorCode_INVALID_ARGUMENT},
		{"stale: unknown device", &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{ct("bob", 1), ct("bob", 2)}}, pb.ErrorCode_STALE_DEVICES},
		{"stale: missing device", &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{ct("alice", 7)}}, pb.ErrorCode_STALE_DEVICES},
		{"duplicate device", &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{ct("bob", 1), ct("bob", 1)}}, pb.ErrorCode_STALE_DEVICES},
		{"third party", &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{ct("carol", 1)}}, pb.ErrorCode_INVALID_ARGUMENT},
		{"bad type", &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{{User: "bob", DeviceId: 1, Type: 99, Body: []byte("x")}}}, pb.ErrorCode_INVALID_ARGUMENT},
		{"too large", &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{{User: "bob", DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: make([]byte, protocol.MaxCiphertextSize+1)}}}, pb.ErrorCode_TOO_LARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := alice.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_Send{Send: tt.send}})
			e := wantError(t, r, tt.want)
			if tt.want == pb.ErrorCode_STALE_DEVICES {
				if len(e.DeviceLists) != 2 || e.DeviceLists[0].User != "bob" || fmt.Sprint(e.DeviceLists[0].DeviceIds) != "[1]" ||
					e.DeviceLists[1].User != "alice" || fmt.Sprint(e.DeviceLists[1].DeviceIds) != "[1]" {
					t.Fatalf("device lists = %v", e.DeviceLists)
				}
			}
		})
	}
	if depth, _ := server.StoreOf(n.Node).QueueDepth(context.Background(), protocol.Address{User: "bob", Device: 1}); depth != 0 {
		t.Fatalf("refused sends left %d entries in bob's queue", depth)
	}
}

// Messages to an offline device wait in order and come with QueueDrained on
// connect, with at most DeliveryWindow unacknowledged at a time.
func TestOfflineBacklogWindowAndDrain(t *testing.T) {
	const window, total = 4, 10
	n := servertest.Start(t, server.Config{DeliveryWindow: window})
	alice := servertest.Register(t, n, "alice")
	bobKey := servertest.NewKey()
	bob := servertest.Dial(t, n, bobKey)
	if err := bob.Register("bob", "", 1, 1); err != nil {
		t.Fatal(err)
	}
	bob.Close()
	for i := range total {
		if r, _ := alice.SendTo("bob", []uint32{1}, []byte(fmt.Sprint("m", i))); r.GetSendAck() == nil {
			t.Fatalf("send %d: %v", i, r)
		}
	}
	bob = servertest.Dial(t, n, bobKey)
	var got []string
	var drained *pb.QueueDrained
	for len(got) < total || drained == nil {
		var batch []uint64
		for len(batch) < window && len(got)+len(batch) < total {
			f, err := bob.Next()
			if err != nil {
				t.Fatalf("after %d messages: %v", len(got), err)
			}
			if q := f.GetQueueDrained(); q != nil {
				drained = q
				continue
			}
			d := f.GetDeliver()
			if d == nil {
				continue
			}
			batch = append(batch, d.Seq)
			got = append(got, string(d.GetEnvelope().Body))
		}
		// With the window full, nothing more comes until we ack.
		if len(batch) == window {
			bob.Timeout = 150 * time.Millisecond
			if f, err := bob.Read(); err == nil && f.GetDeliver() != nil {
				t.Fatalf("got a Deliver beyond the window of %d", window)
			} else if err == nil {
				bob.Pushed = append(bob.Pushed, f)
			}
			bob.Timeout = 5 * time.Second
		}
		if len(batch) > 0 {
			bob.Write(ack(batch...))
		}
		if len(got) == total && drained == nil {
			f := bob.Expect(t, "QueueDrained", func(f *pb.ServerFrame) bool { return f.GetQueueDrained() != nil })
			drained = f.GetQueueDrained()
		}
	}
	for i, m := range got {
		if m != fmt.Sprint("m", i) {
			t.Fatalf("message %d = %q, out of order: %q", i, m, got)
		}
	}
	if drained.Delivered != total {
		t.Fatalf("QueueDrained.delivered = %d, want %d", drained.Delivered, total)
	}
}

// A backlog of several pump passes, small messages mixed with the largest
// ciphertexts, drains in order and exactly once while the device acks in
// batches as a client does (the pump sizes its passes by the entries it
// meets: session/pump.go).
func TestLargeMixedBacklogDrains(t *testing.T) {
	const total = 700
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	bobKey := bob.Key
	bob.Close()
	body := func(i int) []byte {
		b := []byte(fmt.Sprintf("m%04d", i))
		if i%3 == 0 {
			b = append(b, bytes.Repeat([]byte{'x'}, protocol.MaxCiphertextSize-len(b))...)
		}
		return b
	}
	for i := range total {
		if r, _ := alice.SendTo("bob", []uint32{1}, body(i)); r.GetSendAck() == nil {
			t.Fatalf("send %d: %v", i, r)
		}
	}
	bob = servertest.Dial(t, n, bobKey)
	var got int
	var pending []uint64
	var drained *pb.QueueDrained
	for got < total || drained == nil {
		f, err := bob.Next()
		if err != nil {
			t.Fatalf("after %d messages: %v", got, err)
		}
		if q := f.GetQueueDrained(); q != nil {
			drained = q
			continue
		}
		d := f.GetDeliver()
		if d == nil {
			continue
		}
		if want := body(got); !bytes.Equal(d.GetEnvelope().Body, want) {
			t.Fatalf("delivery %d is %.8q (%d bytes), want %.8q (%d bytes)", got, d.GetEnvelope().Body, len(d.GetEnvelope().Body), want, len(want))
		}
		got++
		if pending = append(pending, d.Seq); len(pending) == 128 || got == total {
			if err := bob.Write(ack(pending...)); err != nil {
				t.Fatal(err)
			}
			pending = nil
		}
	}
	if drained.Delivered != total {
		t.Fatalf("QueueDrained.delivered = %d, want %d", drained.Delivered, total)
	}
	waitDepth(t, server.StoreOf(n.Node), protocol.Address{User: "bob", Device: 1}, 0)
}

func TestQueueExpiry(t *testing.T) {
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	n := servertest.Start(t, server.Config{QueueTTL: time.Hour, Now: clock})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	bob.Close()
	if r, _ := alice.SendTo("bob", []uint32{1}, []byte("old")); r.GetSendAck() == nil {
		t.Fatal(r)
	}
	st := server.StoreOf(n.Node)
	waitDepth(t, st, protocol.Address{User: "bob", Device: 1}, 1)
	offset.Store(int64(2 * time.Hour))
	if err := server.ExpireNow(n.Node, context.Background()); err != nil {
		t.Fatal(err)
	}
	if n.Stats().QueueExpired != 1 {
		t.Fatalf("stats = %+v, want 1 expired", n.Stats())
	}
	waitDepth(t, st, protocol.Address{User: "bob", Device: 1}, 0)
}
