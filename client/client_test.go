package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

func TestSendReceiveBothWays(t *testing.T) {
	n := startNode(t)
	alice, bob := memDevice(t, n), memDevice(t, n)
	register(t, alice, "alice")
	register(t, bob, "bob")
	ctx := ctxT(t)

	id, err := alice.Send(ctx, "bob", "hello bob")
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if st, _ := alice.Status(ctx, id); st < client.StatusSent {
		t.Fatalf("after Send status = %v, want at least sent", st)
	}
	m := bob.nextMessage(t)
	if m.Text != "hello bob" || m.From != "alice" || m.FromDevice != 1 || m.ID != id || m.Peer != "alice" {
		t.Fatalf("bob got %+v", m)
	}
	if err := alice.WaitStatus(ctx, id, client.StatusDelivered); err != nil {
		t.Fatalf("wait delivered: %v", err)
	}
	if err := bob.MarkRead(ctx, "alice", m.ID); err != nil {
		t.Fatalf("mark read: %v", err)
	}
	if err := alice.WaitStatus(ctx, id, client.StatusRead); err != nil {
		t.Fatalf("wait read: %v", err)
	}

	reply, err := bob.Send(ctx, "alice", "hi alice")
	if err != nil {
		t.Fatalf("reply: %v", err)
	}
	if m := alice.nextMessage(t); m.Text != "hi alice" || m.ID != reply {
		t.Fatalf("alice got %+v", m)
	}

	h, err := alice.History(ctx, "bob", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || !h[0].Outgoing || h[0].Text != "hello bob" || h[0].Status != client.StatusRead ||
		h[1].Outgoing || h[1].Text != "hi alice" {
		t.Fatalf("alice history: %+v", h)
	}
	// Read receipts are silent: the receipt message itself never shows up.
	bob.noMessage(t, 300*time.Millisecond)
}

func TestErrorsUsersSee(t *testing.T) {
	n := startNode(t)
	alice := memDevice(t, n)
	register(t, alice, "alice")
	ctx := ctxT(t)
	if _, err := alice.Send(ctx, "nobody", "hi"); !errors.Is(err, client.ErrNoSuchUser) {
		t.Errorf("send to unknown user: %v, want ErrNoSuchUser", err)
	}
	other := memDevice(t, n)
	if err := other.Register(ctx, "alice", ""); protocol.CodeOf(err) != pb.ErrorCode_HANDLE_TAKEN {
		t.Errorf("register taken handle: %v, want HANDLE_TAKEN", err)
	}
	// The refused device can still register under another name.
	if err := other.Register(ctx, "alice2", ""); err != nil {
		t.Errorf("register after refusal: %v", err)
	}
	if err := alice.Register(ctx, "alice", ""); !errors.Is(err, client.ErrAlreadyRegistered) {
		t.Errorf("second register: %v", err)
	}
	if _, err := alice.Send(ctx, "bob", string(make([]byte, client.MaxTextSize+1))); !errors.Is(err, client.ErrTextTooLong) {
		t.Errorf("long text: %v", err)
	}
}
