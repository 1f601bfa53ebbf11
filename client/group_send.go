package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// SendGroup sends text to a group (found by name or hex id): it makes sure
// every member device holds this device's current sender key (distributing
// it pairwise to the devices that do not), encrypts once with the sender
// key, and has the node fan the one ciphertext out to every member device,
// this user's other devices included (that is their sync copy). It returns
// once the node stored the message (✓).
func (c *Client) SendGroup(ctx context.Context, group, text string) (MessageID, error) {
	var id MessageID
	if len(text) > MaxTextSize {
		return id, fmt.Errorf("%w: %d bytes, at most %d", ErrTextTooLong, len(text), MaxTextSize)
	}
	if !utf8.ValidString(text) {
		return id, errors.New("message text is not valid UTF-8")
	}
	g, err := c.findGroup(ctx, group)
	if err != nil {
		return id, err
	}
	if g.Left {
		return id, fmt.Errorf("%q: %w", g.Name, ErrNotMember)
	}
	a, _, err := c.account()
	if err != nil {
		return id, err
	}
	cn, err := c.current()
	if err != nil {
		return id, err
	}
	if id, err = c.newMessageID(); err != nil {
		return id, err
	}
	now := c.cfg.Now().UnixMilli()
	content := &pb.Content{Body: &pb.Content_Text{Text: &pb.Text{Body: text}}, SentAtMs: now, SyncGroupId: g.ID[:]}
	item := &localpb.HistoryItem{
		MessageId: id[:], Peer: a.User, Outgoing: true, From: a.User, FromDevice: a.DeviceId,
		Text: text, SentAtMs: now, ReceivedAtMs: now, Status: localpb.Status_PENDING, StatusAtMs: now,
		GroupId: g.ID[:], GroupName: g.Name,
	}
	return id, c.sendGroupContent(ctx, cn, g, id, content, item, false)
}

// sendGroupContent sends content (whose SyncGroupId is g's) to the group
// under the sender key, retrying with a refreshed group when the node's
// device set differs, and marks item ✓ once the node stored it. stored
// says item is in history already (a resend from the outbox).
func (c *Client) sendGroupContent(ctx context.Context, cn *conn, g Group, id MessageID, content *pb.Content, item *localpb.HistoryItem, stored bool) error {
	a, _, err := c.account()
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			// The node's view differs: fetch the group (members and signed
			// device lists) and start over with it.
			if _, err := c.groupRequest(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_GroupGet{GroupGet: &pb.GroupGet{GroupId: g.ID[:]}}}); err != nil {
				return c.failItem(ctx, item, err)
			}
		}
		send, err := c.prepareGroupSend(ctx, cn, g.ID, id, content, item, !stored)
		if err != nil {
			return c.failItem(ctx, item, err)
		}
		stored = true
		if h := c.testHookGroupSend.Load(); h != nil {
			(*h)(send)
		}
		r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_GroupSend{GroupSend: send}})
		if protocol.CodeOf(err) == pb.ErrorCode_STALE_DEVICES && attempt < 2 {
			c.log.Info("group devices changed, retrying", "group", g.Name)
			continue
		}
		if err != nil {
			return c.failItem(ctx, item, err)
		}
		ack := r.GetSendAck()
		if ack == nil || string(ack.GetMessageId()) != string(id[:]) {
			return fmt.Errorf("group send: unexpected reply %T", r.GetBody())
		}
		return c.updateStatus(ctx, a.User, []MessageID{id}, StatusSent, ack.GetServerTimeMs(), "")
	}
}

// prepareGroupSend distributes the sender key where needed, encrypts
// content once and (first attempt) stores the PENDING item and its tick
// record. It returns the GroupSend with the exact recipient set.
func (c *Client) prepareGroupSend(ctx context.Context, cn *conn, gid GroupID, id MessageID, content *pb.Content, item *localpb.HistoryItem, store bool) (*pb.GroupSend, error) {
	a, identity, err := c.account()
	if err != nil {
		return nil, err
	}
	// Make sure every member's (verified) device list is known.
	grp, err := loadGroup(ctx, c.st, gid[:])
	if err != nil || grp == nil {
		return nil, fmt.Errorf("group %s: %w", gid, ErrNoSuchGroup)
	}
	for _, m := range grp.Members {
		if _, err := c.devicesOf(ctx, cn, m.User, false); err != nil && !errors.Is(err, ErrNoSuchUser) {
			return nil, err
		}
	}
	dist, err := c.ensureSenderKey(ctx, cn, gid)
	if err != nil {
		return nil, err
	}
	plain, err := encodeContent(c.cfg.Rand, content)
	if err != nil {
		return nil, err
	}
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	t := newTxn(c.st)
	grp, err = loadGroup(ctx, t, gid[:])
	if err != nil || grp == nil {
		return nil, fmt.Errorf("group %s: %w", gid, ErrNoSuchGroup)
	}
	recipients, err := c.groupRecipientsLocked(ctx, t, grp)
	if err != nil {
		return nil, err
	}
	es := newE2EStore(t, identity, a.RegistrationId)
	body, err := e2e.GroupEncrypt(ctx, c.e2eConfig(), es, e2e.Address{Name: a.User, DeviceID: a.DeviceId}, dist, plain)
	if err != nil {
		return nil, fmt.Errorf("group encrypt: %w", err)
	}
	send := &pb.GroupSend{MessageId: id[:], GroupId: gid[:], Body: body, ClientTimeMs: content.GetSentAtMs()}
	var members []string
	for _, m := range grp.Members {
		if m.User != a.User {
			members = append(members, m.User)
		}
	}
	// Own devices get the message too (their sync copy) but make no
	// delivery receipt, so ✓✓ waits only for the other members' devices.
	var others []string
	for _, r := range recipients {
		addr, _ := protocol.ParseAddress(r)
		send.Devices = append(send.Devices, &pb.DeviceRef{User: addr.User, DeviceId: addr.Device})
		if addr.User != a.User {
			others = append(others, r)
		}
	}
	if store {
		hk := keyGroupHistory(gid[:], c.nextTSLocked())
		t.Set(hk, mustMarshal(item))
		t.Set(keyMessageID(a.User, id), hk)
		if err := keepOutgoingLocked(t, hk, id, content, "", gid[:]); err != nil {
			return nil, err
		}
	}
	// The tick record follows the recipients of the latest attempt.
	t.Set(keyGroupReceipts(id), mustMarshal(&localpb.GroupReceipts{GroupId: gid[:], Devices: others, Members: members}))
	if err := t.commit(ctx, c.st); err != nil {
		return nil, err
	}
	return send, nil
}

// ensureSenderKey returns this device's distribution id for the group,
// creating the chain if needed, and sends the distribution message to every
// member whose devices do not all have it. One pairwise Send per member
// reaches all of that member's devices and this user's other devices.
func (c *Client) ensureSenderKey(ctx context.Context, cn *conn, gid GroupID) ([16]byte, error) {
	var dist [16]byte
	a, identity, err := c.account()
	if err != nil {
		return dist, err
	}
	self := e2e.Address{Name: a.User, DeviceID: a.DeviceId}
	c.cryptoMu.Lock()
	t := newTxn(c.st)
	grp, err := loadGroup(ctx, t, gid[:])
	if err == nil && grp == nil {
		err = fmt.Errorf("group %s: %w", gid, ErrNoSuchGroup)
	}
	var skdm []byte
	var recipients []string
	if err == nil {
		if len(grp.DistributionId) != 16 {
			grp.DistributionId, err = newDistributionID(c.cfg.Rand)
			grp.DistributedTo = nil
		}
		if err == nil {
			copy(dist[:], grp.DistributionId)
			es := newE2EStore(t, identity, a.RegistrationId)
			skdm, err = e2e.NewSenderKeyDistributionMessage(ctx, c.e2eConfig(), es, self, dist)
		}
		if err == nil {
			recipients, err = c.groupRecipientsLocked(ctx, t, grp)
		}
		if err == nil {
			t.Set(keyGroup(gid[:]), mustMarshal(grp))
			err = t.commit(ctx, c.st)
		}
	}
	c.cryptoMu.Unlock()
	if err != nil {
		return dist, err
	}
	// Which users have a device without the key?
	var needUsers []string
	ownMissing := false
	for _, r := range recipients {
		if slices.Contains(grp.DistributedTo, r) {
			continue
		}
		addr, _ := protocol.ParseAddress(r)
		if addr.User == a.User {
			ownMissing = true
		} else if !slices.Contains(needUsers, addr.User) {
			needUsers = append(needUsers, addr.User)
		}
	}
	if ownMissing && len(needUsers) == 0 {
		// Own devices get the key as the sync copy of a member's Send.
		for _, m := range grp.Members {
			if m.User != a.User {
				needUsers = append(needUsers, m.User)
				break
			}
		}
	}
	content := &pb.Content{
		Body: &pb.Content_SenderKeyDistribution{SenderKeyDistribution: &pb.SenderKeyDistribution{
			GroupId: gid[:], DistributionId: dist[:], Message: skdm,
		}},
		SentAtMs: c.cfg.Now().UnixMilli(), SyncGroupId: gid[:],
	}
	for _, u := range needUsers {
		mid, err := c.newMessageID()
		if err != nil {
			return dist, err
		}
		if err := c.sendContentOpts(ctx, u, mid, content, nil, sendOpts{silent: true, groupID: gid[:]}); err != nil {
			if errors.Is(err, ErrNoSuchUser) {
				continue // the account is gone; the node will drop it from the group
			}
			return dist, fmt.Errorf("sender key to %s: %w", u, err)
		}
		if err := c.markDistributed(ctx, gid, dist, a.User, u); err != nil {
			return dist, err
		}
	}
	return dist, nil
}

// markDistributed records that every current device of user (and this
// user's other devices, which got the sync copy) holds dist.
func (c *Client) markDistributed(ctx context.Context, gid GroupID, dist [16]byte, self, user string) error {
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	t := newTxn(c.st)
	grp, err := loadGroup(ctx, t, gid[:])
	if err != nil || grp == nil || string(grp.DistributionId) != string(dist[:]) {
		return err // rotated meanwhile: the next send distributes again
	}
	recipients, err := c.groupRecipientsLocked(ctx, t, grp)
	if err != nil {
		return err
	}
	for _, r := range recipients {
		addr, _ := protocol.ParseAddress(r)
		if (addr.User == user || addr.User == self) && !slices.Contains(grp.DistributedTo, r) {
			grp.DistributedTo = append(grp.DistributedTo, r)
		}
	}
	t.Set(keyGroup(gid[:]), mustMarshal(grp))
	return t.commit(ctx, c.st)
}
