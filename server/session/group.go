package session

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

var (
	hGroupCreate = needID(needAuth(handleGroupCreate))
	hGroupUpdate = needID(needAuth(handleGroupUpdate))
	hGroupGet    = needID(needAuth(handleGroupGet))
	hGroupList   = needID(needAuth(handleGroupList))
	hGroupSend   = needID(needAuth(handleGroupSend))
)

const (
	maxGroupName = 128
	// maxGroupUsers bounds one list in GroupCreate / GroupUpdate.
	maxGroupUsers = 256
	// infoBudget is how much of a frame GroupInfo's signed device lists may
	// fill; beyond it lists go without `signed` (clients ask for them).
	infoBudget = 40 << 10
	// listBudget bounds GroupList; later groups go without members.
	listBudget = 48 << 10
	// saveRetries: concurrent changes of one group retry this often.
	saveRetries = 4
)

func errNoGroup() error { return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no such group") }

func memberIndex(g *store.Group, user string) int {
	return slices.IndexFunc(g.Members, func(m store.GroupMember) bool { return m.User == user })
}

// loadGroup returns a group the caller is a member of.
func (s *Session) loadGroup(ctx context.Context, id []byte) (store.Group, error) {
	g, err := s.env.Store.Group(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return g, errNoGroup()
	}
	if err != nil {
		return g, fmt.Errorf("group: %w", err)
	}
	if memberIndex(&g, s.addr.User) < 0 {
		return g, errNoGroup()
	}
	return g, nil
}

// groupInfo is the reply form of g; devices adds every member's device
// list (signed ones while they fit in infoBudget).
func (s *Session) groupInfo(ctx context.Context, g *store.Group, devices bool) (*pb.GroupInfo, error) {
	info := &pb.GroupInfo{GroupId: g.ID, Name: g.Name, Version: g.Version, CreatedAtMs: g.CreatedAt.UnixMilli()}
	for _, m := range g.Members {
		info.Members = append(info.Members, &pb.GroupMember{User: m.User, Role: pb.GroupRole(m.Role)})
	}
	if !devices {
		return info, nil
	}
	size := proto.Size(info)
	for _, m := range g.Members {
		dl, err := deviceList(ctx, s.env.Store, m.User)
		if err != nil {
			if protocol.CodeOf(err) == pb.ErrorCode_NOT_FOUND {
				continue
			}
			return nil, err
		}
		if size < infoBudget {
			withSigned(ctx, s.env.Store, dl)
		}
		size += proto.Size(dl) + 4
		info.DeviceLists = append(info.DeviceLists, dl)
	}
	return info, nil
}

func (s *Session) replyGroup(ctx context.Context, id uint64, g *store.Group) error {
	info, err := s.groupInfo(ctx, g, true)
	if err != nil {
		return err
	}
	return s.reply(id, &pb.ServerFrame{Body: &pb.ServerFrame_GroupInfo{GroupInfo: info}})
}

// checkUsers validates a list of handles: each an existing account.
func (s *Session) checkUsers(ctx context.Context, users []string) error {
	if len(users) > maxGroupUsers {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d users per request", maxGroupUsers)
	}
	for _, u := range users {
		if protocol.ValidateHandle(u) != nil {
			return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no user %q", u)
		}
		if _, err := s.env.Store.Account(ctx, u); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no user %q", u)
			}
			return fmt.Errorf("group: account %s: %w", u, err)
		}
	}
	return nil
}

func handleGroupCreate(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	m := f.GetGroupCreate()
	if len(m.Name) > maxGroupName {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "group name over %d bytes", maxGroupName)
	}
	if err := s.checkUsers(ctx, m.Members); err != nil {
		return err
	}
	now := s.env.Now()
	g := store.Group{ID: make([]byte, store.GroupIDSize), Name: m.Name, Version: 1, CreatedAt: now}
	_, _ = rand.Read(g.ID)
	g.Members = append(g.Members, store.GroupMember{User: s.addr.User, Role: store.RoleAdmin, JoinedAt: now})
	var added []string
	for _, u := range m.Members {
		if memberIndex(&g, u) < 0 {
			g.Members = append(g.Members, store.GroupMember{User: u, Role: store.RoleMember, JoinedAt: now})
			added = append(added, u)
		}
	}
	if len(g.Members) > s.env.Social.MaxGroupSize {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d members", s.env.Social.MaxGroupSize)
	}
	ev := []*pb.GroupEvent{{Type: pb.GroupEventType_CREATED, Targets: added}}
	if err := s.saveGroup(ctx, &g, ev, nil); err != nil {
		return err
	}
	return s.replyGroup(ctx, f.Id, &g)
}

// saveGroup stores g with one event of each kind in evs, queued to every
// device of its members and of gone (removed or left), in one batch.
func (s *Session) saveGroup(ctx context.Context, g *store.Group, evs []*pb.GroupEvent, gone []string) error {
	now := s.env.Now()
	info, err := s.groupInfo(ctx, g, false)
	if err != nil {
		return err
	}
	var entries []*store.Entry
	var targets []protocol.Address
	add := func(users []string, info *pb.GroupInfo) error {
		for _, e := range evs {
			e.GroupId, e.Actor, e.Name, e.Version, e.ServerTimeMs, e.Info = g.ID, s.addr.User, g.Name, g.Version, now.UnixMilli(), info
			p, err := proto.Marshal(&pb.Deliver{Entry: &pb.Deliver_GroupEvent{GroupEvent: e}})
			if err != nil {
				return fmt.Errorf("group event: %w", err)
			}
			for _, u := range users {
				dl, err := deviceList(ctx, s.env.Store, u)
				if err != nil {
					continue // the account is gone
				}
				for _, d := range dl.DeviceIds {
					a := protocol.Address{User: u, Device: d}
					entries = append(entries, &store.Entry{Device: a, Payload: p, Expires: now.Add(s.env.QueueTTL)})
					targets = append(targets, a)
				}
			}
		}
		return nil
	}
	members := make([]string, len(g.Members))
	for i, m := range g.Members {
		members[i] = m.User
	}
	if err := add(members, info); err != nil {
		return err
	}
	if err := add(gone, nil); err != nil {
		return err
	}
	if err := s.env.Store.SaveGroup(ctx, *g, entries); err != nil {
		if errors.Is(err, store.ErrStaleVersion) {
			return err // the caller reloads and retries
		}
		return fmt.Errorf("save group: %w", err)
	}
	s.env.Router.Nudge(targets...)
	return nil
}

func handleGroupUpdate(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	m := f.GetGroupUpdate()
	if len(m.Rename) > maxGroupName {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "group name over %d bytes", maxGroupName)
	}
	if len(m.Add)+len(m.Remove)+len(m.Promote)+len(m.Demote) > maxGroupUsers {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d users per request", maxGroupUsers)
	}
	if err := s.checkUsers(ctx, m.Add); err != nil {
		return err
	}
	for range saveRetries {
		g, err := s.loadGroup(ctx, m.GroupId)
		if err != nil {
			return err
		}
		evs, gone, err := s.applyUpdate(&g, m)
		if err != nil {
			return err
		}
		err = s.saveGroup(ctx, &g, evs, gone)
		if errors.Is(err, store.ErrStaleVersion) {
			continue
		}
		if err != nil {
			return err
		}
		return s.replyGroup(ctx, f.Id, &g)
	}
	return protocol.Errorf(pb.ErrorCode_INTERNAL, "the group is changing too fast; retry")
}

// applyUpdate changes g as m asks and returns the events and the users
// who are no longer members.
func (s *Session) applyUpdate(g *store.Group, m *pb.GroupUpdate) ([]*pb.GroupEvent, []string, error) {
	me := memberIndex(g, s.addr.User)
	admin := g.Members[me].Role == store.RoleAdmin
	adminOps := len(m.Add) + len(m.Remove) + len(m.Promote) + len(m.Demote)
	if m.Leave && (adminOps > 0 || m.Rename != "") {
		return nil, nil, protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "leave cannot be combined with other changes")
	}
	if adminOps > 0 && !admin {
		return nil, nil, protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "admins only")
	}
	now := s.env.Now()
	var evs []*pb.GroupEvent
	var gone []string
	event := func(t pb.GroupEventType, targets []string) {
		if len(targets) > 0 || t == pb.GroupEventType_RENAMED {
			evs = append(evs, &pb.GroupEvent{Type: t, Targets: targets})
		}
	}
	if m.Leave {
		g.Members = slices.Delete(g.Members, me, me+1)
		gone = append(gone, s.addr.User)
		event(pb.GroupEventType_LEFT, []string{s.addr.User})
	}
	var added []string
	for _, u := range m.Add {
		if memberIndex(g, u) < 0 {
			g.Members = append(g.Members, store.GroupMember{User: u, Role: store.RoleMember, JoinedAt: now})
			added = append(added, u)
		}
	}
	event(pb.GroupEventType_ADDED, added)
	for _, u := range m.Remove {
		if i := memberIndex(g, u); i >= 0 {
			g.Members = slices.Delete(g.Members, i, i+1)
			gone = append(gone, u)
		}
	}
	if !m.Leave {
		event(pb.GroupEventType_REMOVED, gone)
	}
	setRole := func(users []string, role store.GroupRole) []string {
		var changed []string
		for _, u := range users {
			if i := memberIndex(g, u); i >= 0 && g.Members[i].Role != role {
				g.Members[i].Role = role
				changed = append(changed, u)
			}
		}
		return changed
	}
	var promoted []string
	promoted = append(promoted, setRole(m.Promote, store.RoleAdmin)...)
	demoted := setRole(m.Demote, store.RoleMember)
	// The group keeps an admin: the oldest remaining member takes over.
	if len(g.Members) > 0 && !slices.ContainsFunc(g.Members, func(x store.GroupMember) bool { return x.Role == store.RoleAdmin }) {
		g.Members[0].Role = store.RoleAdmin
		promoted = append(promoted, g.Members[0].User)
	}
	event(pb.GroupEventType_PROMOTED, promoted)
	event(pb.GroupEventType_DEMOTED, demoted)
	if m.Rename != "" && m.Rename != g.Name {
		g.Name = m.Rename
		event(pb.GroupEventType_RENAMED, nil)
	}
	if len(evs) == 0 {
		return nil, nil, protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "nothing to change")
	}
	if len(g.Members) > s.env.Social.MaxGroupSize {
		return nil, nil, protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d members", s.env.Social.MaxGroupSize)
	}
	g.Version++
	return evs, gone, nil
}

func handleGroupGet(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	g, err := s.loadGroup(ctx, f.GetGroupGet().GroupId)
	if err != nil {
		return err
	}
	return s.replyGroup(ctx, f.Id, &g)
}

func handleGroupList(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	ids, err := s.env.Store.UserGroups(ctx, s.addr.User)
	if err != nil {
		return fmt.Errorf("group list: %w", err)
	}
	out := &pb.GroupList{}
	size := 0
	for _, id := range ids {
		g, err := s.env.Store.Group(ctx, id)
		if err != nil {
			continue // removed meanwhile
		}
		info, _ := s.groupInfo(ctx, &g, false)
		if size += proto.Size(info); size > listBudget {
			info.Members = nil // GroupGet has them
		}
		out.Groups = append(out.Groups, info)
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_GroupList{GroupList: out}})
}

// handleGroupSend queues one sender-key ciphertext for every member device
// but the sender's in one durable batch; the acker answers SendAck.
func handleGroupSend(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	m := f.GetGroupSend()
	switch {
	case len(m.MessageId) != protocol.MessageIDSize:
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "message id must be %d bytes", protocol.MessageIDSize)
	case len(m.Body) == 0:
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "empty ciphertext")
	case len(m.Body) > protocol.MaxCiphertextSize:
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "ciphertext of %d bytes exceeds %d", len(m.Body), protocol.MaxCiphertextSize)
	}
	g, err := s.loadGroup(ctx, m.GroupId)
	if err != nil {
		return err
	}
	targets, stale, err := s.groupTargets(ctx, &g, m.Devices)
	if err != nil {
		return err
	}
	if len(stale) > 0 {
		return &protocol.Error{Code: pb.ErrorCode_STALE_DEVICES, Reason: "group devices changed", DeviceLists: withSigned(ctx, s.env.Store, stale...)}
	}
	now := s.env.Now()
	// Every member device gets the same bytes: marshal once.
	p, err := envelopePayload(&pb.Envelope{
		From: s.addr.User, FromDevice: s.addr.Device, MessageId: m.MessageId, Type: pb.EnvelopeType_SENDER_KEY,
		Body: m.Body, ServerTimeMs: now.UnixMilli(), GroupId: g.ID,
	})
	if err != nil {
		return err
	}
	entries := make([]*store.Entry, len(targets))
	for i, a := range targets {
		entries[i] = &store.Entry{Device: a, Payload: p, Expires: now.Add(s.env.QueueTTL)}
	}
	return s.enqueueSend(ctx, f.Id, m.MessageId, now.UnixMilli(), entries) // inflight.go
}

// groupTargets compares the devices a GroupSend names with every member
// device but the sender's; on a mismatch it returns the lists of the users
// whose devices differ.
func (s *Session) groupTargets(ctx context.Context, g *store.Group, named []*pb.DeviceRef) (targets []protocol.Address, stale []*pb.DeviceList, err error) {
	got := make(map[string][]uint32)
	for _, d := range named {
		got[d.GetUser()] = append(got[d.GetUser()], d.GetDeviceId())
	}
	for _, mem := range g.Members {
		dl, err := deviceList(ctx, s.env.Store, mem.User)
		if err != nil {
			if protocol.CodeOf(err) == pb.ErrorCode_NOT_FOUND {
				continue
			}
			return nil, nil, err
		}
		want := dl.DeviceIds
		if mem.User == s.addr.User {
			want = slices.DeleteFunc(slices.Clone(want), func(d uint32) bool { return d == s.addr.Device })
		}
		have := got[mem.User]
		delete(got, mem.User)
		slices.Sort(have)
		if !slices.Equal(have, want) { // want is ordered by id; duplicates differ
			stale = append(stale, dl)
			continue
		}
		for _, d := range want {
			targets = append(targets, protocol.Address{User: mem.User, Device: d})
		}
	}
	for u := range got { // named users who are not members
		stale = append(stale, &pb.DeviceList{User: u})
	}
	slices.SortFunc(stale, func(a, b *pb.DeviceList) int { return bytes.Compare([]byte(a.User), []byte(b.User)) })
	return targets, stale, nil
}

// checkSendGroup enforces that a pairwise Send filed under a group is
// between two of its members.
func (s *Session) checkSendGroup(ctx context.Context, m *pb.Send) error {
	if len(m.GroupId) == 0 {
		return nil
	}
	g, err := s.loadGroup(ctx, m.GroupId)
	if err != nil {
		return err
	}
	if memberIndex(&g, m.To) < 0 {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "%s is not a member of that group", m.To)
	}
	return nil
}
