package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// devicesOf returns user's device ids: the cached list, or the node's when
// there is none (or refresh is set).
func (c *Client) devicesOf(ctx context.Context, cn *conn, user string, refresh bool) ([]uint32, error) {
	if !refresh {
		b, err := c.st.Get(ctx, keyDevices(user))
		switch {
		case err == nil:
			d, err := decodeDevices(b)
			if err != nil {
				return nil, err
			}
			return d.DeviceIds, nil
		case !errors.Is(err, storage.ErrNotFound):
			return nil, fmt.Errorf("device list of %s: %w", user, err)
		}
	}
	r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_DeviceList{DeviceList: &pb.DeviceListRequest{User: user}}})
	if err != nil {
		return nil, userErr(user, err)
	}
	dl := r.GetDeviceList()
	if dl == nil {
		return nil, fmt.Errorf("device list of %s: unexpected reply %T", user, r.GetBody())
	}
	if err := c.saveDeviceLists(ctx, []*pb.DeviceList{dl}); err != nil {
		return nil, err
	}
	ids, err := cleanDeviceIDs(dl.GetDeviceIds())
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, &NoSuchUserError{User: user}
	}
	return ids, nil
}

// userErr turns NOT_FOUND for a user into ErrNoSuchUser.
func userErr(user string, err error) error {
	if protocol.CodeOf(err) == pb.ErrorCode_NOT_FOUND {
		return &NoSuchUserError{User: user}
	}
	return err
}

func cleanDeviceIDs(ids []uint32) ([]uint32, error) {
	if len(ids) > maxDevicesPerUser {
		return nil, fmt.Errorf("device list with %d devices: too many", len(ids))
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) > 0 && out[0] == 0 {
		return nil, errors.New("device list contains device 0")
	}
	return out, nil
}

// saveDeviceLists stores lists from the node and drops the sessions of
// devices that left, so a reused device id starts a fresh session.
// Every non-empty list must verify (devicelist.go) before it is used.
func (c *Client) saveDeviceLists(ctx context.Context, lists []*pb.DeviceList) error {
	c.cryptoMu.Lock()
	t := newTxn(c.st)
	changed, err := c.saveDeviceListsLocked(ctx, t, lists)
	if err == nil {
		err = t.commit(ctx, c.st)
	}
	c.cryptoMu.Unlock()
	if err != nil {
		return err
	}
	for _, u := range changed {
		c.emit(IdentityChanged{User: u, Device: primaryDevice})
	}
	return nil
}

// saveDeviceListsLocked buffers verified lists in t and returns the users
// whose primary identity changed. Caller holds cryptoMu.
func (c *Client) saveDeviceListsLocked(ctx context.Context, t *txn, lists []*pb.DeviceList) ([]string, error) {
	var changed []string
	for _, dl := range lists {
		if err := protocol.ValidateHandle(dl.GetUser()); err != nil {
			return nil, fmt.Errorf("device list: %w", err)
		}
		var ids []uint32
		if len(dl.GetDeviceIds()) > 0 || dl.GetSigned() != nil {
			var ch bool
			var err error
			if ids, ch, err = c.verifyDeviceListLocked(ctx, t, dl); err != nil {
				return nil, err
			}
			if ch {
				changed = append(changed, dl.GetUser())
			}
		}
		err := c.st.Scan(ctx, prefixSessions(dl.GetUser()), false, func(k, _ []byte) error {
			var dev uint32
			if _, err := fmt.Sscanf(string(k[len(prefixSessions(dl.GetUser())):]), "%d", &dev); err == nil && !slices.Contains(ids, dev) {
				t.Delete(k)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("device list of %s: %w", dl.GetUser(), err)
		}
		t.Set(keyDevices(dl.GetUser()), mustMarshal(&localpb.Devices{DeviceIds: ids, UpdatedMs: c.cfg.Now().UnixMilli()}))
	}
	return changed, nil
}

// fetchMissingBundles fetches bundles for the devices of user that have no
// session yet. Each fetch consumes one of their one-time prekeys, so it is
// done only when needed.
func (c *Client) fetchMissingBundles(ctx context.Context, cn *conn, user string, devs []uint32) ([]e2e.PreKeyBundle, error) {
	var missing []uint32
	for _, d := range devs {
		ok, err := e2e.HasSession(ctx, c.readStores(), e2e.Address{Name: user, DeviceID: d})
		if err != nil {
			return nil, fmt.Errorf("session %s.%d: %w", user, d, err)
		}
		if !ok {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_FetchBundles{FetchBundles: &pb.FetchBundles{User: user, DeviceIds: missing}}})
	if err != nil {
		return nil, userErr(user, err)
	}
	bs := r.GetBundles()
	if bs == nil || bs.GetUser() != user {
		return nil, fmt.Errorf("bundles of %s: unexpected reply", user)
	}
	out := make([]e2e.PreKeyBundle, 0, len(bs.GetBundles()))
	for _, b := range bs.GetBundles() {
		if !slices.Contains(missing, b.GetDeviceId()) {
			return nil, fmt.Errorf("bundles of %s: unasked device %d", user, b.GetDeviceId())
		}
		eb, err := bundleFromProto(b)
		if err != nil {
			return nil, fmt.Errorf("bundle of %s.%d: %w", user, b.GetDeviceId(), err)
		}
		if err := c.checkBundleIdentity(ctx, user, eb); err != nil {
			return nil, err
		}
		out = append(out, eb)
	}
	return out, nil
}

// readStores gives e2e read access to committed state only.
func (c *Client) readStores() e2e.Stores {
	c.mu.Lock()
	id, reg := c.identity, uint32(0)
	if c.acct != nil {
		reg = c.acct.RegistrationId
	}
	c.mu.Unlock()
	return newE2EStore(newTxn(c.st), id, reg).stores()
}

func bundleFromProto(b *pb.Bundle) (e2e.PreKeyBundle, error) {
	var out e2e.PreKeyBundle
	ik, err := e2e.ParsePublicKey(b.GetIdentityKey())
	if err != nil {
		return out, fmt.Errorf("identity key: %w", err)
	}
	spk, err := e2e.ParsePublicKey(b.GetSignedPreKey().GetPublicKey())
	if err != nil {
		return out, fmt.Errorf("signed prekey: %w", err)
	}
	out = e2e.PreKeyBundle{
		RegistrationID: b.GetRegistrationId(), DeviceID: b.GetDeviceId(), IdentityKey: ik,
		SignedPreKeyID: b.GetSignedPreKey().GetId(), SignedPreKey: spk, SignedPreKeySignature: b.GetSignedPreKey().GetSignature(),
	}
	if pk := b.GetPreKey(); pk != nil {
		k, err := e2e.ParsePublicKey(pk.GetPublicKey())
		if err != nil {
			return out, fmt.Errorf("one-time prekey: %w", err)
		}
		out.PreKeyID, out.PreKey = pk.GetId(), &k
	}
	if kk := b.GetKemPreKey(); kk != nil {
		k, err := e2e.ParseKEMPublicKey(kk.GetPublicKey())
		if err != nil {
			return out, fmt.Errorf("KEM prekey: %w", err)
		}
		out.KEMPreKeyID, out.KEMPreKey, out.KEMPreKeySignature = kk.GetId(), &k, kk.GetSignature()
	}
	return out, nil
}
