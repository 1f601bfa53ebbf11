package client

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/storage/memkv"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol/pb"
)

// signedList builds a list of user signed by primary (device 1) naming
// extra companions.
func signedList(t *testing.T, user string, version uint64, primary e2e.KeyPair, companions ...e2e.KeyPair) *pb.DeviceList {
	t.Helper()
	c := &pb.DeviceListContent{User: user, Version: version, Devices: []*pb.DeviceEntry{{DeviceId: 1, IdentityKey: primary.Public.Bytes()}}}
	ids := []uint32{1}
	for i, k := range companions {
		c.Devices = append(c.Devices, &pb.DeviceEntry{DeviceId: uint32(i + 2), IdentityKey: k.Public.Bytes()})
		ids = append(ids, uint32(i+2))
	}
	b, err := proto.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := primary.Private.Sign(rand.Reader, b)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.DeviceList{User: user, DeviceIds: ids, Signed: &pb.SignedDeviceList{Content: b, Signature: sig}}
}

func keyPair(t *testing.T) e2e.KeyPair {
	t.Helper()
	k, err := e2e.GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Lists that are unsigned, badly signed, tampered with, inconsistent with
// the node's plain list or older than a verified one are refused.
func TestDeviceListVerification(t *testing.T) {
	ctx := context.Background()
	bob, laptop, mallory := keyPair(t), keyPair(t), keyPair(t)
	v1 := signedList(t, "bob", 1, bob)
	v2 := signedList(t, "bob", 2, bob, laptop)
	tampered := proto.Clone(v2).(*pb.DeviceList)
	tampered.Signed.Content[len(tampered.Signed.Content)-1] ^= 1
	badSig := proto.Clone(v2).(*pb.DeviceList)
	badSig.Signed.Signature[0] ^= 1
	extra := proto.Clone(v2).(*pb.DeviceList)
	extra.DeviceIds = append(extra.DeviceIds, 9) // the node adds a device of its own
	injected := signedList(t, "bob", 3, bob, laptop)
	injected.Signed.Signature = signedList(t, "bob", 3, mallory, laptop).Signed.Signature
	other := signedList(t, "carol", 1, bob)
	other.User = "bob"

	tests := []struct {
		name  string
		lists []*pb.DeviceList
		want  error
	}{
		{"first use", []*pb.DeviceList{v1}, nil},
		{"newer", []*pb.DeviceList{v1, v2}, nil},
		{"same again", []*pb.DeviceList{v2, v2}, nil},
		{"unsigned", []*pb.DeviceList{{User: "bob", DeviceIds: []uint32{1}}}, ErrDeviceListUnsigned},
		{"tampered content", []*pb.DeviceList{tampered}, ErrDeviceListSignature},
		{"bad signature", []*pb.DeviceList{badSig}, ErrDeviceListSignature},
		{"node adds a device", []*pb.DeviceList{extra}, ErrDeviceListSignature},
		{"signed by another key", []*pb.DeviceList{v1, injected}, ErrDeviceListSignature},
		{"list of another user", []*pb.DeviceList{other}, ErrDeviceListSignature},
		{"rollback", []*pb.DeviceList{v2, v1}, ErrDeviceListRollback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{Storage: memkv.New()})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var last error
			for _, l := range tt.lists {
				if last = c.saveDeviceLists(ctx, []*pb.DeviceList{l}); last != nil {
					break
				}
			}
			if tt.want == nil && last != nil || tt.want != nil && !errors.Is(last, tt.want) {
				t.Fatalf("got %v, want %v", last, tt.want)
			}
		})
	}
}

// A reinstalled primary (new identity key, list restarts at version 1) is
// accepted on trust-on-first-use terms and reported as IdentityChanged.
func TestDeviceListPrimaryChangeReported(t *testing.T) {
	ctx := context.Background()
	c, err := New(Config{Storage: memkv.New(), EventBuffer: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.saveDeviceLists(ctx, []*pb.DeviceList{signedList(t, "bob", 5, keyPair(t))}); err != nil {
		t.Fatal(err)
	}
	if err := c.saveDeviceLists(ctx, []*pb.DeviceList{signedList(t, "bob", 1, keyPair(t))}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-c.Events():
		if ic, ok := ev.(IdentityChanged); !ok || ic.User != "bob" {
			t.Fatalf("event %#v", ev)
		}
	default:
		t.Fatal("no IdentityChanged for a new primary key")
	}
}

// Bundles must carry the identity key the signed list names.
func TestBundleIdentityMustMatchList(t *testing.T) {
	ctx := context.Background()
	c, err := New(Config{Storage: memkv.New()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bob := keyPair(t)
	if err := c.saveDeviceLists(ctx, []*pb.DeviceList{signedList(t, "bob", 1, bob)}); err != nil {
		t.Fatal(err)
	}
	if err := c.checkBundleIdentity(ctx, "bob", e2e.PreKeyBundle{DeviceID: 1, IdentityKey: bob.Public}); err != nil {
		t.Fatal(err)
	}
	if err := c.checkBundleIdentity(ctx, "bob", e2e.PreKeyBundle{DeviceID: 1, IdentityKey: keyPair(t).Public}); !errors.Is(err, ErrDeviceListSignature) {
		t.Fatalf("swapped key: %v", err)
	}
	if err := c.checkBundleIdentity(ctx, "bob", e2e.PreKeyBundle{DeviceID: 2, IdentityKey: bob.Public}); !errors.Is(err, ErrDeviceListSignature) {
		t.Fatalf("unlisted device: %v", err)
	}
}

func FuzzParseDeviceListContent(f *testing.F) {
	k, _ := e2e.GenerateKeyPair(rand.Reader)
	good, _ := proto.Marshal(&pb.DeviceListContent{User: "bob", Version: 1, Devices: []*pb.DeviceEntry{{DeviceId: 1, IdentityKey: k.Public.Bytes()}}})
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x03, 'b', 'o', 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseDeviceListContent(b)
		if err != nil {
			return
		}
		if c.GetDevices()[0].GetDeviceId() != 1 || c.GetVersion() == 0 {
			t.Fatalf("accepted %v", c)
		}
		_, _, _ = openSignedList(&pb.SignedDeviceList{Content: b, Signature: make([]byte, 64)})
	})
}

func FuzzDecodeGroupEvent(f *testing.F) {
	good, _ := proto.Marshal(&pb.GroupEvent{GroupId: make([]byte, 16), Type: pb.GroupEventType_ADDED, Actor: "alice", Targets: []string{"bob"}, Name: "team", Version: 2})
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeGroupEvent(b)
		if err != nil {
			return
		}
		h := &groupEventFuzzItem{ev: ev}
		_ = h.String()
	})
}

type groupEventFuzzItem struct{ ev *pb.GroupEvent }

func (h *groupEventFuzzItem) String() string {
	return GroupEventInfo{Type: eventTypeName(h.ev.GetType()), Actor: h.ev.GetActor(), Targets: h.ev.GetTargets(), Name: h.ev.GetName()}.String()
}
