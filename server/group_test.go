package server_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

func isEvent(f *pb.ServerFrame) bool { return f.GetDeliver().GetGroupEvent() != nil }

// nextEvent reads the next group event on c and acknowledges it.
func nextEvent(t *testing.T, c *servertest.RawConn) *pb.GroupEvent {
	t.Helper()
	d := c.Expect(t, "group event", isEvent).GetDeliver()
	if err := c.Write(ack(d.Seq)); err != nil {
		t.Fatal(err)
	}
	return d.GetGroupEvent()
}

func refs(targets map[string][]uint32) []*pb.DeviceRef {
	var out []*pb.DeviceRef
	for u, ids := range targets {
		for _, d := range ids {
			out = append(out, &pb.DeviceRef{User: u, DeviceId: d})
		}
	}
	return out
}

func memberRoles(info *pb.GroupInfo) string {
	s := ""
	for _, m := range info.Members {
		s += fmt.Sprintf("%s:%s ", m.User, m.Role)
	}
	return s
}

// A group's life: create (events to every member device), send (one
// sender-key envelope per member device but the sender's, receipts per
// device), stale device sets, admin rules, removal, rename, leave.
func TestGroupLifecycle(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := registerSigned(t, n, "alice")
	alice.link(t, n)
	bob := registerSigned(t, n, "bob")
	carol := registerSigned(t, n, "carol")
	dave := registerSigned(t, n, "dave")

	wantError(t, call(t, alice.conns[1], &pb.GroupCreate{Name: "x", Members: []string{"bob", "nobody"}}), pb.ErrorCode_NOT_FOUND)
	r := call(t, alice.conns[1], &pb.GroupCreate{Name: "climbing", Members: []string{"bob", "carol", "bob", "alice"}})
	info := r.GetGroupInfo()
	if info == nil || len(info.GroupId) != 16 || info.Version != 1 || memberRoles(info) != "alice:ADMIN bob:MEMBER carol:MEMBER " {
		t.Fatalf("GroupCreate = %v", r)
	}
	if len(info.DeviceLists) != 3 || len(info.DeviceLists[0].DeviceIds) != 2 || info.DeviceLists[0].Signed == nil {
		t.Fatalf("GroupInfo device lists %v", info.DeviceLists)
	}
	gid := info.GroupId
	for _, c := range []*servertest.RawConn{alice.conns[1], alice.conns[2], bob.conns[1], carol.conns[1]} {
		ev := nextEvent(t, c)
		if ev.Type != pb.GroupEventType_CREATED || !bytes.Equal(ev.GroupId, gid) || ev.Actor != "alice" || ev.Name != "climbing" || len(ev.Info.GetMembers()) != 3 {
			t.Fatalf("event %v", ev)
		}
	}

	// Sending: the exact device set, else STALE_DEVICES naming who differs.
	all := map[string][]uint32{"alice": {2}, "bob": {1}, "carol": {1}}
	e := wantError(t, call(t, alice.conns[1], &pb.GroupSend{MessageId: servertest.MessageID(), GroupId: gid, Body: []byte("sk"),
		Devices: refs(map[string][]uint32{"bob": {1}, "carol": {1}, "dave": {1}})}), pb.ErrorCode_STALE_DEVICES)
	if len(e.DeviceLists) != 2 || e.DeviceLists[0].User != "alice" || e.DeviceLists[1].User != "dave" {
		t.Fatalf("stale lists %v", e.DeviceLists)
	}
	wantError(t, call(t, dave.conns[1], &pb.GroupSend{MessageId: servertest.MessageID(), GroupId: gid, Body: []byte("sk"), Devices: refs(all)}), pb.ErrorCode_NOT_FOUND)
	gs := &pb.GroupSend{MessageId: servertest.MessageID(), GroupId: gid, Body: []byte("sender key message"), Devices: refs(all)}
	if r := call(t, alice.conns[1], gs); r.GetSendAck() == nil {
		t.Fatalf("GroupSend: %v", r)
	}
	for _, c := range []*servertest.RawConn{alice.conns[2], bob.conns[1], carol.conns[1]} {
		d := c.Expect(t, "group envelope", func(f *pb.ServerFrame) bool { return f.GetDeliver().GetEnvelope() != nil }).GetDeliver()
		env := d.GetEnvelope()
		if env.Type != pb.EnvelopeType_SENDER_KEY || !bytes.Equal(env.GroupId, gid) || env.From != "alice" || env.FromDevice != 1 ||
			!bytes.Equal(env.MessageId, gs.MessageId) || string(env.Body) != "sender key message" || env.To != "" {
			t.Fatalf("group envelope %v", env)
		}
		if err := c.Write(ack(d.Seq)); err != nil {
			t.Fatal(err)
		}
	}
	// Receipts from bob.1 and carol.1 (not from alice's own device 2).
	got := map[string]bool{}
	for len(got) < 2 {
		rc := alice.conns[1].Expect(t, "receipt", func(f *pb.ServerFrame) bool { return f.GetDeliver().GetReceipt() != nil }).GetDeliver().GetReceipt()
		got[protocol.Address{User: rc.From, Device: rc.FromDevice}.String()] = true
	}
	if !got["bob.1"] || !got["carol.1"] {
		t.Fatalf("receipts from %v", got)
	}

	// Pairwise sends filed under the group must be between members.
	m := sendTo("dave", map[string][]uint32{"dave": {1}, "alice": {2}}, false)
	m.GroupId = gid
	wantError(t, call(t, alice.conns[1], m), pb.ErrorCode_NOT_FOUND)
	m = sendTo("bob", map[string][]uint32{"bob": {1}, "alice": {2}}, false)
	m.GroupId = gid
	if r := call(t, alice.conns[1], m); r.GetSendAck() == nil {
		t.Fatalf("pairwise group send: %v", r)
	}
	d := bob.conns[1].Expect(t, "distribution", func(f *pb.ServerFrame) bool { return f.GetDeliver().GetEnvelope() != nil }).GetDeliver()
	if !bytes.Equal(d.GetEnvelope().GroupId, gid) {
		t.Fatalf("pairwise envelope lost its group id: %v", d)
	}
	_ = bob.conns[1].Write(ack(d.Seq))

	// Admin rules.
	wantError(t, call(t, bob.conns[1], &pb.GroupUpdate{GroupId: gid, Add: []string{"dave"}}), pb.ErrorCode_INVALID_ARGUMENT)
	wantError(t, call(t, dave.conns[1], &pb.GroupGet{GroupId: gid}), pb.ErrorCode_NOT_FOUND)
	wantError(t, call(t, alice.conns[1], &pb.GroupUpdate{GroupId: gid}), pb.ErrorCode_INVALID_ARGUMENT)
	r = call(t, bob.conns[1], &pb.GroupUpdate{GroupId: gid, Rename: "crag"})
	if r.GetGroupInfo().GetName() != "crag" || r.GetGroupInfo().Version != 2 {
		t.Fatalf("rename: %v", r)
	}
	if ev := nextEvent(t, carol.conns[1]); ev.Type != pb.GroupEventType_RENAMED || ev.Actor != "bob" || ev.Name != "crag" {
		t.Fatalf("rename event %v", ev)
	}

	// Removing carol: she gets the event (without the group), and is out.
	r = call(t, alice.conns[1], &pb.GroupUpdate{GroupId: gid, Remove: []string{"carol"}, Add: []string{"dave"}})
	if memberRoles(r.GetGroupInfo()) != "alice:ADMIN bob:MEMBER dave:MEMBER " {
		t.Fatalf("after remove/add: %v", r)
	}
	ev := nextEvent(t, carol.conns[1])
	if ev.Type != pb.GroupEventType_ADDED {
		t.Fatalf("carol first event %v", ev)
	}
	ev = nextEvent(t, carol.conns[1])
	if ev.Type != pb.GroupEventType_REMOVED || ev.Targets[0] != "carol" || ev.Info != nil {
		t.Fatalf("carol removal event %v", ev)
	}
	wantError(t, call(t, carol.conns[1], &pb.GroupSend{MessageId: servertest.MessageID(), GroupId: gid, Body: []byte("x"), Devices: refs(all)}), pb.ErrorCode_NOT_FOUND)
	if l := call(t, carol.conns[1], &pb.GroupListRequest{}).GetGroupList(); len(l.Groups) != 0 {
		t.Fatalf("carol still lists %v", l)
	}
	if l := call(t, dave.conns[1], &pb.GroupListRequest{}).GetGroupList(); len(l.Groups) != 1 || l.Groups[0].Name != "crag" {
		t.Fatalf("dave lists %v", l)
	}

	// The last admin leaves: the oldest member (bob) takes over.
	r = call(t, alice.conns[1], &pb.GroupUpdate{GroupId: gid, Leave: true})
	if memberRoles(r.GetGroupInfo()) != "bob:ADMIN dave:MEMBER " {
		t.Fatalf("after leave: %v", memberRoles(r.GetGroupInfo()))
	}
	wantError(t, call(t, alice.conns[1], &pb.GroupGet{GroupId: gid}), pb.ErrorCode_NOT_FOUND)
}

// The node enforces the member limit.
func TestGroupSizeLimit(t *testing.T) {
	n := servertest.Start(t, server.Config{MaxGroupSize: 3})
	alice := registerSigned(t, n, "alice")
	for _, u := range []string{"bob", "carol", "dave"} {
		registerSigned(t, n, u)
	}
	wantError(t, call(t, alice.conns[1], &pb.GroupCreate{Name: "x", Members: []string{"bob", "carol", "dave"}}), pb.ErrorCode_TOO_LARGE)
	gid := call(t, alice.conns[1], &pb.GroupCreate{Name: "x", Members: []string{"bob", "carol"}}).GetGroupInfo().GroupId
	wantError(t, call(t, alice.conns[1], &pb.GroupUpdate{GroupId: gid, Add: []string{"dave"}}), pb.ErrorCode_TOO_LARGE)
}

// A group of 50 members: one GroupSend reaches every member device exactly
// once.
func TestGroupOf50ExactlyOnce(t *testing.T) {
	n := servertest.Start(t, server.Config{RegisterRate: -1})
	const size = 50
	conns := make([]*servertest.RawConn, size)
	names := make([]string, size)
	for i := range conns {
		names[i] = fmt.Sprintf("member%02d", i)
		conns[i] = servertest.Register(t, n, names[i])
	}
	gid := call(t, conns[0], &pb.GroupCreate{Name: "fifty", Members: names[1:]}).GetGroupInfo().GroupId
	targets := map[string][]uint32{}
	for _, u := range names[1:] {
		targets[u] = []uint32{1}
	}
	gs := &pb.GroupSend{MessageId: servertest.MessageID(), GroupId: gid, Body: []byte("hello fifty"), Devices: refs(targets)}
	if r := call(t, conns[0], gs); r.GetSendAck() == nil {
		t.Fatalf("GroupSend: %v", r)
	}
	st := server.StoreOf(n.Node)
	for i, c := range conns[1:] {
		count := 0
		for {
			d := c.Expect(t, "deliver", isDeliver).GetDeliver()
			if err := c.Write(ack(d.Seq)); err != nil {
				t.Fatal(err)
			}
			if e := d.GetEnvelope(); e != nil && bytes.Equal(e.MessageId, gs.MessageId) {
				count++
				break
			}
		}
		waitDepth(t, st, protocol.Address{User: names[i+1], Device: 1}, 0)
		if count != 1 {
			t.Fatalf("%s got the message %d times", names[i+1], count)
		}
	}
}
