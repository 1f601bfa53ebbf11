package endtoend_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/servertest"
	"github.com/parley-im/parley/transport"
)

// SIGTERM drains: senders keep sending while `parley serve` gets SIGTERM;
// every send that got a SendAck is delivered after a restart on the same
// data directory, and the node exits 0 (issue 7).
func TestSigtermLosesNothingAcknowledged(t *testing.T) {
	data := t.TempDir()
	n := startNode(t, data)
	ctx := context.Background()
	key, err := transport.ParsePublicKey(n.key)
	if err != nil {
		t.Fatal(err)
	}
	dial := func(n *node, k transport.StaticKey) *servertest.RawConn {
		t.Helper()
		c, err := servertest.DialTCP(ctx, n.tcp, key, k)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return c
	}
	bobKey := servertest.NewKey()
	bob := dial(n, bobKey)
	if err := bob.Register("bob", "", 2, 2); err != nil {
		t.Fatal(err)
	}
	bob.Close()
	const senders = 4
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	for i := range senders {
		c := dial(n, servertest.NewKey())
		if err := c.Register("sender"+string(rune('a'+i)), "", 2, 2); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				s := &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{
					{User: "bob", DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: []byte("m")},
				}}
				r, err := c.Call(&pb.ClientFrame{Body: &pb.ClientFrame_Send{Send: s}})
				if err != nil || r.GetSendAck() == nil {
					return
				}
				mu.Lock()
				acked[string(s.MessageId)] = true
				mu.Unlock()
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)
	n.stop() // SIGTERM; fails the test unless the node exits 0
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged before SIGTERM")
	}

	n2 := startNode(t, data)
	c := dial(n2, bobKey)
	got := map[string]bool{}
	for {
		f := c.Expect(t, "Deliver or QueueDrained", func(f *pb.ServerFrame) bool {
			return f.GetDeliver() != nil || f.GetQueueDrained() != nil
		})
		if f.GetQueueDrained() != nil {
			break
		}
		d := f.GetDeliver()
		got[string(d.GetEnvelope().GetMessageId())] = true
		if err := c.Write(&pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: []uint64{d.Seq}}}}); err != nil {
			t.Fatal(err)
		}
	}
	lost := 0
	for id := range acked {
		if !got[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost across SIGTERM", lost, len(acked))
	}
	t.Logf("%d acknowledged before SIGTERM, all delivered after restart", len(acked))
}
