package client

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/transport"
)

// kemPerFrame keeps an UploadKeys frame under protocol.MaxFrameSize: one
// signed ML-KEM-1024 prekey is ~1.65 KB on the wire.
const kemPerFrame = 24

// Register creates an account named handle whose primary device is this
// device: it generates the device's Noise key and Signal identity, a
// registration id, a signed prekey, Config.PreKeyBatch one-time prekeys and
// as many one-time ML-KEM prekeys plus a last-resort KEM prekey, stores
// them, sends Register, and uploads the rest of the keys. On success the
// client stays connected. inviteCode may be empty on open nodes.
//
// Node refusals come back as *protocol.Error: HANDLE_TAKEN,
// INVITE_REQUIRED, INVALID_INVITE, INVALID_HANDLE.
func (c *Client) Register(ctx context.Context, handle, inviteCode string) error {
	if err := protocol.ValidateHandle(handle); err != nil {
		return err
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
	w := cn.welcome
	var user string
	var device uint32
	if w.GetRegistered() {
		// An earlier attempt succeeded but its reply was lost.
		if w.GetUser() != handle {
			cn.tc.Close()
			return fmt.Errorf("this device key is already registered as %s on the node: %w", w.GetUser(), ErrAlreadyRegistered)
		}
		user, device = w.GetUser(), w.GetDeviceId()
		cn.tc.Close()
	} else {
		cn.c.wg.Add(1)
		go func() { defer cn.c.wg.Done(); cn.readLoop() }()
		first, err := c.firstDeviceList(handle) // devicelist.go
		if err != nil {
			cn.tc.Close()
			return err
		}
		reg := &pb.Register{Handle: handle, InviteCode: inviteCode, RegistrationId: keys.regID, Keys: keys.first, DeviceList: first}
		r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_Register{Register: reg}})
		cn.close(nil)
		if err != nil {
			return fmt.Errorf("register %s: %w", handle, err)
		}
		rg := r.GetRegistered()
		if rg == nil || rg.GetUser() != handle || rg.GetDeviceId() == 0 {
			return fmt.Errorf("register %s: unexpected reply %T", handle, r.GetBody())
		}
		user, device = rg.GetUser(), rg.GetDeviceId()
	}
	if err := c.markRegistered(ctx, user, device); err != nil {
		return err
	}
	if device == primaryDevice {
		first, err := c.firstDeviceList(user)
		if err == nil {
			err = c.storeOwnList(ctx, first)
		}
		if err != nil {
			return err
		}
	}
	if err := c.Connect(ctx); err != nil {
		return fmt.Errorf("registered as %s.%d, but connecting failed: %w", user, device, err)
	}
	cur, err := c.current()
	if err != nil {
		return err
	}
	for _, up := range keys.rest {
		if _, err := cur.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_UploadKeys{UploadKeys: up}}); err != nil {
			// The account works without them (the last-resort KEM key
			// covers); PrekeysLow will ask for a refill.
			c.log.Warn("uploading KEM prekeys failed", "err", err)
			break
		}
	}
	return nil
}

// registerKeys is what Register sends: the first frame's keys and the
// UploadKeys frames that follow.
type registerKeys struct {
	regID uint32
	first *pb.UploadKeys
	rest  []*pb.UploadKeys
}

// prepareAccount generates (once) and stores the device's keys. A retry
// after a refusal (e.g. HANDLE_TAKEN) reuses them.
func (c *Client) prepareAccount(ctx context.Context) (*registerKeys, error) {
	c.mu.Lock()
	a := c.acct
	c.mu.Unlock()
	r := c.cfg.Rand
	if a == nil {
		nk, err := transport.GenerateStaticKey(r)
		if err != nil {
			return nil, fmt.Errorf("device key: %w", err)
		}
		nkText, err := nk.MarshalText()
		if err != nil {
			return nil, fmt.Errorf("device key: %w", err)
		}
		id, err := e2e.GenerateKeyPair(r)
		if err != nil {
			return nil, fmt.Errorf("identity key: %w", err)
		}
		regID, err := registrationID(r)
		if err != nil {
			return nil, err
		}
		a = &localpb.Account{
			RegistrationId: regID, NoiseKey: nkText, IdentityPrivate: id.Private.Bytes(),
			NextPreKeyId: 1, NextKemPreKeyId: 2, SignedPreKeyId: 1, CreatedMs: c.cfg.Now().UnixMilli(),
		}
		if err := c.setAccount(a); err != nil {
			return nil, err
		}
		t := newTxn(c.st)
		spk, err := e2e.GenerateSignedPreKey(r, id, 1)
		if err != nil {
			return nil, fmt.Errorf("signed prekey: %w", err)
		}
		lr, err := e2e.GenerateKEMPreKey(r, id, 1, true)
		if err != nil {
			return nil, fmt.Errorf("last-resort KEM prekey: %w", err)
		}
		if err := storePreKeys(t, nil, &spk, []e2e.KEMPreKeyRecord{lr}); err != nil {
			return nil, err
		}
		t.Set(keyAccount, mustMarshal(a))
		if err := t.commit(ctx, c.st); err != nil {
			return nil, fmt.Errorf("store new device keys: %w", err)
		}
	}
	// One-time keys are generated on each attempt: the node stores only
	// what a successful Register carried.
	pks, kpks, err := c.generateOneTime(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	id := c.identity
	c.mu.Unlock()
	spk, err := newE2EStore(newTxn(c.st), id, a.RegistrationId).LoadSignedPreKey(ctx, a.SignedPreKeyId)
	if err != nil {
		return nil, err
	}
	lr, err := newE2EStore(newTxn(c.st), id, a.RegistrationId).LoadKEMPreKey(ctx, 1)
	if err != nil {
		return nil, err
	}
	first := &pb.UploadKeys{
		IdentityKey:         id.Public.Bytes(),
		SignedPreKey:        &pb.SignedPreKey{Id: spk.ID, PublicKey: spk.KeyPair.Public.Bytes(), Signature: spk.Signature},
		PreKeys:             preKeysProto(pks),
		LastResortKemPreKey: kemProto(lr),
	}
	uploads := kemUploads(kpks)
	rk := &registerKeys{regID: a.RegistrationId, first: first}
	if len(uploads) > 0 {
		first.KemPreKeys = uploads[0].KemPreKeys
		rk.rest = uploads[1:]
	}
	return rk, nil
}

// generateOneTime makes and stores a batch of one-time prekeys and KEM
// prekeys, advancing the account's id counters in the same batch.
func (c *Client) generateOneTime(ctx context.Context) ([]e2e.PreKeyRecord, []e2e.KEMPreKeyRecord, error) {
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	c.mu.Lock()
	a := proto.Clone(c.acct).(*localpb.Account)
	id := c.identity
	c.mu.Unlock()
	n := c.cfg.PreKeyBatch
	pks, err := e2e.GeneratePreKeys(c.cfg.Rand, a.NextPreKeyId, n)
	if err != nil {
		return nil, nil, fmt.Errorf("one-time prekeys: %w", err)
	}
	kpks := make([]e2e.KEMPreKeyRecord, 0, n)
	kid := a.NextKemPreKeyId
	for range n {
		if kid <= 1 { // 0 is "none", 1 is the last-resort key
			kid = 2
		}
		k, err := e2e.GenerateKEMPreKey(c.cfg.Rand, id, kid, false)
		if err != nil {
			return nil, nil, fmt.Errorf("KEM prekeys: %w", err)
		}
		kpks = append(kpks, k)
		kid++
	}
	a.NextPreKeyId += uint32(n)
	if a.NextPreKeyId == 0 {
		a.NextPreKeyId = 1
	}
	a.NextKemPreKeyId = kid
	t := newTxn(c.st)
	if err := storePreKeys(t, pks, nil, kpks); err != nil {
		return nil, nil, err
	}
	t.Set(keyAccount, mustMarshal(a))
	if err := t.commit(ctx, c.st); err != nil {
		return nil, nil, fmt.Errorf("store prekeys: %w", err)
	}
	c.mu.Lock()
	c.acct = a
	c.mu.Unlock()
	return pks, kpks, nil
}

// markRegistered records the address the node gave this device. It holds
// cryptoMu like every other read-modify-write of the account record (a
// concurrent prekey refill must not write back a stale copy).
func (c *Client) markRegistered(ctx context.Context, user string, device uint32) error {
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	c.mu.Lock()
	a := proto.Clone(c.acct).(*localpb.Account)
	c.mu.Unlock()
	a.User, a.DeviceId, a.Registered = user, device, true
	t := newTxn(c.st)
	t.Set(keyAccount, mustMarshal(a))
	if err := t.commit(ctx, c.st); err != nil {
		return fmt.Errorf("store account: %w", err)
	}
	c.mu.Lock()
	c.acct = a
	c.mu.Unlock()
	return nil
}

// registrationID picks a Signal registration id in 1..16380 as libsignal.
func registrationID(r io.Reader) (uint32, error) {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("registration id: %w", err)
	}
	return uint32(binary.BigEndian.Uint16(b[:]))%16380 + 1, nil
}

func preKeysProto(pks []e2e.PreKeyRecord) []*pb.PreKey {
	out := make([]*pb.PreKey, len(pks))
	for i, pk := range pks {
		out[i] = &pb.PreKey{Id: pk.ID, PublicKey: pk.KeyPair.Public.Bytes()}
	}
	return out
}

func kemProto(k e2e.KEMPreKeyRecord) *pb.KEMPreKey {
	return &pb.KEMPreKey{Id: k.ID, PublicKey: k.KeyPair.Public().Bytes(), Signature: k.Signature}
}

func kemUploads(kpks []e2e.KEMPreKeyRecord) []*pb.UploadKeys {
	var out []*pb.UploadKeys
	for i := 0; i < len(kpks); i += kemPerFrame {
		up := &pb.UploadKeys{}
		for _, k := range kpks[i:min(i+kemPerFrame, len(kpks))] {
			up.KemPreKeys = append(up.KemPreKeys, kemProto(k))
		}
		out = append(out, up)
	}
	return out
}

// refillPreKeysAsync answers PrekeysLow: generate and upload a new batch,
// once at a time.
func (c *Client) refillPreKeysAsync(cn *conn) {
	c.mu.Lock()
	if c.keysBusy || c.closed {
		c.mu.Unlock()
		return
	}
	c.keysBusy = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer func() { c.mu.Lock(); c.keysBusy = false; c.mu.Unlock() }()
		ctx, cancel := context.WithTimeout(context.Background(), 4*c.cfg.RequestTimeout)
		defer cancel()
		if err := c.refillPreKeys(ctx, cn); err != nil && !errors.Is(err, ErrNotConnected) {
			c.log.Warn("prekey refill failed", "err", err)
		}
	}()
}

func (c *Client) refillPreKeys(ctx context.Context, cn *conn) error {
	pks, kpks, err := c.generateOneTime(ctx)
	if err != nil {
		return err
	}
	ups := kemUploads(kpks)
	if len(ups) == 0 {
		ups = []*pb.UploadKeys{{}}
	}
	ups[0].PreKeys = preKeysProto(pks)
	for _, up := range ups {
		if _, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_UploadKeys{UploadKeys: up}}); err != nil {
			return fmt.Errorf("upload prekeys: %w", err)
		}
	}
	c.log.Info("refilled prekeys", "pre_keys", len(pks), "kem_pre_keys", len(kpks))
	return nil
}
