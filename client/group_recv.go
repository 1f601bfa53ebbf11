package client

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// GroupEventInfo is a membership change shown as a system line in a
// group's history, in order with its messages.
type GroupEventInfo struct {
	Type    string // created, added, removed, left, renamed, promoted, demoted
	Actor   string
	Targets []string
	Name    string // the group's name after the change
	Version uint64
}

// String renders the event the way a chat shows it: "alice added carol".
func (e GroupEventInfo) String() string {
	ts := strings.Join(e.Targets, ", ")
	switch e.Type {
	case "created":
		return fmt.Sprintf("%s created the group %q", e.Actor, e.Name)
	case "added":
		return e.Actor + " added " + ts
	case "removed":
		return e.Actor + " removed " + ts
	case "left":
		if ts != "" && ts != e.Actor {
			return ts + " left"
		}
		return e.Actor + " left"
	case "renamed":
		return fmt.Sprintf("%s renamed the group to %q", e.Actor, e.Name)
	case "promoted":
		return e.Actor + " made " + ts + " admin"
	case "demoted":
		return e.Actor + " removed " + ts + " as admin"
	}
	return e.Actor + " changed the group"
}

func eventTypeName(t pb.GroupEventType) string {
	switch t {
	case pb.GroupEventType_CREATED:
		return "created"
	case pb.GroupEventType_ADDED:
		return "added"
	case pb.GroupEventType_REMOVED:
		return "removed"
	case pb.GroupEventType_LEFT:
		return "left"
	case pb.GroupEventType_RENAMED:
		return "renamed"
	case pb.GroupEventType_PROMOTED:
		return "promoted"
	case pb.GroupEventType_DEMOTED:
		return "demoted"
	}
	return "changed"
}

// maxGroupEventSize bounds a stored group event (without its GroupInfo).
const maxGroupEventSize = 64 << 10

// decodeGroupEvent parses a stored or received event (without info) and
// checks it.
func decodeGroupEvent(b []byte) (*pb.GroupEvent, error) {
	if len(b) > maxGroupEventSize {
		return nil, fmt.Errorf("group event of %d bytes: too large", len(b))
	}
	var ev pb.GroupEvent
	if err := proto.Unmarshal(b, &ev); err != nil {
		return nil, fmt.Errorf("group event: %w", err)
	}
	return &ev, checkGroupEvent(&ev)
}

func checkGroupEvent(ev *pb.GroupEvent) error {
	if len(ev.GetGroupId()) != GroupIDSize {
		return fmt.Errorf("group event: id of %d bytes", len(ev.GetGroupId()))
	}
	if ev.GetActor() != "" {
		if err := protocol.ValidateHandle(ev.GetActor()); err != nil {
			return fmt.Errorf("group event actor: %w", err)
		}
	}
	if len(ev.GetTargets()) > maxGroupMembers {
		return fmt.Errorf("group event: %d targets", len(ev.GetTargets()))
	}
	for _, u := range ev.GetTargets() {
		if err := protocol.ValidateHandle(u); err != nil {
			return fmt.Errorf("group event target: %w", err)
		}
	}
	if ev.GetName() != "" {
		if err := validateGroupName(ev.GetName()); err != nil {
			return fmt.Errorf("group event: %w", err)
		}
	}
	return nil
}

// groupFields fills the group parts of a history record's public forms.
func groupFields(h *localpb.HistoryItem) (*GroupRef, *GroupEventInfo) {
	if len(h.GroupId) != GroupIDSize {
		return nil, nil
	}
	ref := &GroupRef{Name: h.GroupName}
	copy(ref.ID[:], h.GroupId)
	if len(h.GroupEvent) == 0 {
		return ref, nil
	}
	ev, err := decodeGroupEvent(h.GroupEvent)
	if err != nil {
		return ref, &GroupEventInfo{Type: "changed"}
	}
	return ref, &GroupEventInfo{Type: eventTypeName(ev.GetType()), Actor: ev.GetActor(), Targets: ev.GetTargets(), Name: ev.GetName(), Version: ev.GetVersion()}
}

// storeGroupItemLocked buffers a group history item, its seen/index entry
// and an inbox entry; it returns the Message event.
func (c *Client) storeGroupItemLocked(t *txn, h *localpb.HistoryItem, seenKey []byte) Event {
	ts := c.nextTSLocked()
	hk := keyGroupHistory(h.GroupId, ts)
	t.Set(hk, mustMarshal(h))
	if seenKey != nil {
		t.Set(seenKey, hk)
	}
	ik := keyInbox(ts)
	t.Set(ik, hk)
	m := messageFromRecord(h)
	m.inboxKey = ik
	return m
}

// handleGroupEnvelopeLocked decrypts a sender-key group message. Like
// handleEnvelopeLocked it returns only storage errors.
func (c *Client) handleGroupEnvelopeLocked(ctx context.Context, t *txn, a *localpb.Account, identity e2e.IdentityKeyPair, env *pb.Envelope, seenKey []byte) ([]Event, error) {
	from, dev := env.GetFrom(), env.GetFromDevice()
	id := MessageID(env.GetMessageId())
	gid := env.GetGroupId()
	if len(gid) != GroupIDSize {
		c.log.Warn("dropping group message without a group", "from", from)
		t.Set(seenKey, seenMarker)
		return nil, nil
	}
	grp, err := loadGroup(ctx, t, gid)
	if err != nil {
		return nil, err
	}
	name := ""
	if grp != nil {
		name = grp.Name
	} else {
		c.refreshGroupAsync(GroupID(gid)) // e.g. a device linked after the group was made
	}
	now := c.cfg.Now().UnixMilli()
	h := &localpb.HistoryItem{
		MessageId: id[:], Peer: from, From: from, FromDevice: dev, ReceivedAtMs: now,
		ServerTimeMs: env.GetServerTimeMs(), GroupId: gid, GroupName: name,
	}
	if from == a.User {
		h.Outgoing, h.Status, h.StatusAtMs = true, localpb.Status_SENT, env.GetServerTimeMs()
	}
	fail := func(cause error) ([]Event, error) {
		c.log.Warn("could not decrypt group message", "from", from, "device", dev, "group", hex.EncodeToString(gid), "err", cause)
		h.Undecryptable, h.Error = true, cause.Error()
		return []Event{c.storeGroupItemLocked(t, h, seenKey)}, nil
	}
	if len(env.GetBody()) > protocol.MaxCiphertextSize {
		return fail(fmt.Errorf("ciphertext of %d bytes: too large", len(env.GetBody())))
	}
	child := t.child()
	es := newE2EStore(child, identity, a.RegistrationId)
	plain, err := e2e.GroupDecrypt(ctx, es, e2e.Address{Name: from, DeviceID: dev}, env.GetBody())
	if errors.Is(err, e2e.ErrDuplicateMessage) {
		t.Set(seenKey, seenMarker)
		return nil, nil
	}
	if err != nil {
		if errors.Is(err, storage.ErrClosed) {
			return nil, err
		}
		return fail(err)
	}
	t.merge(child)
	content, err := decodeContent(plain)
	if err != nil {
		return fail(err)
	}
	if string(content.GetSyncGroupId()) != string(gid) {
		// The node may not move a message from one group to another.
		return fail(errors.New("group message names another group"))
	}
	h.SentAtMs = content.GetSentAtMs()
	switch body := content.GetBody().(type) {
	case *pb.Content_Text:
		h.Text = body.Text.GetBody()
	case *pb.Content_Attachment:
		b, _ := proto.Marshal(body.Attachment)
		h.Attachment, h.Text = b, body.Attachment.GetCaption()
	default:
		t.Set(seenKey, seenMarker)
		return nil, nil
	}
	return []Event{c.storeGroupItemLocked(t, h, seenKey)}, nil
}

// handleSenderKeyLocked stores a member's sender key that arrived pairwise.
func (c *Client) handleSenderKeyLocked(ctx context.Context, t *txn, es *e2eStore, from string, dev uint32, skd *pb.SenderKeyDistribution) {
	if len(skd.GetGroupId()) != GroupIDSize || len(skd.GetDistributionId()) != 16 || len(skd.GetMessage()) > protocol.MaxCiphertextSize {
		c.log.Warn("dropping malformed sender key", "from", from)
		return
	}
	if err := e2e.ProcessSenderKeyDistributionMessage(ctx, es, e2e.Address{Name: from, DeviceID: dev}, skd.GetMessage()); err != nil {
		c.log.Warn("dropping sender key", "from", from, "device", dev, "err", err)
	}
}

// keyGroupEventSeen makes a redelivered event (crash before the ack) a
// no-op: one event per (group, version, type).
func keyGroupEventSeen(ev *pb.GroupEvent) []byte {
	return []byte("gev/" + hex.EncodeToString(ev.GetGroupId()) + "/" + strconv.FormatUint(ev.GetVersion(), 10) + "/" + strconv.Itoa(int(ev.GetType())))
}

// handleGroupEventLocked applies a membership change and stores it as a
// system line in the group's history.
func (c *Client) handleGroupEventLocked(ctx context.Context, t *txn, a *localpb.Account, ev *pb.GroupEvent) ([]Event, error) {
	if err := checkGroupEvent(ev); err != nil {
		c.log.Warn("dropping malformed group event", "err", err)
		return nil, nil
	}
	seen := keyGroupEventSeen(ev)
	if ok, err := t.has(ctx, seen); err != nil || ok {
		return nil, err
	}
	var events []Event
	gid := ev.GetGroupId()
	if info := ev.GetInfo(); info != nil && len(info.GetGroupId()) > 0 {
		if string(info.GetGroupId()) != string(gid) {
			c.log.Warn("group event carries another group's info")
		} else {
			child := t.child()
			_, changed, err := c.ingestGroupInfoLocked(ctx, child, a.User, info)
			if err != nil {
				c.log.Warn("refusing the group info of an event", "err", err)
			} else {
				t.merge(child)
				for _, u := range changed {
					events = append(events, IdentityChanged{User: u, Device: primaryDevice})
				}
			}
		}
	}
	grp, err := loadGroup(ctx, t, gid)
	if err != nil {
		return nil, err
	}
	gone := (ev.GetType() == pb.GroupEventType_REMOVED || ev.GetType() == pb.GroupEventType_LEFT)
	if grp != nil && gone {
		targets := ev.GetTargets()
		if ev.GetType() == pb.GroupEventType_LEFT && len(targets) == 0 {
			targets = []string{ev.GetActor()}
		}
		if ev.GetInfo() == nil || len(ev.GetInfo().GetGroupId()) == 0 {
			grp.Members = slices.DeleteFunc(grp.Members, func(m *localpb.GroupMemberRecord) bool { return slices.Contains(targets, m.User) })
		}
		if slices.Contains(targets, a.User) {
			grp.Left = true
		}
		if err := c.rotateIfNeededLocked(ctx, t, grp); err != nil {
			return nil, err
		}
		if grp.Left {
			grp.DistributionId, grp.DistributedTo = nil, nil
		}
		t.Set(keyGroup(gid), mustMarshal(grp))
	}
	name := ev.GetName()
	if name == "" && grp != nil {
		name = grp.Name
	}
	bare := proto.Clone(ev).(*pb.GroupEvent)
	bare.Info = nil
	raw, err := proto.Marshal(bare)
	if err != nil {
		return nil, fmt.Errorf("group event: %w", err)
	}
	sum := sha256.Sum256(append(append([]byte("parley group event"), seen...), binary.BigEndian.AppendUint64(nil, uint64(ev.GetServerTimeMs()))...))
	actor := ev.GetActor()
	if actor == "" {
		actor = a.User
	}
	now := c.cfg.Now().UnixMilli()
	h := &localpb.HistoryItem{
		MessageId: sum[:16], Peer: actor, From: actor, SentAtMs: ev.GetServerTimeMs(), ReceivedAtMs: now,
		ServerTimeMs: ev.GetServerTimeMs(), GroupId: gid, GroupName: name, GroupEvent: raw,
	}
	t.Set(seen, seenMarker)
	return append(events, c.storeGroupItemLocked(t, h, nil)), nil
}

// groupDeliveredLocked counts a node DELIVERED receipt against our group
// messages: ✓✓ once every recipient device has it. It returns the ids that
// are not group messages, for the 1:1 path.
func (c *Client) groupDeliveredLocked(ctx context.Context, t *txn, self string, r *pb.Receipt) ([]MessageID, []StatusChange, error) {
	dev := protocol.Address{User: r.GetFrom(), Device: r.GetFromDevice()}.String()
	return c.groupTickLocked(ctx, t, self, parseIDs(r.GetMessageIds()), r.GetServerTimeMs(), func(gr *localpb.GroupReceipts, at int64) Status {
		if !slices.Contains(gr.Devices, dev) {
			return StatusUnknown
		}
		if gr.Delivered == nil {
			gr.Delivered = map[string]int64{}
		}
		if _, ok := gr.Delivered[dev]; !ok {
			gr.Delivered[dev] = at
		}
		for _, d := range gr.Devices {
			if _, ok := gr.Delivered[d]; !ok {
				return StatusUnknown
			}
		}
		return StatusDelivered
	})
}

// groupReadLocked counts a member's read receipt: read once every member
// has read.
func (c *Client) groupReadLocked(ctx context.Context, t *txn, self, from string, ids []MessageID, at int64) ([]MessageID, []StatusChange, error) {
	return c.groupTickLocked(ctx, t, self, ids, at, func(gr *localpb.GroupReceipts, at int64) Status {
		if !slices.Contains(gr.Members, from) {
			return StatusUnknown
		}
		if gr.Read == nil {
			gr.Read = map[string]int64{}
		}
		if _, ok := gr.Read[from]; !ok {
			gr.Read[from] = at
		}
		for _, m := range gr.Members {
			if _, ok := gr.Read[m]; !ok {
				return StatusUnknown
			}
		}
		return StatusRead
	})
}

func (c *Client) groupTickLocked(ctx context.Context, t *txn, self string, ids []MessageID, at int64, apply func(*localpb.GroupReceipts, int64) Status) ([]MessageID, []StatusChange, error) {
	if at == 0 {
		at = c.cfg.Now().UnixMilli()
	}
	var rest []MessageID
	var sts []StatusChange
	for _, id := range ids {
		gr, err := loadGroupReceipts(ctx, t, id)
		if err != nil {
			return nil, nil, err
		}
		if gr == nil {
			rest = append(rest, id)
			continue
		}
		st := apply(gr, at)
		t.Set(keyGroupReceipts(id), mustMarshal(gr))
		if st == StatusUnknown {
			continue
		}
		ch, err := c.applyStatusLocked(ctx, t, self, []MessageID{id}, st, at, "")
		if err != nil {
			return nil, nil, err
		}
		sts = append(sts, ch...)
	}
	return rest, sts, nil
}

func loadGroupReceipts(ctx context.Context, g getter, id MessageID) (*localpb.GroupReceipts, error) {
	b, err := g.Get(ctx, keyGroupReceipts(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var gr localpb.GroupReceipts
	if err := unmarshalBounded(b, 1<<20, &gr, "group receipts"); err != nil {
		return nil, err
	}
	return &gr, nil
}

// MemberReceipt is one member's ticks on a group message.
type MemberReceipt struct {
	User      string
	Devices   int       // devices the message went to
	Delivered int       // of which delivered
	LastAt    time.Time // when the last device got it (zero until all did)
	ReadAt    time.Time
}

// MessageInfo is what `parley info MSGID` shows.
type MessageInfo struct {
	Item    HistoryItem
	Members []MemberReceipt // group messages only
}

// MessageInfo returns one of our messages with, for group messages, the
// per-member delivery and read times.
func (c *Client) MessageInfo(ctx context.Context, id MessageID) (MessageInfo, error) {
	a, _, err := c.account()
	if err != nil {
		return MessageInfo{}, err
	}
	h, err := c.itemByID(ctx, a.User, id)
	if err != nil {
		return MessageInfo{}, err
	}
	out := MessageInfo{Item: historyFromRecord(h)}
	gr, err := loadGroupReceipts(ctx, c.st, id)
	if err != nil || gr == nil {
		return out, err
	}
	per := map[string]*MemberReceipt{}
	var order []string
	get := func(u string) *MemberReceipt {
		if m := per[u]; m != nil {
			return m
		}
		per[u] = &MemberReceipt{User: u}
		order = append(order, u)
		return per[u]
	}
	for _, u := range gr.Members {
		get(u)
	}
	last := map[string]int64{}
	for _, d := range gr.Devices {
		addr, err := protocol.ParseAddress(d)
		if err != nil {
			continue
		}
		m := get(addr.User)
		m.Devices++
		if at, ok := gr.Delivered[d]; ok {
			m.Delivered++
			last[addr.User] = max(last[addr.User], at)
		}
	}
	for _, u := range order {
		m := per[u]
		if m.Devices > 0 && m.Delivered == m.Devices {
			m.LastAt = msTime(last[u])
		}
		if at, ok := gr.Read[u]; ok {
			m.ReadAt = msTime(at)
		}
		out.Members = append(out.Members, *m)
	}
	return out, nil
}

// GroupHistory returns the last limit items (limit <= 0: all) of a
// group's conversation, system events included, oldest first.
func (c *Client) GroupHistory(ctx context.Context, group string, limit int) ([]HistoryItem, error) {
	g, err := c.findGroup(ctx, group)
	if err != nil {
		return nil, err
	}
	var out []HistoryItem
	err = c.st.Scan(ctx, prefixGroupHistory(g.ID[:]), true, func(_, v []byte) error {
		h, err := decodeHistoryItem(v)
		if err != nil {
			return err
		}
		out = append(out, historyFromRecord(h))
		if limit > 0 && len(out) >= limit {
			return storage.ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history of %q: %w", g.Name, err)
	}
	slices.Reverse(out)
	return out, nil
}

// refreshGroupAsync fetches a group this device has no record of (it was
// linked after the group was made, or missed the event) in the background.
func (c *Client) refreshGroupAsync(gid GroupID) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
		defer cancel()
		if _, err := c.groupRequest(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_GroupGet{GroupGet: &pb.GroupGet{GroupId: gid[:]}}}); err != nil {
			c.log.Info("fetching an unknown group failed", "group", gid, "err", err)
		}
	}()
}
