package server_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
	"github.com/parley-im/parley/transport"
)

// drain reads bob's backlog on a fresh connection, acking as it goes, and
// returns the message ids delivered (by hex) with their bodies.
func drain(t *testing.T, n *servertest.Node, key transport.StaticKey) map[string]string {
	t.Helper()
	c := servertest.Dial(t, n, key)
	got := make(map[string]string)
	for {
		f := c.Expect(t, "Deliver or QueueDrained", func(f *pb.ServerFrame) bool {
			return f.GetDeliver() != nil || f.GetQueueDrained() != nil
		})
		if f.GetQueueDrained() != nil {
			return got
		}
		d := f.GetDeliver()
		got[string(d.GetEnvelope().GetMessageId())] = string(d.GetEnvelope().GetBody())
		if err := c.Write(ack(d.Seq)); err != nil {
			t.Fatal(err)
		}
	}
}

// Nothing acknowledged is lost: senders keep sending while the node shuts
// down; after a restart on the same data directory every message that got
// a SendAck is delivered.
func TestShutdownLosesNothingAcknowledged(t *testing.T) {
	dir := t.TempDir()
	n := servertest.Start(t, server.Config{DataDir: dir, ShutdownTimeout: 5 * time.Second})
	bob := servertest.Register(t, n, "bob")
	bobKey := bob.Key
	bob.Close()
	const senders = 4
	conns := make([]*servertest.RawConn, senders)
	for i := range conns {
		conns[i] = servertest.Register(t, n, "sender"+string(rune('a'+i)))
	}
	var mu sync.Mutex
	acked := make(map[string]bool)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				s := &pb.Send{MessageId: servertest.MessageID(), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{
					{User: "bob", DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: []byte("m")},
				}}
				r, err := c.Call(&pb.ClientFrame{Body: &pb.ClientFrame_Send{Send: s}})
				if err != nil || r.GetSendAck() == nil {
					return // SHUTTING_DOWN goodbye or closed: stop sending
				}
				mu.Lock()
				acked[string(s.MessageId)] = true
				mu.Unlock()
			}
		}()
	}
	close(start)
	time.Sleep(300 * time.Millisecond)
	n.Stop(t)
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("no send was acknowledged before shutdown")
	}

	n2 := servertest.Start(t, server.Config{DataDir: dir})
	got := drain(t, n2, bobKey)
	lost := 0
	for id := range acked {
		if _, ok := got[id]; !ok {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d acknowledged messages lost across shutdown", lost, len(acked))
	}
	t.Logf("%d acknowledged messages all delivered after restart (%d delivered in all)", len(acked), len(got))
}

// A checkpoint taken through the admin API restores: a node started on it
// delivers what was queued before the backup, and nothing after.
func TestBackupRestores(t *testing.T) {
	ctx := context.Background()
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob")
	bobKey := bob.Key
	bob.Close()
	for _, body := range []string{"before-1", "before-2"} {
		if r, err := alice.SendTo("bob", []uint32{1}, []byte(body)); err != nil || r.GetSendAck() == nil {
			t.Fatalf("send: %v %v", r, err)
		}
	}
	backup := filepath.Join(t.TempDir(), "backup")
	if err := adminClient(n).Backup(ctx, backup); err != nil {
		t.Fatalf("backup: %v", err)
	}
	if err := adminClient(n).Backup(ctx, "relative/dir"); err == nil {
		t.Fatalf("backup into a relative path accepted")
	}
	if r, err := alice.SendTo("bob", []uint32{1}, []byte("after")); err != nil || r.GetSendAck() == nil {
		t.Fatalf("send: %v %v", r, err)
	}
	n.Stop(t)

	restored := t.TempDir()
	if err := os.Rename(backup, filepath.Join(restored, "store")); err != nil {
		t.Fatal(err)
	}
	n2 := servertest.Start(t, server.Config{DataDir: restored})
	got := drain(t, n2, bobKey)
	var bodies []string
	for _, b := range got {
		bodies = append(bodies, b)
	}
	if len(got) != 2 {
		t.Fatalf("restored node delivered %v, want before-1 and before-2 only", bodies)
	}
	for _, b := range bodies {
		if b == "after" {
			t.Fatalf("a message sent after the backup is in it")
		}
	}
}
