package storetest

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/store"
)

func list(v uint64) store.DeviceList {
	return store.DeviceList{Version: v, Content: []byte{byte(v), 1, 2, 3}, Signature: bytes.Repeat([]byte{7}, 64)}
}

func testDeviceLists(t *testing.T, fresh func(*testing.T) store.Store) {
	ctx := context.Background()
	t.Run("LinkAndRemove", func(t *testing.T) {
		s := fresh(t)
		register(t, s, "bob")
		_, err := s.DeviceList(ctx, "bob")
		wantErr(t, "DeviceList before any", err, store.ErrNotFound)
		noErr(t, "SetDeviceList v1", s.SetDeviceList(ctx, "bob", list(1)))
		wantErr(t, "SetDeviceList v1 again", s.SetDeviceList(ctx, "bob", list(1)), store.ErrStaleVersion)
		wantErr(t, "SetDeviceList unknown user", s.SetDeviceList(ctx, "nobody", list(1)), store.ErrNotFound)

		next, err := s.NextDeviceID(ctx, "bob")
		noErr(t, "NextDeviceID", err)
		if next != 2 {
			t.Fatalf("NextDeviceID = %d, want 2", next)
		}
		laptop := device("bob", 2)
		wantErr(t, "AddDevice stale list", s.AddDevice(ctx, laptop, list(1)), store.ErrStaleVersion)
		wantErr(t, "AddDevice wrong id", s.AddDevice(ctx, device("bob", 3), list(2)), store.ErrDeviceExists)
		taken := laptop
		taken.NoiseKey = device("bob", 1).NoiseKey
		wantErr(t, "AddDevice taken key", s.AddDevice(ctx, taken, list(2)), store.ErrKeyRegistered)
		noErr(t, "AddDevice", s.AddDevice(ctx, laptop, list(2)))
		got, err := s.DeviceByKey(ctx, laptop.NoiseKey)
		noErr(t, "DeviceByKey", err)
		if got.Address != laptop.Address {
			t.Fatalf("DeviceByKey = %v", got.Address)
		}
		devs, err := s.Devices(ctx, "bob")
		noErr(t, "Devices", err)
		if len(devs) != 2 {
			t.Fatalf("Devices = %d, want 2", len(devs))
		}
		noErr(t, "SetSignedPreKey", s.SetSignedPreKey(ctx, laptop.Address, store.SignedPreKey{ID: 1, PublicKey: []byte{5}, Signature: []byte{1}}))
		noErr(t, "AddPreKeys", s.AddPreKeys(ctx, laptop.Address, []store.PreKey{{ID: 1, PublicKey: []byte{5}}}))
		enqueue(t, s, entries(laptop.Address, 3, "for laptop"))

		noErr(t, "RemoveDevice", s.RemoveDevice(ctx, laptop.Address, list(3)))
		_, err = s.DeviceByKey(ctx, laptop.NoiseKey)
		wantErr(t, "DeviceByKey after removal", err, store.ErrNotFound)
		was, err := s.RemovedDevice(ctx, laptop.NoiseKey)
		noErr(t, "RemovedDevice", err)
		if was != laptop.Address {
			t.Fatalf("RemovedDevice = %v", was)
		}
		_, err = s.RemovedDevice(ctx, device("bob", 1).NoiseKey)
		wantErr(t, "RemovedDevice of a live key", err, store.ErrNotFound)
		wantQueue(t, s, laptop.Address, nil)
		c, err := s.KeyCounts(ctx, laptop.Address)
		if err == nil && c.PreKeys != 0 {
			t.Fatalf("prekeys survive removal: %+v", c)
		}
		devs, _ = s.Devices(ctx, "bob")
		if len(devs) != 1 {
			t.Fatalf("Devices after removal = %d, want 1", len(devs))
		}
		l, err := s.DeviceList(ctx, "bob")
		noErr(t, "DeviceList", err)
		if l.Version != 3 {
			t.Fatalf("list version %d, want 3", l.Version)
		}
		// Ids are never reused.
		next, _ = s.NextDeviceID(ctx, "bob")
		if next != 3 {
			t.Fatalf("NextDeviceID after removal = %d, want 3", next)
		}
		if err := s.RemoveDevice(ctx, addr("bob", 1), list(4)); err == nil {
			t.Fatal("RemoveDevice of the primary succeeded")
		}
	})
}

func group(id byte, version uint64, members ...string) store.Group {
	g := store.Group{ID: bytes.Repeat([]byte{id}, store.GroupIDSize), Name: "g", Version: version, CreatedAt: t0}
	for i, m := range members {
		role := store.RoleMember
		if i == 0 {
			role = store.RoleAdmin
		}
		g.Members = append(g.Members, store.GroupMember{User: m, Role: role, JoinedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	return g
}

func testGroups(t *testing.T, fresh func(*testing.T) store.Store) {
	ctx := context.Background()
	t.Run("SaveAndIndex", func(t *testing.T) {
		s := fresh(t)
		g := group(1, 1, "alice", "bob")
		ev := entries(addr("bob", 1), 1, "created")
		noErr(t, "SaveGroup", s.SaveGroup(ctx, g, ev))
		if ev[0].Seq == 0 {
			t.Fatal("event seq not set")
		}
		wantQueue(t, s, addr("bob", 1), values(ev))
		wantErr(t, "SaveGroup same version", s.SaveGroup(ctx, g, nil), store.ErrStaleVersion)
		got, err := s.Group(ctx, g.ID)
		noErr(t, "Group", err)
		if got.Name != "g" || len(got.Members) != 2 || got.Members[1].User != "bob" || got.Members[0].Role != store.RoleAdmin || !got.CreatedAt.Equal(t0) {
			t.Fatalf("Group = %+v", got)
		}
		g2 := group(1, 2, "alice", "carol")
		noErr(t, "SaveGroup v2", s.SaveGroup(ctx, g2, nil))
		for user, want := range map[string]int{"alice": 1, "bob": 0, "carol": 1} {
			ids, err := s.UserGroups(ctx, user)
			noErr(t, "UserGroups", err)
			if len(ids) != want {
				t.Fatalf("UserGroups(%s) = %d, want %d", user, len(ids), want)
			}
		}
		_, err = s.Group(ctx, bytes.Repeat([]byte{9}, store.GroupIDSize))
		wantErr(t, "Group unknown", err, store.ErrNotFound)
	})
	t.Run("Presence", func(t *testing.T) {
		s := fresh(t)
		ls, err := s.LastSeen(ctx, "bob")
		noErr(t, "LastSeen", err)
		if !ls.IsZero() {
			t.Fatalf("LastSeen of a new user = %v", ls)
		}
		noErr(t, "SetLastSeen", s.SetLastSeen(ctx, "bob", t0))
		ls, _ = s.LastSeen(ctx, "bob")
		if ls.UnixMilli() != t0.UnixMilli() {
			t.Fatalf("LastSeen = %v, want %v", ls, t0)
		}
		noErr(t, "SetPrivacy", s.SetPrivacy(ctx, "bob", 2))
		if p, _ := s.Privacy(ctx, "bob"); p != 2 {
			t.Fatalf("Privacy = %d", p)
		}
		noErr(t, "AddContact", s.AddContact(ctx, "bob", "alice"))
		noErr(t, "AddContact again", s.AddContact(ctx, "bob", "alice"))
		for _, c := range []struct {
			owner, peer string
			want        bool
		}{{"bob", "alice", true}, {"alice", "bob", false}, {"bob", "bo", false}} {
			got, err := s.IsContact(ctx, c.owner, c.peer)
			noErr(t, "IsContact", err)
			if got != c.want {
				t.Fatalf("IsContact(%s, %s) = %v", c.owner, c.peer, got)
			}
		}
	})
	t.Run("ContactsBounded", func(t *testing.T) {
		s := fresh(t)
		var names []string
		for i := range store.MaxContacts {
			names = append(names, "u"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)))
		}
		slices.Sort(names)
		for _, n := range names {
			noErr(t, "AddContact", s.AddContact(ctx, "bob", n))
		}
		wantErr(t, "AddContact over the limit", s.AddContact(ctx, "bob", "zzzz"), store.ErrLimit)
		noErr(t, "AddContact existing at the limit", s.AddContact(ctx, "bob", names[0]))
	})
}
