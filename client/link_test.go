package client_test

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/servertest"
)

// link links a fresh memkv device to primary's account and returns it.
func link(t *testing.T, n *servertest.Node, primary *device, name string) *device {
	t.Helper()
	ctx := ctxT(t)
	comp := memDevice(t, n)
	codes := make(chan client.LinkCode, 1)
	done := make(chan error, 1)
	go func() { done <- comp.LinkDevice(ctx, name, func(c client.LinkCode) { codes <- c }) }()
	var code client.LinkCode
	select {
	case code = <-codes:
	case err := <-done:
		t.Fatalf("link: %v", err)
	}
	req, err := primary.LookupLink(ctx, code.Code)
	if err != nil {
		t.Fatal(err)
	}
	if req.Name != name || req.Fingerprint != code.Fingerprint {
		t.Fatalf("lookup: name %q fingerprint %q, companion shows %q", req.Name, req.Fingerprint, code.Fingerprint)
	}
	if err := primary.ApproveLink(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("companion: %v", err)
	}
	return comp
}

// A linked companion shows both sides of its account's conversations,
// with ticks, and the account's signed list names it.
func TestCompanionSeesBothSides(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	devs := users(t, n, "alice", "bob")
	alice, bob := devs[0], devs[1]
	// alice caches bob's one-device list; after the link her next send is
	// refused as STALE_DEVICES and retried transparently.
	if _, err := alice.Send(ctx, "bob", "before the link"); err != nil {
		t.Fatal(err)
	}
	if m := bob.nextMessage(t); m.Text != "before the link" {
		t.Fatalf("bob got %q", m.Text)
	}
	laptop := link(t, n, bob, "laptop")
	who, err := laptop.Whoami(ctx)
	if err != nil || who.User != "bob" || who.Device < 2 {
		t.Fatalf("companion is %+v, %v", who, err)
	}
	list, _, err := bob.OwnDevices(ctx)
	if err != nil || len(list) != 2 || list[1].Name != "laptop" || !list[0].This {
		t.Fatalf("own devices %+v %v", list, err)
	}

	in, err := alice.Send(ctx, "bob", "hi bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{bob, laptop} {
		if m := d.nextMessage(t); m.ID != in || m.Text != "hi bob" || m.Outgoing {
			t.Fatalf("incoming on bob's device: %+v", m)
		}
	}
	out, err := bob.Send(ctx, "alice", "hi alice")
	if err != nil {
		t.Fatal(err)
	}
	if m := laptop.nextMessage(t); m.ID != out || !m.Outgoing || m.Peer != "alice" {
		t.Fatalf("sync copy on the laptop: %+v", m)
	}
	if m := alice.nextMessage(t); m.ID != out {
		t.Fatalf("alice got %+v", m)
	}
	// ✓✓ on both of bob's devices.
	for _, d := range []*device{bob, laptop} {
		if err := d.WaitStatus(ctx, out, client.StatusDelivered); err != nil {
			t.Fatalf("tick on a bob device: %v", err)
		}
	}
	h, err := laptop.History(ctx, "alice", 0)
	if err != nil || len(h) != 2 || h[0].Outgoing || !h[1].Outgoing {
		t.Fatalf("laptop's conversation: %+v %v", h, err)
	}

	// Groups: the companion gets the members' messages and the sync copy
	// of what the phone sends.
	if _, err := alice.CreateGroup(ctx, "pair", []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendGroup(ctx, "pair", "to both bobs"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{bob, laptop} {
		if m := d.nextGroupMessage(t); m.Text != "to both bobs" || m.Group.Name != "pair" {
			t.Fatalf("group message on a bob device: %+v", m)
		}
	}
	gid, err := bob.SendGroup(ctx, "pair", "from the phone")
	if err != nil {
		t.Fatal(err)
	}
	if m := laptop.nextGroupMessage(t); m.ID != gid || !m.Outgoing {
		t.Fatalf("group sync copy on the laptop: %+v", m)
	}
	if m := alice.nextGroupMessage(t); m.Text != "from the phone" {
		t.Fatalf("alice got %+v", m)
	}
}

// A removed device is refused by the node and gets nothing more.
func TestRemovedDeviceLockedOut(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	devs := users(t, n, "alice", "bob")
	alice, bob := devs[0], devs[1]
	laptop := link(t, n, bob, "laptop")
	who, _ := laptop.Whoami(ctx)
	if err := laptop.RemoveDevice(ctx, who.Device); !errors.Is(err, client.ErrNotPrimary) {
		t.Fatalf("companion removing: %v, want ErrNotPrimary", err)
	}
	if err := bob.RemoveDevice(ctx, who.Device); err != nil {
		t.Fatal(err)
	}
	laptop.waitEvent(t, "disconnect", func(ev client.Event) bool { _, ok := ev.(client.Disconnected); return ok })
	if _, err := alice.Send(ctx, "bob", "only the phone"); err != nil {
		t.Fatal(err)
	}
	if m := bob.nextMessage(t); m.Text != "only the phone" {
		t.Fatalf("bob got %q", m.Text)
	}
	err := laptop.Connect(ctx)
	if err == nil {
		t.Fatal("removed device connected again")
	}
	if !errors.Is(err, client.ErrDeviceUnknown) && protocol.CodeOf(err) != pb.ErrorCode_DISABLED {
		t.Fatalf("reconnect refused with %v, want DISABLED or ErrDeviceUnknown", err)
	}
	laptop.noMessage(t, 300*time.Millisecond)
}

// Presence changes reach a subscriber; typing reaches online devices only.
func TestPresenceAndTyping(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	devs := users(t, n, "alice", "bob")
	alice, bob := devs[0], devs[1]
	if err := alice.SubscribePresence(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	isBob := func(online bool) func(client.Event) bool {
		return func(ev client.Event) bool {
			p, ok := ev.(client.Presence)
			return ok && p.User == "bob" && p.Online == online
		}
	}
	alice.waitEvent(t, "bob online", isBob(true))
	if err := alice.SendTyping(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	ev := bob.waitEvent(t, "typing", func(ev client.Event) bool { _, ok := ev.(client.Typing); return ok })
	if ty := ev.(client.Typing); ty.User != "alice" || !ty.Composing {
		t.Fatalf("typing %+v", ty)
	}
	bob.close()
	p := alice.waitEvent(t, "bob offline", isBob(false)).(client.Presence)
	if p.LastSeen.IsZero() {
		t.Fatal("offline without last seen (privacy is everyone)")
	}
	// Typing while bob is offline never reaches him.
	if err := alice.SendTyping(ctx, "bob", true); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "after typing"); err != nil {
		t.Fatal(err)
	}
	again := newDevice(t, n, bob.st)
	if err := again.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		ev := again.waitEvent(t, "message", func(ev client.Event) bool {
			switch ev.(type) {
			case client.Typing, client.Message:
				return true
			}
			return false
		})
		if ty, ok := ev.(client.Typing); ok {
			t.Fatalf("offline device got a typing notice %+v", ty)
		}
		if m := ev.(client.Message); m.Text == "after typing" {
			break
		}
	}
	// Privacy: nobody sees last seen.
	if err := again.SetLastSeenPrivacy(ctx, client.LastSeenNobody); err != nil {
		t.Fatal(err)
	}
	again.close()
	// The node hides bob's presence from alice entirely now.
	quiet := time.After(time.Second)
	for {
		select {
		case ev := <-alice.events:
			if p, ok := ev.(client.Presence); ok && p.User == "bob" && !p.LastSeen.IsZero() {
				t.Fatalf("last seen shown despite privacy nobody: %+v", p)
			}
			continue
		case <-quiet:
		}
		break
	}
}
