package client_test

import (
	"testing"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// Garbage from a misbehaving sender is recorded as "could not decrypt" and
// acknowledged; the queue behind it still flows.
func TestUndecryptableDoesNotBlockQueue(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	alice, bob := memDevice(t, n), memDevice(t, n)
	register(t, alice, "alice")
	register(t, bob, "bob")
	mallory := servertest.Register(t, n, "mallory")
	r, err := mallory.SendTo("bob", []uint32{1}, []byte("this is not a signal message"))
	if err != nil || r.GetSendAck() == nil {
		t.Fatalf("raw send: %v %v", r, err)
	}
	if _, err := alice.Send(ctx, "bob", "real one"); err != nil {
		t.Fatal(err)
	}
	first := bob.nextMessage(t)
	if !first.Undecryptable || first.From != "mallory" {
		t.Fatalf("first = %+v, want undecryptable from mallory", first)
	}
	if second := bob.nextMessage(t); second.Text != "real one" {
		t.Fatalf("second = %+v", second)
	}
	h, err := bob.History(ctx, "mallory", 0)
	if err != nil || len(h) != 1 || !h[0].Undecryptable || h[0].Error == "" {
		t.Fatalf("history with mallory: %+v, %v", h, err)
	}
}

func TestInviteRequired(t *testing.T) {
	n := servertest.Start(t, server.Config{Registration: server.RegistrationInvite})
	d := memDevice(t, n)
	if err := d.Register(ctxT(t), "alice", ""); protocol.CodeOf(err) != pb.ErrorCode_INVITE_REQUIRED {
		t.Fatalf("register without invite: %v", err)
	}
	if err := d.Register(ctxT(t), "alice", "made-up"); protocol.CodeOf(err) != pb.ErrorCode_INVALID_INVITE {
		t.Fatalf("register with a bad invite: %v", err)
	}
	if d.Registered() {
		t.Fatal("a refused device claims to be registered")
	}
	if err := d.Connect(ctxT(t)); err != client.ErrNotRegistered {
		t.Fatalf("connect unregistered: %v", err)
	}
}
