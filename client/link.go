package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// Linking a companion device:
//
//	companion                         node                        primary
//	LinkStart{identity, name} ──────▶
//	          ◀────────────── LinkCode{code}     (shown as text and QR)
//	                                   ◀──────────── LinkLookup{code}
//	                                   LinkInfo{id, identity, name, current} ──▶
//	                                                 user compares the key fingerprint
//	                                   ◀──────────── LinkApprove{code, list v+1 signed}
//	          ◀────────────── Linked{user, id, list}
//	reconnect, UploadKeys (prekeys)
//
// The companion trusts the primary identity that signed the list it gets
// in Linked (the user confirmed the companion's fingerprint on the
// primary, which is what binds the two).

// MaxDeviceNameSize bounds a device name shown to the primary.
const MaxDeviceNameSize = 64

// KeyFingerprint renders an identity key for people to compare: 20 hex
// digits of its SHA-256 in groups of 4. The companion shows its own while
// waiting, the primary shows the one it is about to approve.
func KeyFingerprint(k e2e.PublicKey) string {
	sum := sha256.Sum256(k.Bytes())
	h := hex.EncodeToString(sum[:10])
	var parts []string
	for i := 0; i < len(h); i += 4 {
		parts = append(parts, h[i:i+4])
	}
	return strings.Join(parts, " ")
}

// LinkCode is what a waiting companion shows.
type LinkCode struct {
	Code        string
	ExpiresAt   time.Time
	Fingerprint string // of this device's identity key
}

// LinkDevice links this (unregistered) device to an account as a
// companion: it asks the node for a link code, hands it to show (print it,
// draw a QR code), and waits until the primary approves or ctx ends. On
// success the device is registered, connected, and has uploaded its
// prekeys.
func (c *Client) LinkDevice(ctx context.Context, name string, show func(LinkCode)) error {
	if len(name) > MaxDeviceNameSize || !utf8.ValidString(name) {
		return fmt.Errorf("device name: at most %d bytes of UTF-8", MaxDeviceNameSize)
	}
	c.mu.Lock()
	a := c.acct
	c.mu.Unlock()
	if a != nil && a.Registered {
		return fmt.Errorf("%w as %s.%d", ErrAlreadyRegistered, a.User, a.DeviceId)
	}
	keys, err := c.prepareAccount(ctx)
	if err != nil {
		return err
	}
	cn, err := c.dial(ctx)
	if err != nil {
		return err
	}
	if w := cn.welcome; w.GetRegistered() {
		// An earlier attempt was approved but Linked got lost.
		cn.tc.Close()
		if err := c.markRegistered(ctx, w.GetUser(), w.GetDeviceId()); err != nil {
			return err
		}
		return c.finishLink(ctx, keys, nil)
	}
	linked, err := c.waitLinked(ctx, cn, keys.regID, name, show)
	cn.tc.Close()
	if err != nil {
		return err
	}
	content, _, err := openSignedList(linked.GetDeviceList())
	if err != nil {
		return fmt.Errorf("linked: %w", err)
	}
	c.mu.Lock()
	id := c.identity
	c.mu.Unlock()
	ok := content.GetUser() == linked.GetUser()
	ok = ok && slices.ContainsFunc(content.GetDevices(), func(d *pb.DeviceEntry) bool {
		return d.GetDeviceId() == linked.GetDeviceId() && bytes.Equal(d.GetIdentityKey(), id.Public.Bytes())
	})
	if !ok || linked.GetDeviceId() == primaryDevice {
		return fmt.Errorf("linked: the signed device list does not contain this device: %w", ErrDeviceListSignature)
	}
	if err := c.markRegistered(ctx, linked.GetUser(), linked.GetDeviceId()); err != nil {
		return err
	}
	return c.finishLink(ctx, keys, linked.GetDeviceList())
}

// waitLinked runs the companion's side on a bare connection: LinkStart,
// show the code, wait for Linked. No read loop runs on cn.
func (c *Client) waitLinked(ctx context.Context, cn *conn, regID uint32, name string, show func(LinkCode)) (*pb.Linked, error) {
	c.mu.Lock()
	id := c.identity
	c.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { cn.tc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	const startID = 1
	err := cn.send(&pb.ClientFrame{Id: startID, Body: &pb.ClientFrame_LinkStart{LinkStart: &pb.LinkStart{
		IdentityKey: id.Public.Bytes(), RegistrationId: regID, DeviceName: name,
	}}})
	if err != nil {
		return nil, err
	}
	// Keep the idle connection alive while the user walks to the primary.
	pingDone := make(chan struct{})
	defer close(pingDone)
	go func() {
		t := time.NewTicker(c.cfg.PingInterval)
		defer t.Stop()
		for n := uint64(startID + 1); ; n++ {
			select {
			case <-pingDone:
				return
			case <-t.C:
				if cn.send(&pb.ClientFrame{Id: n, Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}}) != nil {
					return
				}
			}
		}
	}()
	for {
		f, err := cn.readFrame()
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w: %w", ErrLinkTimeout, ctx.Err())
			}
			return nil, fmt.Errorf("waiting for approval: %w", err)
		}
		switch b := f.GetBody().(type) {
		case *pb.ServerFrame_Error:
			return nil, protocol.FromProto(b.Error)
		case *pb.ServerFrame_Goodbye:
			return nil, &protocol.Error{Code: b.Goodbye.GetCode(), Reason: b.Goodbye.GetReason()}
		case *pb.ServerFrame_LinkCode:
			if f.GetReplyTo() != startID || b.LinkCode.GetCode() == "" || len(b.LinkCode.GetCode()) > 64 {
				return nil, errors.New("link: bad link code from the node")
			}
			show(LinkCode{Code: b.LinkCode.GetCode(), ExpiresAt: msTime(b.LinkCode.GetExpiresAtMs()), Fingerprint: KeyFingerprint(id.Public)})
		case *pb.ServerFrame_Linked:
			l := b.Linked
			if protocol.ValidateHandle(l.GetUser()) != nil || l.GetDeviceId() == 0 {
				return nil, errors.New("link: bad Linked from the node")
			}
			return l, nil
		}
	}
}

// finishLink connects as the new device, records the account's signed
// list (nil: fetch it) and uploads the prekeys.
func (c *Client) finishLink(ctx context.Context, keys *registerKeys, list *pb.SignedDeviceList) error {
	if list != nil {
		if err := c.storeOwnList(ctx, list); err != nil {
			return err
		}
	}
	if err := c.Connect(ctx); err != nil {
		return fmt.Errorf("linked, but connecting failed: %w", err)
	}
	cn, err := c.current()
	if err != nil {
		return err
	}
	for _, up := range append([]*pb.UploadKeys{keys.first}, keys.rest...) {
		if _, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_UploadKeys{UploadKeys: up}}); err != nil {
			return fmt.Errorf("linked, but uploading prekeys failed: %w", err)
		}
	}
	a, _, err := c.account()
	if err != nil {
		return err
	}
	if list == nil {
		if _, err := c.devicesOf(ctx, cn, a.User, true); err != nil {
			return err
		}
	}
	// The account's groups, so the new device can send to them at once.
	if _, err := c.Groups(ctx); err != nil {
		c.log.Warn("fetching groups after linking failed", "err", err)
	}
	return nil
}

// LinkRequest is a waiting companion as the primary sees it.
type LinkRequest struct {
	Code        string
	DeviceID    uint32 // the id it gets if approved
	Name        string
	IdentityKey e2e.PublicKey
	Fingerprint string // compare with what the companion shows

	current *pb.SignedDeviceList
}

// LookupLink asks the node who is behind a link code (primary only).
func (c *Client) LookupLink(ctx context.Context, code string) (LinkRequest, error) {
	a, _, err := c.account()
	if err != nil {
		return LinkRequest{}, err
	}
	if a.DeviceId != primaryDevice {
		return LinkRequest{}, ErrNotPrimary
	}
	cn, err := c.current()
	if err != nil {
		return LinkRequest{}, err
	}
	r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_LinkLookup{LinkLookup: &pb.LinkLookup{Code: strings.TrimSpace(code)}}})
	if err != nil {
		return LinkRequest{}, fmt.Errorf("link code %s: %w", code, err)
	}
	li := r.GetLinkInfo()
	if li == nil || li.GetDeviceId() <= primaryDevice || len(li.GetDeviceName()) > MaxDeviceNameSize {
		return LinkRequest{}, fmt.Errorf("link code %s: unexpected reply", code)
	}
	k, err := e2e.ParsePublicKey(li.GetIdentityKey())
	if err != nil {
		return LinkRequest{}, fmt.Errorf("link code %s: %w", code, err)
	}
	return LinkRequest{Code: strings.TrimSpace(code), DeviceID: li.GetDeviceId(), Name: li.GetDeviceName(), IdentityKey: k,
		Fingerprint: KeyFingerprint(k), current: li.GetCurrent()}, nil
}

// ApproveLink signs the account's device list with the new device added
// (version+1) and sends it (primary only). The companion gets Linked.
func (c *Client) ApproveLink(ctx context.Context, req LinkRequest) error {
	cur, err := c.ownListForChange(ctx, req.current)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(cur.GetDevices(), func(d *pb.DeviceEntry) bool { return d.GetDeviceId() == req.DeviceID }) {
		return fmt.Errorf("device %d is already in the device list", req.DeviceID)
	}
	next := &pb.DeviceListContent{User: cur.GetUser(), Version: cur.GetVersion() + 1, TimestampMs: c.cfg.Now().UnixMilli(),
		Devices: append(slices.Clone(cur.GetDevices()), &pb.DeviceEntry{DeviceId: req.DeviceID, IdentityKey: req.IdentityKey.Bytes()})}
	slices.SortFunc(next.Devices, func(x, y *pb.DeviceEntry) int { return int(x.GetDeviceId()) - int(y.GetDeviceId()) })
	sl, err := c.signDeviceList(next)
	if err != nil {
		return err
	}
	cn, err := c.current()
	if err != nil {
		return err
	}
	r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_LinkApprove{LinkApprove: &pb.LinkApprove{Code: req.Code, DeviceList: sl}}})
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	if r.GetLinkApproved() == nil {
		return fmt.Errorf("approve: unexpected reply %T", r.GetBody())
	}
	if err := c.storeOwnList(ctx, sl); err != nil {
		return err
	}
	meta := strconv.FormatInt(c.cfg.Now().UnixMilli(), 10) + ":" + req.Name
	return storage.Set(ctx, c.st, keyDeviceMeta(req.DeviceID), []byte(meta))
}

// RemoveDevice unlinks a companion (primary only): the node drops its
// queue and refuses its connections; senders stop encrypting to it.
func (c *Client) RemoveDevice(ctx context.Context, device uint32) error {
	if device == primaryDevice {
		return errors.New("the primary device cannot be removed (register a new account instead)")
	}
	cur, err := c.ownListForChange(ctx, nil)
	if err != nil {
		return err
	}
	next := &pb.DeviceListContent{User: cur.GetUser(), Version: cur.GetVersion() + 1, TimestampMs: c.cfg.Now().UnixMilli()}
	for _, d := range cur.GetDevices() {
		if d.GetDeviceId() != device {
			next.Devices = append(next.Devices, d)
		}
	}
	if len(next.Devices) == len(cur.GetDevices()) {
		return fmt.Errorf("device %d is not linked to this account", device)
	}
	sl, err := c.signDeviceList(next)
	if err != nil {
		return err
	}
	cn, err := c.current()
	if err != nil {
		return err
	}
	r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_RemoveDevice{RemoveDevice: &pb.RemoveDevice{DeviceId: device, DeviceList: sl}}})
	if err != nil {
		return fmt.Errorf("remove device %d: %w", device, err)
	}
	if r.GetDeviceRemoved() == nil {
		return fmt.Errorf("remove device %d: unexpected reply %T", device, r.GetBody())
	}
	if err := c.storeOwnList(ctx, sl); err != nil {
		return err
	}
	return c.saveDeviceLists(ctx, []*pb.DeviceList{{User: cur.GetUser(), DeviceIds: listIDs(next), Signed: sl}})
}

// ownListForChange returns the newest list of this account that this
// primary signed: the local one, or the node's when newer (and signed by
// this device's key).
func (c *Client) ownListForChange(ctx context.Context, fromNode *pb.SignedDeviceList) (*pb.DeviceListContent, error) {
	a, id, err := c.account()
	if err != nil {
		return nil, err
	}
	if a.DeviceId != primaryDevice {
		return nil, ErrNotPrimary
	}
	cur, err := c.trustedContent(ctx, c.st, a.User)
	if err != nil {
		return nil, err
	}
	if fromNode != nil {
		content, primary, err := openSignedList(fromNode)
		if err == nil && primary.Equal(id.Public) && content.GetUser() == a.User && (cur == nil || content.GetVersion() > cur.GetVersion()) {
			cur = content
		}
	}
	if cur == nil {
		// No list yet (an account from before signed lists): start one.
		cur = &pb.DeviceListContent{User: a.User, Devices: []*pb.DeviceEntry{{DeviceId: primaryDevice, IdentityKey: id.Public.Bytes()}}}
	}
	return cur, nil
}

func keyDeviceMeta(id uint32) []byte { return []byte("devmeta/" + strconv.FormatUint(uint64(id), 10)) }

// deviceMeta returns the name and approval time this primary recorded.
func (c *Client) deviceMeta(ctx context.Context, id uint32) (string, time.Time) {
	b, err := c.st.Get(ctx, keyDeviceMeta(id))
	if err != nil {
		return "", time.Time{}
	}
	ms, name, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", time.Time{}
	}
	v, _ := strconv.ParseInt(ms, 10, 64)
	return name, msTime(v)
}
