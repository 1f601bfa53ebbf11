package client_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
)

// A device restarted on the same directory keeps its keys, sessions and
// history and goes on talking.
func TestRestartContinues(t *testing.T) {
	n := startNode(t)
	aliceDir, bobDir := t.TempDir(), t.TempDir()
	ctx := ctxT(t)

	aliceSt, bobSt := pebbleStore(t, aliceDir), pebbleStore(t, bobDir)
	alice, bob := newDevice(t, n, aliceSt), newDevice(t, n, bobSt)
	register(t, alice, "alice")
	register(t, bob, "bob")
	if _, err := alice.Send(ctx, "bob", "before restart"); err != nil {
		t.Fatal(err)
	}
	if m := bob.nextMessage(t); m.Text != "before restart" {
		t.Fatalf("got %q", m.Text)
	}
	for _, d := range []*device{alice, bob} {
		d.close()
		if err := d.st.Close(); err != nil {
			t.Fatal(err)
		}
	}

	alice = newDevice(t, n, pebbleStore(t, aliceDir))
	bob = newDevice(t, n, pebbleStore(t, bobDir))
	for _, d := range []*device{alice, bob} {
		if err := d.Connect(ctx); err != nil {
			t.Fatalf("connect after restart: %v", err)
		}
	}
	if _, err := bob.Send(ctx, "alice", "after restart"); err != nil {
		t.Fatal(err)
	}
	if m := alice.nextMessage(t); m.Text != "after restart" {
		t.Fatalf("got %q", m.Text)
	}
	if _, err := alice.Send(ctx, "bob", "and again"); err != nil {
		t.Fatal(err)
	}
	if m := bob.nextMessage(t); m.Text != "and again" {
		t.Fatalf("got %q", m.Text)
	}
	h, err := bob.History(ctx, "alice", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range h {
		got = append(got, it.Text)
	}
	if fmt.Sprint(got) != "[before restart after restart and again]" {
		t.Fatalf("bob's history after restart: %v", got)
	}
	who, err := alice.Whoami(ctx)
	if err != nil || who.User != "alice" || who.Device != 1 || who.ServerKey == nil || !who.ServerKey.Equal(n.ServerKey()) {
		t.Fatalf("whoami: %+v, %v", who, err)
	}
}

// Deliver arrives, is stored, the process dies before the ack: the node
// redelivers on reconnect and the user still sees the message once.
func TestCrashBeforeAckShowsOnce(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	bobDir := t.TempDir()
	alice := memDevice(t, n)
	bobSt := pebbleStore(t, bobDir)
	bob := newDevice(t, n, bobSt)
	register(t, alice, "alice")
	register(t, bob, "bob")

	crashed := make(chan struct{})
	client.SetTestHookBeforeAck(bob.Client, func() error {
		close(crashed)
		return errors.New("simulated crash")
	})
	id, err := alice.Send(ctx, "bob", "exactly once")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-crashed:
	case <-time.After(10 * time.Second):
		t.Fatal("bob never received the message")
	}
	bob.close()
	bobSt.Close()

	bob = newDevice(t, n, pebbleStore(t, bobDir))
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(t, "queue drained", func(ev client.Event) bool { _, ok := ev.(client.QueueDrained); return ok })
	// The redelivered copy was dropped by the seen-set: no new event...
	bob.noMessage(t, 300*time.Millisecond)
	// ...the history holds it once, and it waits in the inbox to be shown.
	h, err := bob.History(ctx, "alice", 0)
	if err != nil || len(h) != 1 || h[0].ID != id {
		t.Fatalf("history: %+v, %v", h, err)
	}
	inbox, err := bob.Inbox(ctx)
	if err != nil || len(inbox) != 1 || inbox[0].Text != "exactly once" {
		t.Fatalf("inbox: %+v, %v", inbox, err)
	}
	if err := bob.MarkShown(ctx, inbox...); err != nil {
		t.Fatal(err)
	}
	if inbox, _ := bob.Inbox(ctx); len(inbox) != 0 {
		t.Fatalf("inbox after MarkShown: %+v", inbox)
	}
	// The redelivery was acknowledged this time, so alice gets her ✓✓.
	if err := alice.WaitStatus(ctx, id, client.StatusDelivered); err != nil {
		t.Fatal(err)
	}
}

// An offline recipient gets its whole queue on connect, in send order.
func TestOfflineQueueInOrder(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	alice, bob := memDevice(t, n), memDevice(t, n)
	register(t, alice, "alice")
	register(t, bob, "bob")
	bobSt := bob.st
	bob.close() // offline

	const count = 25
	for i := range count {
		if _, err := alice.Send(ctx, "bob", fmt.Sprintf("msg %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	bob = newDevice(t, n, bobSt)
	if err := bob.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range count {
		if m := bob.nextMessage(t); m.Text != fmt.Sprintf("msg %02d", i) {
			t.Fatalf("message %d: got %q", i, m.Text)
		}
	}
}
