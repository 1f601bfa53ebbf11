package server_test

import (
	"crypto/rand"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/servertest"
	"github.com/parley-im/parley/transport"
)

// acct is an account whose primary holds a real identity key, so the
// device lists it signs verify.
type acct struct {
	user    string
	id      e2e.IdentityKeyPair
	version uint64
	devices []*pb.DeviceEntry
	conns   map[uint32]*servertest.RawConn
	keys    map[uint32]transport.StaticKey
}

func newIdentity(t testing.TB) e2e.IdentityKeyPair {
	t.Helper()
	kp, err := e2e.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// sign makes a signed list of version v naming devs.
func (a *acct) sign(t testing.TB, v uint64, devs []*pb.DeviceEntry) *pb.SignedDeviceList {
	t.Helper()
	c, err := proto.Marshal(&pb.DeviceListContent{User: a.user, Version: v, Devices: devs, TimestampMs: time.Now().UnixMilli()})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := a.id.Private.Sign(rand.Reader, c)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.SignedDeviceList{Content: c, Signature: sig}
}

// registerSigned registers user with a real identity key and its first
// signed device list.
func registerSigned(t testing.TB, n *servertest.Node, user string) *acct {
	t.Helper()
	a := &acct{user: user, id: newIdentity(t), conns: map[uint32]*servertest.RawConn{}, keys: map[uint32]transport.StaticKey{}}
	key := servertest.NewKey()
	c := servertest.Dial(t, n, key)
	keys := servertest.FakeKeys(5, 5, 100)
	keys.IdentityKey = a.id.Public.Bytes()
	a.devices = []*pb.DeviceEntry{{DeviceId: 1, IdentityKey: keys.IdentityKey}}
	a.version = 1
	r := c.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_Register{Register: &pb.Register{
		Handle: user, RegistrationId: 1, Keys: keys, DeviceList: a.sign(t, 1, a.devices),
	}}})
	if r.GetRegistered() == nil {
		t.Fatalf("register %s: %v", user, r)
	}
	a.conns[1], a.keys[1] = c, key
	return a
}

func drained(f *pb.ServerFrame) bool { return f.GetQueueDrained() != nil }

// link links a new companion to a through the whole code flow and returns
// its id; the companion's connection is authenticated afterwards.
func (a *acct) link(t testing.TB, n *servertest.Node) uint32 {
	t.Helper()
	key := servertest.NewKey()
	comp := servertest.Dial(t, n, key)
	cid := newIdentity(t)
	r := comp.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_LinkStart{LinkStart: &pb.LinkStart{IdentityKey: cid.Public.Bytes(), RegistrationId: 7, DeviceName: "laptop"}}})
	code := r.GetLinkCode()
	if code == nil {
		t.Fatalf("LinkStart: %v", r)
	}
	p := a.conns[1]
	r = p.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_LinkLookup{LinkLookup: &pb.LinkLookup{Code: code.Code}}})
	info := r.GetLinkInfo()
	if info == nil {
		t.Fatalf("LinkLookup: %v", r)
	}
	devs := append(append([]*pb.DeviceEntry(nil), a.devices...), &pb.DeviceEntry{DeviceId: info.DeviceId, IdentityKey: info.IdentityKey})
	r = p.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_LinkApprove{LinkApprove: &pb.LinkApprove{Code: code.Code, DeviceList: a.sign(t, a.version+1, devs)}}})
	if ap := r.GetLinkApproved(); ap == nil || ap.DeviceId != info.DeviceId {
		t.Fatalf("LinkApprove: %v", r)
	}
	a.version++
	a.devices = devs
	l := comp.Expect(t, "Linked", func(f *pb.ServerFrame) bool { return f.GetLinked() != nil }).GetLinked()
	if l.User != a.user || l.DeviceId != info.DeviceId {
		t.Fatalf("Linked = %v", l)
	}
	up := servertest.FakeKeys(5, 5, 100)
	up.IdentityKey = cid.Public.Bytes()
	if r := comp.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_UploadKeys{UploadKeys: up}}); r.GetKeysUploaded() == nil {
		t.Fatalf("companion UploadKeys: %v", r)
	}
	a.conns[info.DeviceId], a.keys[info.DeviceId] = comp, key
	return info.DeviceId
}

func call(t testing.TB, c *servertest.RawConn, body any) *pb.ServerFrame {
	t.Helper()
	f := &pb.ClientFrame{}
	switch b := body.(type) {
	case *pb.Send:
		f.Body = &pb.ClientFrame_Send{Send: b}
	case *pb.GroupCreate:
		f.Body = &pb.ClientFrame_GroupCreate{GroupCreate: b}
	case *pb.GroupUpdate:
		f.Body = &pb.ClientFrame_GroupUpdate{GroupUpdate: b}
	case *pb.GroupGet:
		f.Body = &pb.ClientFrame_GroupGet{GroupGet: b}
	case *pb.GroupSend:
		f.Body = &pb.ClientFrame_GroupSend{GroupSend: b}
	case *pb.GroupListRequest:
		f.Body = &pb.ClientFrame_GroupList{GroupList: b}
	case *pb.PresenceSubscribe:
		f.Body = &pb.ClientFrame_PresenceSubscribe{PresenceSubscribe: b}
	case *pb.SetPrivacy:
		f.Body = &pb.ClientFrame_SetPrivacy{SetPrivacy: b}
	case *pb.DeviceListRequest:
		f.Body = &pb.ClientFrame_DeviceList{DeviceList: b}
	case *pb.RemoveDevice:
		f.Body = &pb.ClientFrame_RemoveDevice{RemoveDevice: b}
	case *pb.LinkLookup:
		f.Body = &pb.ClientFrame_LinkLookup{LinkLookup: b}
	case *pb.LinkApprove:
		f.Body = &pb.ClientFrame_LinkApprove{LinkApprove: b}
	case *pb.UploadKeys:
		f.Body = &pb.ClientFrame_UploadKeys{UploadKeys: b}
	default:
		t.Fatalf("call: unsupported %T", body)
	}
	return c.MustCall(t, f)
}

// sendTo builds a pairwise Send naming the given devices.
func sendTo(to string, targets map[string][]uint32, ephemeral bool) *pb.Send {
	s := &pb.Send{MessageId: servertest.MessageID(), To: to, Ephemeral: ephemeral}
	for u, ids := range targets {
		for _, d := range ids {
			s.Ciphertexts = append(s.Ciphertexts, &pb.OutgoingCiphertext{User: u, DeviceId: d, Type: pb.EnvelopeType_CIPHERTEXT, Body: []byte("ct for " + u)})
		}
	}
	return s
}

// quiet asserts nothing arrives on c for a short while.
func quiet(t testing.TB, c *servertest.RawConn, what string) {
	t.Helper()
	old := c.Timeout
	c.Timeout = 200 * time.Millisecond
	defer func() { c.Timeout = old }()
	if f, err := c.Next(); err == nil {
		t.Fatalf("%s: got %v, want nothing", what, f)
	}
}
