package session

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/keys"
	"github.com/parley-im/parley/store"
)

var (
	hLinkStart    = needID(handleLinkStart)
	hLinkLookup   = needID(needAuth(handleLinkLookup))
	hLinkApprove  = needID(needAuth(handleLinkApprove))
	hRemoveDevice = needID(needAuth(handleRemoveDevice))
)

const (
	// linkAlphabet has no look-alikes (0/O, 1/I/L).
	linkAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
	linkCodeLen  = 8
	// maxPendingLinks bounds the node's memory for codes nobody approves.
	maxPendingLinks = 10000
	maxDeviceName   = 64
)

// Links is the node's registry of pending links: code → the waiting
// companion's session. A link lives only as long as that connection, so it
// is kept in memory, not in the store. Safe for concurrent use.
type Links struct {
	TTL time.Duration
	Now func() time.Time

	mu     sync.Mutex
	byCode map[string]*pendingLink // guarded by mu
}

type pendingLink struct {
	s        *Session
	noiseKey [32]byte
	identity []byte
	regID    uint32
	name     string
	expires  time.Time
}

// NewLinks returns an empty registry whose codes live for ttl.
func NewLinks(ttl time.Duration, now func() time.Time) *Links {
	return &Links{TTL: ttl, Now: now, byCode: make(map[string]*pendingLink)}
}

// put stores p under a fresh code.
func (l *Links) put(p *pendingLink) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.Now()
	if len(l.byCode) >= maxPendingLinks {
		for c, q := range l.byCode {
			if now.After(q.expires) {
				delete(l.byCode, c)
			}
		}
		if len(l.byCode) >= maxPendingLinks {
			return "", protocol.Errorf(pb.ErrorCode_RATE_LIMITED, "too many pending links; retry later")
		}
	}
	for {
		code := newLinkCode()
		if _, taken := l.byCode[code]; !taken {
			p.expires = now.Add(l.TTL)
			l.byCode[code] = p
			return code, nil
		}
	}
}

// get returns the live, unexpired link of code.
func (l *Links) get(code string) *pendingLink {
	code = normaliseCode(code)
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.byCode[code]
	if p == nil {
		return nil
	}
	if l.Now().After(p.expires) {
		delete(l.byCode, code)
		return nil
	}
	return p
}

// take removes code if it still belongs to p: single use.
func (l *Links) take(code string, p *pendingLink) bool {
	code = normaliseCode(code)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byCode[code] != p {
		return false
	}
	delete(l.byCode, code)
	return true
}

// drop forgets code when its waiting session s ends.
func (l *Links) drop(code string, s *Session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.byCode[code]; p != nil && p.s == s {
		delete(l.byCode, code)
	}
}

func newLinkCode() string {
	var b [linkCodeLen]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = linkAlphabet[int(b[i])%len(linkAlphabet)]
	}
	return string(b[:])
}

// normaliseCode accepts "k7qd-9m2p" for "K7QD9M2P".
func normaliseCode(c string) string {
	if len(c) > 32 {
		return ""
	}
	return strings.ToUpper(strings.ReplaceAll(c, "-", ""))
}

func displayCode(c string) string { return c[:4] + "-" + c[4:] }

func (s *Session) links() (*Links, error) {
	if s.env.Social == nil || s.env.Social.Links == nil {
		return nil, protocol.Errorf(pb.ErrorCode_INTERNAL, "linking is not available on this node")
	}
	return s.env.Social.Links, nil
}

func (s *Session) primaryOnly(what string) error {
	if s.addr.Device != 1 {
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "%s: primary device only", what)
	}
	return nil
}

// handleLinkStart gives an unregistered device a code to show.
func handleLinkStart(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	if s.authed || s.adoptLink(ctx) {
		return protocol.Errorf(pb.ErrorCode_ALREADY_REGISTERED, "this device already belongs to %s", s.addr.User)
	}
	links, err := s.links()
	if err != nil {
		return err
	}
	m := f.GetLinkStart()
	if len(m.IdentityKey) != keys.ECPublicKeySize || m.IdentityKey[0] != keys.ECKeyType {
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "identity key: want %d bytes starting 0x%02x", keys.ECPublicKeySize, keys.ECKeyType)
	}
	if len(m.DeviceName) > maxDeviceName {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "device name over %d bytes", maxDeviceName)
	}
	st := s.soc()
	if st.linkCode != "" {
		links.drop(st.linkCode, s)
	}
	code, err := links.put(&pendingLink{s: s, noiseKey: s.conn.RemoteKey(), identity: m.IdentityKey, regID: m.RegistrationId, name: m.DeviceName})
	if err != nil {
		return err
	}
	st.linkCode = code
	exp := s.env.Now().Add(links.TTL)
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_LinkCode{LinkCode: &pb.LinkCode{Code: displayCode(code), ExpiresAtMs: exp.UnixMilli()}}})
}

// handleLinkLookup shows the primary who is behind a code.
func handleLinkLookup(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	if err := s.primaryOnly("link lookup"); err != nil {
		return err
	}
	links, err := s.links()
	if err != nil {
		return err
	}
	p := links.get(f.GetLinkLookup().Code)
	if p == nil {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "unknown or expired link code")
	}
	next, err := s.env.Store.NextDeviceID(ctx, s.addr.User)
	if err != nil {
		return fmt.Errorf("link lookup: %w", err)
	}
	_, cur, err := storedList(ctx, s.env.Store, s.addr.User)
	if err != nil {
		return err
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_LinkInfo{LinkInfo: &pb.LinkInfo{
		DeviceId: next, IdentityKey: p.identity, DeviceName: p.name, Current: cur,
	}}})
}

// handleLinkApprove adds the companion with the primary's new signed list
// and tells the waiting companion.
func handleLinkApprove(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	if err := s.primaryOnly("link approve"); err != nil {
		return err
	}
	links, err := s.links()
	if err != nil {
		return err
	}
	m := f.GetLinkApprove()
	p := links.get(m.Code)
	if p == nil {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "unknown or expired link code")
	}
	devs, err := s.env.Store.Devices(ctx, s.addr.User)
	if err != nil {
		return fmt.Errorf("link approve: %w", err)
	}
	want := currentEntries(devs)
	if len(want)-1 >= s.env.Social.MaxCompanions {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d linked devices; remove one first", s.env.Social.MaxCompanions)
	}
	next, err := s.env.Store.NextDeviceID(ctx, s.addr.User)
	if err != nil {
		return fmt.Errorf("link approve: %w", err)
	}
	cur, _, err := storedList(ctx, s.env.Store, s.addr.User)
	if err != nil {
		return err
	}
	want = append(want, wantEntry{next, p.identity})
	c, err := checkSignedList(m.DeviceList, s.addr.User, devs[0].IdentityKey, want, func(v uint64) bool { return v == cur+1 })
	if err != nil {
		return err
	}
	addr := protocol.Address{User: s.addr.User, Device: next}
	dev := store.Device{Address: addr, NoiseKey: p.noiseKey, RegistrationID: p.regID, IdentityKey: p.identity, CreatedAt: s.env.Now()}
	if !links.take(m.Code, p) {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "unknown or expired link code")
	}
	if err := s.env.Store.AddDevice(ctx, dev, toStoreList(m.DeviceList, c.Version)); err != nil {
		return listStoreError("link approve", err)
	}
	s.env.Logger.Info("device linked", "device", addr.String())
	p.s.linked(addr, &pb.Linked{User: addr.User, DeviceId: addr.Device, DeviceList: m.DeviceList})
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_LinkApproved{LinkApproved: &pb.LinkApproved{DeviceId: next}}})
}

// linked runs on the approving primary's goroutine: it leaves the account
// in the companion's mailbox (its reader adopts it with the next frame) and
// writes Linked directly, as Kick writes Goodbye: the companion is idle,
// waiting for exactly this frame.
func (s *Session) linked(addr protocol.Address, l *pb.Linked) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.mailboxLocked().linked = &addr
	s.mu.Unlock()
	if err := s.writeFrame(&pb.ServerFrame{Body: &pb.ServerFrame_Linked{Linked: l}}); err != nil {
		s.env.Logger.Debug("linked push failed", "device", addr.String(), "err", err)
		s.closeConn() // wakes a parked reader, which ends the session
	}
}

// adoptLink authenticates the reader's session as the device a primary
// approved for it, if any. Only the reader calls it.
func (s *Session) adoptLink(ctx context.Context) bool {
	s.mu.Lock()
	var addr *protocol.Address
	if s.mail != nil {
		addr, s.mail.linked = s.mail.linked, nil
	}
	s.mu.Unlock()
	if addr == nil {
		return false
	}
	if s.social != nil {
		s.social.linkCode = ""
	}
	s.bind(*addr)
	s.startDelivery(ctx)
	return true
}

// handleRemoveDevice drops a companion: its device, keys and queue go in one
// write, and its live connection is closed.
func handleRemoveDevice(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	if err := s.primaryOnly("remove device"); err != nil {
		return err
	}
	m := f.GetRemoveDevice()
	if m.DeviceId == 1 {
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "the primary device cannot be removed")
	}
	devs, err := s.env.Store.Devices(ctx, s.addr.User)
	if err != nil {
		return fmt.Errorf("remove device: %w", err)
	}
	var want []wantEntry
	found := false
	for _, e := range currentEntries(devs) {
		if e.id == m.DeviceId {
			found = true
			continue
		}
		want = append(want, e)
	}
	if !found {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no device %s.%d", s.addr.User, m.DeviceId)
	}
	cur, _, err := storedList(ctx, s.env.Store, s.addr.User)
	if err != nil {
		return err
	}
	c, err := checkSignedList(m.DeviceList, s.addr.User, devs[0].IdentityKey, want, func(v uint64) bool { return v == cur+1 })
	if err != nil {
		return err
	}
	addr := protocol.Address{User: s.addr.User, Device: m.DeviceId}
	if err := s.env.Store.RemoveDevice(ctx, addr, toStoreList(m.DeviceList, c.Version)); err != nil {
		return listStoreError("remove device", err)
	}
	if p := s.env.Router.Lookup(addr); p != nil {
		p.Kick(pb.ErrorCode_DISABLED, "this device was removed from its account", 0)
	}
	s.env.Logger.Info("device removed", "device", addr.String())
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_DeviceRemoved{DeviceRemoved: &pb.DeviceRemoved{DeviceId: m.DeviceId}}})
}
