package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

// maxListContent bounds a signed device list's content: 1 + MaxCompanions
// entries of ~40 bytes each, with room to spare.
const maxListContent = 4096

// wantEntry is one device a signed list must name.
type wantEntry struct {
	id  uint32
	key []byte
}

// checkSignedList verifies that l is a list of user, signed by primaryKey,
// naming exactly want (ordered by id, device 1 first), with a version that
// passes versionOK. It returns the parsed content.
func checkSignedList(l *pb.SignedDeviceList, user string, primaryKey []byte, want []wantEntry, versionOK func(uint64) bool) (*pb.DeviceListContent, error) {
	bad := func(format string, args ...any) error {
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "device list: "+format, args...)
	}
	if l == nil || len(l.Content) == 0 {
		return nil, bad("missing")
	}
	if len(l.Content) > maxListContent || len(l.Signature) > 128 {
		return nil, protocol.Errorf(pb.ErrorCode_TOO_LARGE, "device list: over %d bytes", maxListContent)
	}
	var c pb.DeviceListContent
	if err := proto.Unmarshal(l.Content, &c); err != nil {
		return nil, bad("undecodable content")
	}
	if c.User != user {
		return nil, bad("names user %q, not %q", c.User, user)
	}
	if !versionOK(c.Version) {
		return nil, bad("version %d is stale or skips ahead", c.Version)
	}
	if len(c.Devices) != len(want) {
		return nil, bad("names %d devices, want %d", len(c.Devices), len(want))
	}
	for i, d := range c.Devices {
		if d.DeviceId != want[i].id || !bytes.Equal(d.IdentityKey, want[i].key) {
			return nil, bad("entry %d (device %d) does not match the account's device %d", i, d.DeviceId, want[i].id)
		}
	}
	pk, err := e2e.ParsePublicKey(primaryKey)
	if err != nil {
		return nil, bad("primary identity key unusable: %v", err)
	}
	if !pk.VerifySignature(l.Content, l.Signature) {
		return nil, bad("bad signature")
	}
	return &c, nil
}

// currentEntries lists an account's devices as a signed list names them.
func currentEntries(devs []store.Device) []wantEntry {
	out := make([]wantEntry, 0, len(devs)+1)
	for _, d := range devs {
		if !d.Disabled {
			out = append(out, wantEntry{d.Address.Device, d.IdentityKey})
		}
	}
	return out
}

// storedList returns the account's signed list and its version (0, nil
// when none).
func storedList(ctx context.Context, st store.Store, user string) (uint64, *pb.SignedDeviceList, error) {
	l, err := st.DeviceList(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("device list of %s: %w", user, err)
	}
	return l.Version, &pb.SignedDeviceList{Content: l.Content, Signature: l.Signature}, nil
}

// withSigned attaches the signed lists to device lists about to leave the
// node (replies and STALE_DEVICES errors; never the Send hot path).
func withSigned(ctx context.Context, st store.Store, dls ...*pb.DeviceList) []*pb.DeviceList {
	for _, dl := range dls {
		if dl != nil && dl.Signed == nil {
			_, dl.Signed, _ = storedList(ctx, st, dl.User)
		}
	}
	return dls
}

func toStoreList(l *pb.SignedDeviceList, version uint64) store.DeviceList {
	return store.DeviceList{Version: version, Content: l.Content, Signature: l.Signature}
}

// listStoreError maps a store refusal of a list write to the device's error.
func listStoreError(op string, err error) error {
	switch {
	case errors.Is(err, store.ErrStaleVersion):
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "%s: stale version: the device list changed meanwhile", op)
	case errors.Is(err, store.ErrKeyRegistered):
		return protocol.Errorf(pb.ErrorCode_ALREADY_REGISTERED, "%s: that device key already has an account", op)
	case errors.Is(err, store.ErrDeviceExists):
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "%s: the device list changed meanwhile; look the code up again", op)
	case errors.Is(err, store.ErrNotFound):
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "%s: no such device", op)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// firstListOf is the list a Register carries, in either place.
func firstListOf(r *pb.Register) *pb.SignedDeviceList {
	if r.DeviceList != nil {
		return r.DeviceList
	}
	return r.GetKeys().GetDeviceList()
}

// checkFirstList validates a registration's list before the account exists.
func checkFirstList(r *pb.Register) error {
	l := firstListOf(r)
	if l == nil {
		return nil
	}
	_, err := checkSignedList(l, r.Handle, r.Keys.IdentityKey, []wantEntry{{1, r.Keys.IdentityKey}}, func(v uint64) bool { return v >= 1 })
	return err
}

// storeFirstList stores a registration's list, once the account exists.
func (s *Session) storeFirstList(ctx context.Context, r *pb.Register) error {
	l := firstListOf(r)
	if l == nil {
		return nil
	}
	c, err := checkSignedList(l, r.Handle, r.Keys.IdentityKey, []wantEntry{{1, r.Keys.IdentityKey}}, func(v uint64) bool { return v >= 1 })
	if err != nil {
		return err
	}
	if err := s.env.Store.SetDeviceList(ctx, r.Handle, toStoreList(l, c.Version)); err != nil {
		return listStoreError("register", err)
	}
	return nil
}

// uploadDeviceList handles UploadKeys.device_list: the primary re-signs
// (or signs for the first time) the account's current devices.
func (s *Session) uploadDeviceList(ctx context.Context, l *pb.SignedDeviceList, self store.Device) error {
	if l == nil {
		return nil
	}
	if s.addr.Device != 1 {
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "device list: only the primary device signs it")
	}
	devs, err := s.env.Store.Devices(ctx, s.addr.User)
	if err != nil {
		return fmt.Errorf("devices of %s: %w", s.addr.User, err)
	}
	cur, _, err := storedList(ctx, s.env.Store, s.addr.User)
	if err != nil {
		return err
	}
	c, err := checkSignedList(l, s.addr.User, self.IdentityKey, currentEntries(devs), func(v uint64) bool { return v > cur })
	if err != nil {
		return err
	}
	if err := s.env.Store.SetDeviceList(ctx, s.addr.User, toStoreList(l, c.Version)); err != nil {
		return listStoreError("upload device list", err)
	}
	return nil
}
