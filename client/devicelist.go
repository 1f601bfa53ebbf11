package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// Signed device lists. The node knows which devices an account has, but a
// node that lies could add a device of its own and read everything sent to
// the account. So the primary device (device 1) signs the list with its
// identity key, and a sender encrypts only to devices of a list that
// verifies under the primary identity it trusts for that user (trust on
// first use, like Signal's identity keys; a changed primary is accepted and
// reported as IdentityChanged so the user compares safety numbers).

// maxSignedListSize bounds a serialised DeviceListContent (64 devices of
// ~40 bytes, plus the user and version).
const maxSignedListSize = 4 << 10

// primaryDevice is the device id of an account's primary.
const primaryDevice = 1

func keyTrustedList(user string) []byte { return []byte("dl/" + user) }

// parseDeviceListContent decodes and checks a signed list's content: a
// valid user, version > 0, device 1 first, ids strictly increasing, every
// identity key well formed. It never verifies the signature.
func parseDeviceListContent(b []byte) (*pb.DeviceListContent, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("device list: empty content: %w", ErrDeviceListUnsigned)
	}
	if len(b) > maxSignedListSize {
		return nil, fmt.Errorf("device list: content of %d bytes: %w", len(b), ErrDeviceListSignature)
	}
	var c pb.DeviceListContent
	if err := proto.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("device list: %w: %w", ErrDeviceListSignature, err)
	}
	if err := protocol.ValidateHandle(c.GetUser()); err != nil {
		return nil, fmt.Errorf("device list: %w: %w", ErrDeviceListSignature, err)
	}
	if c.GetVersion() == 0 {
		return nil, fmt.Errorf("device list of %s: version 0: %w", c.GetUser(), ErrDeviceListSignature)
	}
	devs := c.GetDevices()
	if len(devs) == 0 || len(devs) > maxDevicesPerUser {
		return nil, fmt.Errorf("device list of %s: %d devices: %w", c.GetUser(), len(devs), ErrDeviceListSignature)
	}
	if devs[0].GetDeviceId() != primaryDevice {
		return nil, fmt.Errorf("device list of %s: device %d first, want the primary (1): %w", c.GetUser(), devs[0].GetDeviceId(), ErrDeviceListSignature)
	}
	for i, d := range devs {
		if i > 0 && d.GetDeviceId() <= devs[i-1].GetDeviceId() {
			return nil, fmt.Errorf("device list of %s: ids not increasing: %w", c.GetUser(), ErrDeviceListSignature)
		}
		if _, err := e2e.ParsePublicKey(d.GetIdentityKey()); err != nil {
			return nil, fmt.Errorf("device list of %s: device %d: %w: %w", c.GetUser(), d.GetDeviceId(), ErrDeviceListSignature, err)
		}
	}
	return &c, nil
}

// openSignedList checks a signed list's form and its signature by the
// identity key of its own device 1. It does not decide whether that key is
// the one to trust; verifyDeviceListLocked does.
func openSignedList(sl *pb.SignedDeviceList) (*pb.DeviceListContent, e2e.PublicKey, error) {
	if sl == nil || len(sl.GetContent()) == 0 {
		return nil, e2e.PublicKey{}, ErrDeviceListUnsigned
	}
	c, err := parseDeviceListContent(sl.GetContent())
	if err != nil {
		return nil, e2e.PublicKey{}, err
	}
	primary, _ := e2e.ParsePublicKey(c.GetDevices()[0].GetIdentityKey()) // checked by parse
	if len(sl.GetSignature()) != 64 || !primary.VerifySignature(sl.GetContent(), sl.GetSignature()) {
		return nil, e2e.PublicKey{}, fmt.Errorf("device list of %s: %w", c.GetUser(), ErrDeviceListSignature)
	}
	return c, primary, nil
}

// listIDs returns the device ids of a verified content.
func listIDs(c *pb.DeviceListContent) []uint32 {
	ids := make([]uint32, len(c.GetDevices()))
	for i, d := range c.GetDevices() {
		ids[i] = d.GetDeviceId()
	}
	return ids
}

// verifyDeviceListLocked checks a list from the node for user: it must be
// signed by the user's primary, name the same devices as the node's plain
// list, and not be older than the list already trusted. It buffers the new
// trusted record in t and returns the device ids and whether the primary
// identity changed (the caller reports IdentityChanged). Caller holds
// cryptoMu.
func (c *Client) verifyDeviceListLocked(ctx context.Context, t *txn, dl *pb.DeviceList) ([]uint32, bool, error) {
	user := dl.GetUser()
	content, primary, err := openSignedList(dl.GetSigned())
	if err != nil {
		return nil, false, fmt.Errorf("device list of %s: %w", user, err)
	}
	if content.GetUser() != user {
		return nil, false, fmt.Errorf("device list for %s is signed for %s: %w", user, content.GetUser(), ErrDeviceListSignature)
	}
	ids := listIDs(content)
	plain, err := cleanDeviceIDs(dl.GetDeviceIds())
	if err != nil {
		return nil, false, err
	}
	if !slices.Equal(plain, ids) {
		return nil, false, fmt.Errorf("device list of %s: node says %v, the signed list says %v: %w", user, plain, ids, ErrDeviceListSignature)
	}
	changed, err := c.trustListLocked(ctx, t, dl.GetSigned(), content, primary)
	return ids, changed, err
}

// trustListLocked compares a verified list with the trusted record and
// buffers it as the new one.
func (c *Client) trustListLocked(ctx context.Context, t *txn, sl *pb.SignedDeviceList, content *pb.DeviceListContent, primary e2e.PublicKey) (bool, error) {
	user := content.GetUser()
	old, err := loadTrustedList(ctx, t, user)
	if err != nil {
		return false, err
	}
	a, id, aerr := c.account()
	if aerr == nil && user == a.User && a.DeviceId == primaryDevice && !primary.Equal(id.Public) {
		// Our own account's list must carry our key as the primary.
		return false, fmt.Errorf("device list of your own account is signed by another key: %w", ErrDeviceListSignature)
	}
	changed := false
	if old != nil {
		oldKey, err := e2e.ParsePublicKey(old.PrimaryIdentity)
		if err != nil {
			return false, fmt.Errorf("trusted device list of %s: %w: %w", user, ErrBadRecord, err)
		}
		switch {
		case !oldKey.Equal(primary):
			if aerr == nil && user == a.User {
				return false, fmt.Errorf("device list of your own account is signed by a new primary key: %w", ErrDeviceListSignature)
			}
			changed = true // a reinstalled primary: TOFU again, tell the user
		case content.GetVersion() < old.Version:
			return false, fmt.Errorf("device list of %s: version %d after %d: %w", user, content.GetVersion(), old.Version, ErrDeviceListRollback)
		case content.GetVersion() == old.Version && !bytes.Equal(old.Content, sl.GetContent()):
			return false, fmt.Errorf("device list of %s: two different lists with version %d: %w", user, old.Version, ErrDeviceListSignature)
		case content.GetVersion() == old.Version:
			return false, nil // unchanged
		}
	}
	t.Set(keyTrustedList(user), mustMarshal(&localpb.TrustedDeviceList{
		PrimaryIdentity: primary.Bytes(), Version: content.GetVersion(),
		Content: sl.GetContent(), Signature: sl.GetSignature(), VerifiedMs: c.cfg.Now().UnixMilli(),
	}))
	return changed, nil
}

func loadTrustedList(ctx context.Context, g getter, user string) (*localpb.TrustedDeviceList, error) {
	b, err := g.Get(ctx, keyTrustedList(user))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trusted device list of %s: %w", user, err)
	}
	var r localpb.TrustedDeviceList
	if err := unmarshalBounded(b, 2*maxSignedListSize, &r, "trusted device list"); err != nil {
		return nil, err
	}
	return &r, nil
}

// trustedContent returns the verified list of user, or nil.
func (c *Client) trustedContent(ctx context.Context, g getter, user string) (*pb.DeviceListContent, error) {
	r, err := loadTrustedList(ctx, g, user)
	if err != nil || r == nil {
		return nil, err
	}
	content, err := parseDeviceListContent(r.Content)
	if err != nil {
		return nil, fmt.Errorf("trusted device list of %s: %w: %w", user, ErrBadRecord, err)
	}
	return content, nil
}

// checkBundleIdentity refuses a bundle whose identity key is not the one
// the verified device list names for that device: without this check a
// node could keep the signed list and swap the keys behind it.
func (c *Client) checkBundleIdentity(ctx context.Context, user string, b e2e.PreKeyBundle) error {
	content, err := c.trustedContent(ctx, c.st, user)
	if err != nil {
		return err
	}
	if content == nil {
		return fmt.Errorf("bundle of %s.%d: %w", user, b.DeviceID, ErrDeviceListUnsigned)
	}
	for _, d := range content.GetDevices() {
		if d.GetDeviceId() == b.DeviceID {
			if !bytes.Equal(d.GetIdentityKey(), b.IdentityKey.Bytes()) {
				return fmt.Errorf("bundle of %s.%d: identity key differs from the signed device list: %w", user, b.DeviceID, ErrDeviceListSignature)
			}
			return nil
		}
	}
	return fmt.Errorf("bundle of %s.%d: device not in the signed device list: %w", user, b.DeviceID, ErrDeviceListSignature)
}

// signDeviceList serialises and signs a list with this device's identity.
func (c *Client) signDeviceList(content *pb.DeviceListContent) (*pb.SignedDeviceList, error) {
	_, id, err := c.account()
	if err != nil {
		c.mu.Lock()
		id = c.identity
		c.mu.Unlock()
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(content)
	if err != nil {
		return nil, fmt.Errorf("device list: %w", err)
	}
	sig, err := id.Private.Sign(c.cfg.Rand, b)
	if err != nil {
		return nil, fmt.Errorf("sign device list: %w", err)
	}
	return &pb.SignedDeviceList{Content: b, Signature: sig}, nil
}

// firstDeviceList is the primary's list at registration: itself, version 1.
// Its content depends only on the account (the timestamp is the account's
// creation), so a retried Register signs the same content again.
func (c *Client) firstDeviceList(user string) (*pb.SignedDeviceList, error) {
	c.mu.Lock()
	id := c.identity
	var created int64
	if c.acct != nil {
		created = c.acct.CreatedMs
	}
	c.mu.Unlock()
	return c.signDeviceList(&pb.DeviceListContent{
		User: user, Version: 1, TimestampMs: created,
		Devices: []*pb.DeviceEntry{{DeviceId: primaryDevice, IdentityKey: id.Public.Bytes()}},
	})
}

// storeOwnList records a list this device signed (or received when linked)
// as the trusted one for its own user.
func (c *Client) storeOwnList(ctx context.Context, sl *pb.SignedDeviceList) error {
	content, primary, err := openSignedList(sl)
	if err != nil {
		return err
	}
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	t := newTxn(c.st)
	if _, err := c.trustListLocked(ctx, t, sl, content, primary); err != nil {
		return err
	}
	ids := listIDs(content)
	t.Set(keyDevices(content.GetUser()), mustMarshal(&localpb.Devices{DeviceIds: ids, UpdatedMs: c.cfg.Now().UnixMilli()}))
	return t.commit(ctx, c.st)
}

// DeviceInfo is one device of this account as `device list` shows it.
type DeviceInfo struct {
	ID          uint32
	IdentityKey e2e.PublicKey
	This        bool      // the device running this client
	Name        string    // as the companion called itself (known to the primary that approved it)
	Added       time.Time // when this primary approved it (zero when unknown)
}

// OwnDevices returns this account's devices from the latest verified
// signed list (fetched from the node when connected).
func (c *Client) OwnDevices(ctx context.Context) ([]DeviceInfo, uint64, error) {
	a, _, err := c.account()
	if err != nil {
		return nil, 0, err
	}
	if cn, err := c.current(); err == nil {
		if _, err := c.devicesOf(ctx, cn, a.User, true); err != nil {
			return nil, 0, err
		}
	}
	content, err := c.trustedContent(ctx, c.st, a.User)
	if err != nil {
		return nil, 0, err
	}
	if content == nil {
		return nil, 0, fmt.Errorf("own devices: %w", ErrDeviceListUnsigned)
	}
	var out []DeviceInfo
	for _, d := range content.GetDevices() {
		k, _ := e2e.ParsePublicKey(d.GetIdentityKey())
		di := DeviceInfo{ID: d.GetDeviceId(), IdentityKey: k, This: d.GetDeviceId() == a.DeviceId}
		di.Name, di.Added = c.deviceMeta(ctx, di.ID)
		if di.ID == primaryDevice && di.Name == "" {
			di.Name = "primary"
		}
		out = append(out, di)
	}
	return out, content.GetVersion(), nil
}
