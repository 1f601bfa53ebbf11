package client_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// users registers one connected memkv device per handle.
func users(t *testing.T, n *servertest.Node, handles ...string) []*device {
	t.Helper()
	out := make([]*device, len(handles))
	for i, h := range handles {
		out[i] = memDevice(t, n)
		register(t, out[i], h)
	}
	return out
}

// nextGroupMessage waits for the next group text (skipping system lines
// and other events).
func (d *device) nextGroupMessage(t testing.TB) client.Message {
	t.Helper()
	for {
		m := d.nextMessage(t)
		if m.Group != nil && m.Event == nil {
			return m
		}
	}
}

// Every device of a 50-member group gets one send exactly once.
func TestGroupOf50ExactlyOnce(t *testing.T) {
	n := servertest.Start(t, server.Config{RegisterRate: 1000})
	ctx := ctxT(t)
	handles := make([]string, 50)
	for i := range handles {
		handles[i] = fmt.Sprintf("member%02d", i)
	}
	devs := users(t, n, handles...)
	alice := devs[0]
	g, err := alice.CreateGroup(ctx, "fifty", handles[1:])
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Members) != 50 || !g.IsAdmin("member00") {
		t.Fatalf("group: %d members, admin %v", len(g.Members), g.IsAdmin("member00"))
	}
	id, err := alice.SendGroup(ctx, "fifty", "hello fifty")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(devs))
	for _, d := range devs[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := 0
			deadline := time.After(20 * time.Second)
			settle := (<-chan time.Time)(nil)
			for {
				select {
				case ev := <-d.events:
					m, ok := ev.(client.Message)
					if !ok || m.Event != nil {
						continue
					}
					if m.ID != id || m.Text != "hello fifty" || m.From != "member00" || m.Group == nil || m.Group.Name != "fifty" {
						errs <- fmt.Errorf("unexpected message %+v", m)
						return
					}
					got++
					settle = time.After(time.Second)
				case <-settle:
					if got != 1 {
						errs <- fmt.Errorf("got the message %d times", got)
					}
					return
				case <-deadline:
					errs <- fmt.Errorf("got the message %d times before the deadline", got)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := alice.WaitStatus(ctx, id, client.StatusDelivered); err != nil {
		t.Fatalf("✓✓ after every member device delivered: %v", err)
	}
}

// A removed member gets nothing after its removal, and the ciphertext it
// might capture from the wire is undecryptable with the keys it holds; a
// new member cannot read what was sent before it joined.
func TestGroupRemovalAndJoinKeyRotation(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	devs := users(t, n, "alice", "bob", "carol", "dave")
	alice, bob, carol, dave := devs[0], devs[1], devs[2], devs[3]
	var captured []*pb.GroupSend
	var mu sync.Mutex
	client.SetTestHookGroupSend(alice.Client, func(s *pb.GroupSend) { mu.Lock(); captured = append(captured, s); mu.Unlock() })

	if _, err := alice.CreateGroup(ctx, "team", []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendGroup(ctx, "team", "before"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*device{bob, carol} {
		if m := d.nextGroupMessage(t); m.Text != "before" {
			t.Fatalf("got %q", m.Text)
		}
	}
	if _, err := alice.UpdateGroup(ctx, "team", client.GroupChange{Remove: []string{"carol"}, Add: []string{"dave"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendGroup(ctx, "team", "after"); err != nil {
		t.Fatal(err)
	}
	if m := bob.nextGroupMessage(t); m.Text != "after" {
		t.Fatalf("bob got %q", m.Text)
	}
	if m := dave.nextGroupMessage(t); m.Text != "after" {
		t.Fatalf("dave got %q", m.Text)
	}
	// carol: the system line, then nothing.
	carol.waitEvent(t, "removal notice", func(ev client.Event) bool {
		m, ok := ev.(client.Message)
		return ok && m.Event != nil && m.Event.Type == "removed"
	})
	carol.noMessage(t, time.Second)
	mu.Lock()
	before, after := captured[0], captured[len(captured)-1]
	mu.Unlock()
	if _, err := client.GroupDecryptForTest(ctx, carol.Client, "alice", 1, after.Body); !errors.Is(err, e2e.ErrNoSenderKey) {
		t.Fatalf("removed member decrypting a later message: %v, want ErrNoSenderKey", err)
	}
	if _, err := client.GroupDecryptForTest(ctx, dave.Client, "alice", 1, before.Body); err == nil {
		t.Fatal("a member added later decrypted an earlier message")
	}
	// The removed member cannot send to the group either.
	if _, err := carol.SendGroup(ctx, "team", "let me in"); !errors.Is(err, client.ErrNotMember) {
		t.Fatalf("removed member sending: %v", err)
	}
	g, err := carol.GroupInfo(ctx, "team")
	if err != nil || !g.Left {
		t.Fatalf("carol's record: %+v %v", g, err)
	}
}

// Ticks: ✓ stored, ✓✓ once every member device has it, read once every
// member read it; MessageInfo lists per-member times. System lines come
// in order with messages.
func TestGroupTicksInfoAndEvents(t *testing.T) {
	n := startNode(t)
	ctx := ctxT(t)
	devs := users(t, n, "alice", "bob", "carol")
	alice, bob, carol := devs[0], devs[1], devs[2]
	if _, err := alice.CreateGroup(ctx, "trio", []string{"bob", "carol"}); err != nil {
		t.Fatal(err)
	}
	id, err := alice.SendGroup(ctx, "trio", "tick me")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitStatus(ctx, id, client.StatusDelivered); err != nil {
		t.Fatal(err)
	}
	mb := bob.nextGroupMessage(t)
	if err := bob.MarkRead(ctx, "alice", mb.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if st, _ := alice.Status(ctx, id); st != client.StatusDelivered {
		t.Fatalf("read by one of two members: status %v, want delivered", st)
	}
	mc := carol.nextGroupMessage(t)
	if err := carol.MarkRead(ctx, "alice", mc.ID); err != nil {
		t.Fatal(err)
	}
	if err := alice.WaitStatus(ctx, id, client.StatusRead); err != nil {
		t.Fatal(err)
	}
	info, err := alice.MessageInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Members) != 2 {
		t.Fatalf("info members: %+v", info.Members)
	}
	for _, m := range info.Members {
		if m.Devices != 1 || m.Delivered != 1 || m.LastAt.IsZero() || m.ReadAt.IsZero() {
			t.Errorf("member %+v", m)
		}
	}
	if _, err := alice.UpdateGroup(ctx, "trio", client.GroupChange{Rename: "quartet"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SendGroup(ctx, "quartet", "renamed"); err != nil {
		t.Fatal(err)
	}
	bob.nextGroupMessage(t)
	h, err := bob.GroupHistory(ctx, "quartet", 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, it := range h {
		if it.Event != nil {
			lines = append(lines, "#"+it.Event.String())
		} else {
			lines = append(lines, it.From+": "+it.Text)
		}
	}
	want := []string{`#alice created the group "trio"`, "alice: tick me", `#alice renamed the group to "quartet"`, "alice: renamed"}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Fatalf("bob's group history:\n%q\nwant\n%q", lines, want)
	}
	// The sender's own history has its message with the read tick.
	ah, err := alice.GroupHistory(ctx, "quartet", 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range ah {
		if it.ID == id {
			found = it.Outgoing && it.Status == client.StatusRead
		}
	}
	if !found {
		t.Fatalf("alice's history lacks her read message: %+v", ah)
	}
}
