package server_test

import (
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

func nextPresence(t *testing.T, c *servertest.RawConn) *pb.Presence {
	t.Helper()
	return c.Expect(t, "presence", func(f *pb.ServerFrame) bool { return f.GetPresence() != nil }).GetPresence()
}

// Presence: one frame per subscribed user at once, then a push when the
// user's first device connects and when its last one leaves (with the
// last-seen time); a second device changes nothing.
func TestPresenceOnlineOffline(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := registerSigned(t, n, "alice")
	bob := registerSigned(t, n, "bob")
	bob.link(t, n)
	bob.conns[1].Close()
	bob.conns[2].Close()
	wantError(t, call(t, alice.conns[1], &pb.PresenceSubscribe{Users: make([]string, 257)}), pb.ErrorCode_TOO_LARGE)
	// The node sees bob's connections close a moment later: subscribe
	// until the snapshot says offline.
	var p *pb.Presence
	for range 100 {
		if r := call(t, alice.conns[1], &pb.PresenceSubscribe{Users: []string{"bob", "nobody"}}); r.GetOk() == nil {
			t.Fatalf("subscribe: %v", r)
		}
		if p = nextPresence(t, alice.conns[1]); !p.Online {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p.User != "bob" || p.Online || p.LastSeenMs == 0 {
		t.Fatalf("initial presence %v, want offline with last seen", p)
	}
	seen := p.LastSeenMs

	b1 := servertest.Dial(t, n, bob.keys[1])
	// An offline push from the subscribe loop above may still be on its
	// way; the online one must follow.
	alice.conns[1].Expect(t, "bob online", func(f *pb.ServerFrame) bool { return f.GetPresence().GetOnline() })
	b2 := servertest.Dial(t, n, bob.keys[2])
	b1.Close()
	b2.Close()
	// Pushes and the subscription snapshot travel on different paths, so
	// only the final state is asserted here; that a second device makes
	// no push is the registry's unit test.
	p = alice.conns[1].Expect(t, "bob offline", func(f *pb.ServerFrame) bool {
		return f.GetPresence() != nil && !f.GetPresence().Online && f.GetPresence().LastSeenMs >= seen
	}).GetPresence()
	if p.User != "bob" {
		t.Fatalf("after the last device left: %v", p)
	}
}

// Privacy: nobody hides presence from everyone; contacts shows it only to
// users the account messaged or shares a group with.
func TestPresencePrivacy(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	bob := servertest.Register(t, n, "bob")
	alice := servertest.Register(t, n, "alice")
	carol := servertest.Register(t, n, "carol")
	dave := servertest.Register(t, n, "dave")
	wantError(t, call(t, bob, &pb.SetPrivacy{LastSeen: 9}), pb.ErrorCode_INVALID_ARGUMENT)
	if r := call(t, bob, &pb.SetPrivacy{LastSeen: pb.LastSeenPrivacy_LAST_SEEN_CONTACTS}); r.GetOk() == nil {
		t.Fatalf("SetPrivacy: %v", r)
	}
	// bob messages alice, and shares a group with dave.
	if r := call(t, bob, sendTo("alice", map[string][]uint32{"alice": {1}}, false)); r.GetSendAck() == nil {
		t.Fatalf("send: %v", r)
	}
	call(t, bob, &pb.GroupCreate{Name: "g", Members: []string{"dave"}})
	for _, c := range []struct {
		who  string
		conn *servertest.RawConn
		want bool
	}{{"alice", alice, true}, {"carol", carol, false}, {"dave", dave, true}} {
		call(t, c.conn, &pb.PresenceSubscribe{Users: []string{"bob"}})
		if p := nextPresence(t, c.conn); p.Online != c.want {
			t.Fatalf("%s sees bob online=%v, want %v", c.who, p.Online, c.want)
		}
	}
	call(t, bob, &pb.SetPrivacy{LastSeen: pb.LastSeenPrivacy_LAST_SEEN_NOBODY})
	call(t, alice, &pb.PresenceSubscribe{Users: []string{"bob"}})
	if p := nextPresence(t, alice); p.Online || p.LastSeenMs != 0 {
		t.Fatalf("nobody: alice sees %v", p)
	}
}

// Typing is pushed to online devices only (seq 0, ephemeral), never
// stored: a device offline at the time finds nothing when it connects.
// It is rate-limited per device.
func TestTypingNeverReachesOfflineDevice(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	alice := registerSigned(t, n, "alice")
	bob := registerSigned(t, n, "bob")
	bob.link(t, n)
	bob.conns[2].Close()
	bob.conns[1].Expect(t, "QueueDrained", drained)

	m := sendTo("bob", map[string][]uint32{"bob": {1, 2}}, true)
	if r := call(t, alice.conns[1], m); r.GetOk() == nil {
		t.Fatalf("typing send: %v", r)
	}
	d := bob.conns[1].Expect(t, "typing", isDeliver).GetDeliver()
	if d.Seq != 0 || !d.GetEnvelope().GetEphemeral() || d.GetEnvelope().From != "alice" {
		t.Fatalf("typing deliver %v", d)
	}
	st := server.StoreOf(n.Node)
	waitDepth(t, st, protocol.Address{User: "bob", Device: 2}, 0)
	b2 := servertest.Dial(t, n, bob.keys[2])
	qd := b2.Expect(t, "QueueDrained", func(f *pb.ServerFrame) bool {
		if f.GetDeliver() != nil {
			t.Fatalf("offline device got %v", f)
		}
		return drained(f)
	}).GetQueueDrained()
	if qd.Delivered != 0 {
		t.Fatalf("QueueDrained %v", qd)
	}

	limited := false
	for range 20 {
		r := call(t, alice.conns[1], sendTo("bob", map[string][]uint32{"bob": {1, 2}}, true))
		if e := r.GetError(); e != nil {
			if e.Code != pb.ErrorCode_RATE_LIMITED || e.RetryAfterMs == 0 {
				t.Fatalf("typing error %v", e)
			}
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("20 typing notices in a row were never rate-limited")
	}
}
