package server_test

import (
	"testing"
	"time"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

func fetch(user string) *pb.ClientFrame {
	return &pb.ClientFrame{Body: &pb.ClientFrame_FetchBundles{FetchBundles: &pb.FetchBundles{User: user}}}
}

// Each fetch consumes one one-time prekey and one KEM prekey; crossing the
// threshold tells the online device; then the KEM last-resort key is used.
func TestFetchBundlesConsumesAndWarns(t *testing.T) {
	n := servertest.Start(t, server.Config{PrekeyLowThreshold: 2})
	alice := servertest.Register(t, n, "alice")
	bob := servertest.Register(t, n, "bob") // 5 one-time and 5 KEM keys, ids 100..104
	seen := map[uint32]bool{}
	for i := range 5 {
		b := alice.MustCall(t, fetch("bob")).GetBundles()
		if b == nil || len(b.Bundles) != 1 {
			t.Fatalf("fetch %d: %v", i, b)
		}
		bu := b.Bundles[0]
		if bu.PreKey == nil || seen[bu.PreKey.Id] || bu.RegistrationId != 42 || bu.DeviceId != 1 || len(bu.IdentityKey) != 33 || bu.SignedPreKey == nil {
			t.Fatalf("fetch %d: bundle %v (seen %v)", i, bu, seen)
		}
		seen[bu.PreKey.Id] = true
		if bu.KemPreKey.Id == 1 {
			t.Fatalf("fetch %d got the last-resort KEM key while one-time keys remain", i)
		}
	}
	low := bob.Expect(t, "PrekeysLow", func(f *pb.ServerFrame) bool { return f.GetPrekeysLow() != nil }).GetPrekeysLow()
	if low.Threshold != 2 || low.PreKeys != 1 || low.KemPreKeys != 1 {
		t.Fatalf("PrekeysLow = %v, want 1/1 under 2", low)
	}
	// Out of one-time keys: no prekey, last-resort KEM key (id 1).
	bu := alice.MustCall(t, fetch("bob")).GetBundles().Bundles[0]
	if bu.PreKey != nil || bu.KemPreKey.Id != 1 {
		t.Fatalf("exhausted bundle = %v", bu)
	}
	// The device refills.
	up := servertest.FakeKeys(3, 3, 500)
	up.IdentityKey = nil
	r := bob.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_UploadKeys{UploadKeys: up}})
	if k := r.GetKeysUploaded(); k == nil || k.PreKeys != 3 || k.KemPreKeys != 3 {
		t.Fatalf("upload reply %v", r)
	}
	// Another identity key is refused.
	bad := servertest.FakeKeys(0, 0, 0)
	wantError(t, bob.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_UploadKeys{UploadKeys: bad}}), pb.ErrorCode_INVALID_ARGUMENT)
	wantError(t, alice.MustCall(t, fetch("nobody")), pb.ErrorCode_NOT_FOUND)
}

func TestPrekeysLowAfterWelcomeWhenOffline(t *testing.T) {
	n := servertest.Start(t, server.Config{PrekeyLowThreshold: 5})
	alice := servertest.Register(t, n, "alice")
	key := servertest.NewKey()
	bob := servertest.Dial(t, n, key)
	if err := bob.Register("bob", "", 5, 5); err != nil {
		t.Fatal(err)
	}
	bob.Close()
	alice.MustCall(t, fetch("bob"))
	bob = servertest.Dial(t, n, key)
	low := bob.Expect(t, "PrekeysLow", func(f *pb.ServerFrame) bool { return f.GetPrekeysLow() != nil }).GetPrekeysLow()
	if low.PreKeys != 4 {
		t.Fatalf("PrekeysLow = %v", low)
	}
}

// A device may fetch a whole group's bundles at once, but only a few of any
// one user's, so nobody can drain a user's one-time prekeys.
func TestFetchRateLimited(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	servertest.Register(t, n, "bob")
	for i := range 20 {
		if alice.MustCall(t, fetch("bob")).GetBundles() == nil {
			t.Fatalf("fetch %d of bob refused within the per-user burst", i)
		}
	}
	e := wantError(t, alice.MustCall(t, fetch("bob")), pb.ErrorCode_RATE_LIMITED)
	if e.RetryAfterMs == 0 || e.RetryAfterMs > uint64(4*time.Minute/time.Millisecond) {
		t.Fatalf("retry_after_ms = %d, want about 3 minutes (20 per hour)", e.RetryAfterMs)
	}
	// Other users' bundles are still available to alice, and other
	// requesters have their own buckets.
	carol := servertest.Register(t, n, "carol")
	if alice.MustCall(t, fetch("carol")).GetBundles() == nil {
		t.Fatal("alice limited for carol by her fetches of bob")
	}
	if carol.MustCall(t, fetch("bob")).GetBundles() == nil {
		t.Fatal("carol limited by alice's fetches")
	}
}

func TestDeviceList(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := servertest.Register(t, n, "alice")
	r := alice.MustCall(t, &pb.ClientFrame{Body: &pb.ClientFrame_DeviceList{DeviceList: &pb.DeviceListRequest{User: "alice"}}})
	if dl := r.GetDeviceList(); dl == nil || len(dl.DeviceIds) != 1 || dl.DeviceIds[0] != 1 {
		t.Fatalf("device list = %v", r)
	}
}
