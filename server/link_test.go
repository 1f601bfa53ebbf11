package server_test

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

func listContent(t *testing.T, l *pb.SignedDeviceList) *pb.DeviceListContent {
	t.Helper()
	var c pb.DeviceListContent
	if l == nil || proto.Unmarshal(l.Content, &c) != nil {
		t.Fatalf("bad signed list %v", l)
	}
	return &c
}

// Linking a companion: code, lookup, approval with a signed list, the
// companion becomes bob.2 on the same connection and can upload keys; the
// signed list is served with the device list.
func TestLinkDevice(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	bob := registerSigned(t, n, "bob")
	id := bob.link(t, n)
	if id != 2 {
		t.Fatalf("linked device id %d, want 2", id)
	}
	r := call(t, bob.conns[1], &pb.DeviceListRequest{User: "bob"})
	dl := r.GetDeviceList()
	if dl == nil || len(dl.DeviceIds) != 2 || dl.DeviceIds[1] != 2 {
		t.Fatalf("DeviceList = %v", r)
	}
	if c := listContent(t, dl.Signed); c.Version != 2 || len(c.Devices) != 2 {
		t.Fatalf("signed list %v", c)
	}
	// The companion's session is bob.2: a Ping-free request works.
	if r := call(t, bob.conns[2], &pb.DeviceListRequest{User: "bob"}); r.GetDeviceList() == nil {
		t.Fatalf("companion request: %v", r)
	}
	// A fresh connection with the companion's key is welcomed as bob.2.
	bob.conns[2].Close()
	c := servertest.Dial(t, n, bob.keys[2])
	if w := c.Welcome; !w.Registered || w.User != "bob" || w.DeviceId != 2 {
		t.Fatalf("companion Welcome = %v", w)
	}
}

// Every way an approval can be wrong is refused, and leaves the code usable.
func TestLinkApproveRefused(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	bob := registerSigned(t, n, "bob")
	mallory := registerSigned(t, n, "mallory")
	comp := servertest.Dial(t, n, servertest.NewKey())
	cid := newIdentity(t)
	code := comp.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_LinkStart{LinkStart: &pb.LinkStart{IdentityKey: cid.Public.Bytes(), DeviceName: "tablet"}}}).GetLinkCode().Code
	good := []*pb.DeviceEntry{bob.devices[0], {DeviceId: 2, IdentityKey: cid.Public.Bytes()}}
	other := newIdentity(t)
	forged := bob.sign(t, 2, good)
	forged.Signature[5] ^= 1
	cases := []struct {
		name string
		list *pb.SignedDeviceList
		code pb.ErrorCode
	}{
		{"version not current+1", bob.sign(t, 3, good), pb.ErrorCode_INVALID_ARGUMENT},
		{"same version", bob.sign(t, 1, good), pb.ErrorCode_INVALID_ARGUMENT},
		{"bad signature", forged, pb.ErrorCode_INVALID_ARGUMENT},
		{"signed by another key", (&acct{user: "bob", id: other}).sign(t, 2, good), pb.ErrorCode_INVALID_ARGUMENT},
		{"companion missing", bob.sign(t, 2, good[:1]), pb.ErrorCode_INVALID_ARGUMENT},
		{"wrong companion key", bob.sign(t, 2, []*pb.DeviceEntry{good[0], {DeviceId: 2, IdentityKey: other.Public.Bytes()}}), pb.ErrorCode_INVALID_ARGUMENT},
		{"wrong id", bob.sign(t, 2, []*pb.DeviceEntry{good[0], {DeviceId: 3, IdentityKey: cid.Public.Bytes()}}), pb.ErrorCode_INVALID_ARGUMENT},
		{"other user", (&acct{user: "mallory", id: bob.id}).sign(t, 2, good), pb.ErrorCode_INVALID_ARGUMENT},
		{"no list", nil, pb.ErrorCode_INVALID_ARGUMENT},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, bob.conns[1], &pb.LinkApprove{Code: code, DeviceList: c.list})
			wantError(t, r, c.code)
		})
	}
	// Unknown code; another primary cannot approve with a list that does
	// not describe its own account.
	wantError(t, call(t, bob.conns[1], &pb.LinkLookup{Code: "AAAA-AAAA"}), pb.ErrorCode_NOT_FOUND)
	wantError(t, call(t, mallory.conns[1], &pb.LinkApprove{Code: code, DeviceList: bob.sign(t, 2, good)}), pb.ErrorCode_INVALID_ARGUMENT)
	// After all that, the right list works once (codes are case- and
	// dash-insensitive), and the code is then spent.
	r := call(t, bob.conns[1], &pb.LinkApprove{Code: strings.ToLower(strings.ReplaceAll(code, "-", "")), DeviceList: bob.sign(t, 2, good)})
	if r.GetLinkApproved() == nil {
		t.Fatalf("approve: %v", r)
	}
	wantError(t, call(t, bob.conns[1], &pb.LinkLookup{Code: code}), pb.ErrorCode_NOT_FOUND)
}

// Only the primary looks codes up; companions are capped.
func TestLinkPrimaryOnlyAndLimit(t *testing.T) {
	n := servertest.Start(t, server.Config{MaxCompanions: 1})
	bob := registerSigned(t, n, "bob")
	bob.link(t, n)
	comp := servertest.Dial(t, n, servertest.NewKey())
	cid := newIdentity(t)
	code := comp.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_LinkStart{LinkStart: &pb.LinkStart{IdentityKey: cid.Public.Bytes()}}}).GetLinkCode().Code
	wantError(t, call(t, bob.conns[2], &pb.LinkLookup{Code: code}), pb.ErrorCode_INVALID_ARGUMENT)
	devs := append(append([]*pb.DeviceEntry(nil), bob.devices...), &pb.DeviceEntry{DeviceId: 3, IdentityKey: cid.Public.Bytes()})
	wantError(t, call(t, bob.conns[1], &pb.LinkApprove{Code: code, DeviceList: bob.sign(t, 3, devs)}), pb.ErrorCode_TOO_LARGE)
	// A bad identity key is refused at LinkStart.
	r := comp.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_LinkStart{LinkStart: &pb.LinkStart{IdentityKey: []byte{5, 1, 2}}}})
	wantError(t, r, pb.ErrorCode_INVALID_ARGUMENT)
}

// Removing a device: its live session is told DISABLED, its queue and keys
// are gone, its key can never connect as it again, and senders with the
// old list get STALE_DEVICES with the new signed list.
func TestRemoveDevice(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := registerSigned(t, n, "alice")
	bob := registerSigned(t, n, "bob")
	bob.link(t, n)
	bob.link(t, n)
	// Queue something for bob.3 while it is offline.
	bob.conns[3].Close()
	r := call(t, alice.conns[1], sendTo("bob", map[string][]uint32{"bob": {1, 2, 3}}, false))
	if r.GetSendAck() == nil {
		t.Fatalf("send: %v", r)
	}
	st := server.StoreOf(n.Node)
	waitDepth(t, st, protocol.Address{User: "bob", Device: 3}, 1)

	keep := []*pb.DeviceEntry{bob.devices[0], bob.devices[1]}
	wantError(t, call(t, bob.conns[2], &pb.RemoveDevice{DeviceId: 3, DeviceList: bob.sign(t, 4, keep)}), pb.ErrorCode_INVALID_ARGUMENT)
	wantError(t, call(t, bob.conns[1], &pb.RemoveDevice{DeviceId: 1, DeviceList: bob.sign(t, 4, keep)}), pb.ErrorCode_INVALID_ARGUMENT)
	wantError(t, call(t, bob.conns[1], &pb.RemoveDevice{DeviceId: 3, DeviceList: bob.sign(t, 4, bob.devices)}), pb.ErrorCode_INVALID_ARGUMENT)
	if r := call(t, bob.conns[1], &pb.RemoveDevice{DeviceId: 3, DeviceList: bob.sign(t, 4, keep)}); r.GetDeviceRemoved().GetDeviceId() != 3 {
		t.Fatalf("remove 3: %v", r)
	}
	waitDepth(t, st, protocol.Address{User: "bob", Device: 3}, 0)
	// Remove bob.2 while it is connected: kicked at once.
	keep = keep[:1]
	if r := call(t, bob.conns[1], &pb.RemoveDevice{DeviceId: 2, DeviceList: bob.sign(t, 5, keep)}); r.GetDeviceRemoved() == nil {
		t.Fatalf("remove 2: %v", r)
	}
	wantGoodbye(t, bob.conns[2], pb.ErrorCode_DISABLED)
	for _, d := range []uint32{2, 3} {
		c, err := servertest.DialTCP(t.Context(), n.TCPAddr().String(), n.ServerKey(), bob.keys[d])
		if err != nil {
			// The node may close right after Goodbye, before Welcome.
			continue
		}
		if c.Welcome != nil && c.Welcome.Registered {
			t.Fatalf("removed bob.%d welcomed as %v", d, c.Welcome)
		}
		wantGoodbye(t, c, pb.ErrorCode_DISABLED)
	}
	// Alice's old view of bob is stale; the error carries the signed list.
	r = call(t, alice.conns[1], sendTo("bob", map[string][]uint32{"bob": {1, 2}}, false))
	e := wantError(t, r, pb.ErrorCode_STALE_DEVICES)
	if len(e.DeviceLists) == 0 || e.DeviceLists[0].User != "bob" || len(e.DeviceLists[0].DeviceIds) != 1 {
		t.Fatalf("STALE_DEVICES lists %v", e.DeviceLists)
	}
	if c := listContent(t, e.DeviceLists[0].Signed); c.Version != 5 || len(c.Devices) != 1 {
		t.Fatalf("signed list in STALE_DEVICES: %v", c)
	}
}

// UploadKeys.device_list: the primary may re-sign the current devices with
// a higher version; a companion may not; a list that does not match is
// refused.
func TestUploadDeviceList(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	bob := registerSigned(t, n, "bob")
	bob.link(t, n)
	wantError(t, call(t, bob.conns[1], &pb.UploadKeys{DeviceList: bob.sign(t, 2, bob.devices)}), pb.ErrorCode_INVALID_ARGUMENT)
	wantError(t, call(t, bob.conns[1], &pb.UploadKeys{DeviceList: bob.sign(t, 9, bob.devices[:1])}), pb.ErrorCode_INVALID_ARGUMENT)
	wantError(t, call(t, bob.conns[2], &pb.UploadKeys{DeviceList: bob.sign(t, 9, bob.devices)}), pb.ErrorCode_INVALID_ARGUMENT)
	if r := call(t, bob.conns[1], &pb.UploadKeys{DeviceList: bob.sign(t, 9, bob.devices)}); r.GetKeysUploaded() == nil {
		t.Fatalf("re-sign: %v", r)
	}
	dl := call(t, bob.conns[1], &pb.DeviceListRequest{User: "bob"}).GetDeviceList()
	if c := listContent(t, dl.Signed); c.Version != 9 {
		t.Fatalf("version %d, want 9", c.Version)
	}
}

// Fan-out with several devices per user: alice (2 devices) sends to bob (3
// devices); every device gets exactly its own copy, alice.2's copy says
// to=bob, and each bob device's ack makes a receipt naming that device for
// both alice devices.
func TestMultiDeviceFanout(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := registerSigned(t, n, "alice")
	alice.link(t, n)
	bob := registerSigned(t, n, "bob")
	bob.link(t, n)
	bob.link(t, n)
	// Missing alice.2 or one of bob's devices: stale.
	for _, targets := range []map[string][]uint32{
		{"bob": {1, 2, 3}},
		{"bob": {1, 2}, "alice": {2}},
		{"bob": {1, 2, 3, 3}, "alice": {2}},
	} {
		wantError(t, call(t, alice.conns[1], sendTo("bob", targets, false)), pb.ErrorCode_STALE_DEVICES)
	}
	m := sendTo("bob", map[string][]uint32{"bob": {1, 2, 3}, "alice": {2}}, false)
	if r := call(t, alice.conns[1], m); r.GetSendAck() == nil {
		t.Fatalf("send: %v", r)
	}
	for _, c := range []struct {
		conn *servertest.RawConn
		user string
	}{{bob.conns[1], "bob"}, {bob.conns[2], "bob"}, {bob.conns[3], "bob"}, {alice.conns[2], "alice"}} {
		d := c.conn.Expect(t, "envelope", func(f *pb.ServerFrame) bool { return f.GetDeliver().GetEnvelope() != nil }).GetDeliver()
		e := d.GetEnvelope()
		if !bytes.Equal(e.MessageId, m.MessageId) || e.From != "alice" || e.FromDevice != 1 || e.To != "bob" || string(e.Body) != "ct for "+c.user {
			t.Fatalf("%s got %v", c.user, e)
		}
		if err := c.conn.Write(ack(d.Seq)); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []uint32{1, 2} {
		from := map[uint32]bool{}
		for len(from) < 3 {
			rc := alice.conns[a].Expect(t, "receipt", func(f *pb.ServerFrame) bool { return f.GetDeliver().GetReceipt() != nil }).GetDeliver().GetReceipt()
			if rc.From != "bob" || !bytes.Equal(rc.MessageIds[0], m.MessageId) {
				t.Fatalf("receipt %v", rc)
			}
			from[rc.FromDevice] = true
		}
	}
}
