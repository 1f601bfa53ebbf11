package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// Run runs the suite; open must return a new, empty store for each call. The
// suite closes every store it opens (open may also register its own Close:
// a second Close must be harmless).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	fresh := func(t *testing.T) store.Store {
		t.Helper()
		s := open(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	t.Run("Accounts", func(t *testing.T) { testAccounts(t, fresh) })
	t.Run("Invites", func(t *testing.T) { testInvites(t, fresh) })
	t.Run("Keys", func(t *testing.T) { testKeys(t, fresh) })
	t.Run("Queues", func(t *testing.T) { testQueues(t, fresh) })
	t.Run("Pipelined", func(t *testing.T) { testPipelined(t, fresh) })
	t.Run("Close", func(t *testing.T) { testClose(t, fresh) })
	t.Run("DeviceLists", func(t *testing.T) { testDeviceLists(t, fresh) })
	t.Run("Groups", func(t *testing.T) { testGroups(t, fresh) })
}

// t0 is the suite's fixed account creation time.
var t0 = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)

func addr(user string, dev uint32) protocol.Address {
	return protocol.Address{User: user, Device: dev}
}

// device is a deterministic fixture: the noise key depends on the address.
func device(user string, id uint32) store.Device {
	return store.Device{
		Address:        addr(user, id),
		NoiseKey:       sha256.Sum256([]byte("noise " + addr(user, id).String())),
		RegistrationID: 4000 + id,
		IdentityKey:    []byte("identity key of " + addr(user, id).String()),
		CreatedAt:      t0,
	}
}

func account(handle string) store.Account {
	return store.Account{Handle: handle, CreatedAt: t0}
}

// register creates handle with primary device 1 and fails the test otherwise.
func register(t *testing.T, s store.Store, handle string) store.Device {
	t.Helper()
	d := device(handle, 1)
	if err := s.CreateAccount(context.Background(), account(handle), d, ""); err != nil {
		t.Fatalf("CreateAccount(%s): %v", handle, err)
	}
	return d
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func sameDevice(got, want store.Device) error {
	switch {
	case got.Address != want.Address:
		return fmt.Errorf("address %v, want %v", got.Address, want.Address)
	case got.NoiseKey != want.NoiseKey:
		return fmt.Errorf("noise key %x, want %x", got.NoiseKey, want.NoiseKey)
	case got.RegistrationID != want.RegistrationID:
		return fmt.Errorf("registration id %d, want %d", got.RegistrationID, want.RegistrationID)
	case !bytes.Equal(got.IdentityKey, want.IdentityKey):
		return fmt.Errorf("identity key %q, want %q", got.IdentityKey, want.IdentityKey)
	case !got.CreatedAt.Equal(want.CreatedAt):
		return fmt.Errorf("created %v, want %v", got.CreatedAt, want.CreatedAt)
	case got.Disabled != want.Disabled:
		return fmt.Errorf("disabled %v, want %v", got.Disabled, want.Disabled)
	}
	return nil
}

func sameInvite(got, want store.Invite) error {
	if got.Code != want.Code || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) ||
		got.UsedBy != want.UsedBy || got.Revoked != want.Revoked {
		return fmt.Errorf("invite %+v, want %+v", got, want)
	}
	return nil
}

// sameEntries compares entries by device, seq, payload and expiry, in order.
func sameEntries(got, want []store.Entry) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d entries %v, want %d %v", len(got), seqsOf(got), len(want), seqsOf(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Device != w.Device || g.Seq != w.Seq || !bytes.Equal(g.Payload, w.Payload) || !g.Expires.Equal(w.Expires) {
			return fmt.Errorf("entry %d = {%v %d %q %v}, want {%v %d %q %v}", i,
				g.Device, g.Seq, g.Payload, g.Expires, w.Device, w.Seq, w.Payload, w.Expires)
		}
	}
	return nil
}

func seqsOf(es []store.Entry) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.Seq
	}
	return out
}

func sortedBySeq(es []store.Entry) []store.Entry {
	es = slices.Clone(es)
	slices.SortFunc(es, func(a, b store.Entry) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return es
}

func values(es []*store.Entry) []store.Entry {
	out := make([]store.Entry, len(es))
	for i, e := range es {
		out[i] = *e
	}
	return out
}
