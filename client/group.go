package client

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// Groups: membership lives on the node (it routes), this device keeps a
// record of every group it belongs to (name, members, version) updated from
// the node's GroupInfo replies and the GroupEvents queued with messages, and
// the state of its own sender key for the group (group_send.go).

// GroupIDSize is the length of a group id chosen by the node.
const GroupIDSize = 16

// MaxGroupNameSize bounds a group name (bytes of UTF-8).
const MaxGroupNameSize = 64

// maxGroupMembers bounds the member lists accepted from the node.
const maxGroupMembers = 4096

// GroupID identifies a group.
type GroupID [GroupIDSize]byte

// String is the hex form.
func (g GroupID) String() string { return hex.EncodeToString(g[:]) }

// MarshalText implements encoding.TextMarshaler (JSON as hex).
func (g GroupID) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// GroupMember is one member of a group.
type GroupMember struct {
	User  string
	Admin bool
}

// Group is this device's record of a group.
type Group struct {
	ID      GroupID
	Name    string
	Members []GroupMember
	Version uint64
	Created time.Time
	Left    bool // this user was removed or left: no more sends
}

// IsAdmin reports whether user is an admin of g.
func (g Group) IsAdmin(user string) bool {
	for _, m := range g.Members {
		if m.User == user {
			return m.Admin
		}
	}
	return false
}

// GroupRef names the group a message belongs to.
type GroupRef struct {
	ID   GroupID
	Name string
}

// GroupChange is one UpdateGroup call: admins add, remove, promote and
// demote; any member renames or leaves.
type GroupChange struct {
	Add, Remove, Promote, Demote []string
	Rename                       string
	Leave                        bool
}

func keyGroup(id []byte) []byte { return []byte("grp/" + hex.EncodeToString(id)) }

var prefixGroups = []byte("grp/")

func prefixGroupHistory(id []byte) []byte { return []byte("hg/" + hex.EncodeToString(id) + "/") }

func keyGroupHistory(id []byte, ts uint64) []byte {
	return append(prefixGroupHistory(id), hex16(ts)...)
}

func keyGroupReceipts(id MessageID) []byte { return []byte("gr/" + id.String()) }

func decodeGroup(b []byte) (*localpb.Group, error) {
	var g localpb.Group
	if err := unmarshalBounded(b, 256<<10, &g, "group"); err != nil {
		return nil, err
	}
	if len(g.GroupId) != GroupIDSize {
		return nil, fmt.Errorf("group: id of %d bytes: %w", len(g.GroupId), ErrBadRecord)
	}
	return &g, nil
}

func groupFromRecord(g *localpb.Group) Group {
	out := Group{Name: g.Name, Version: g.Version, Created: msTime(g.CreatedMs), Left: g.Left}
	copy(out.ID[:], g.GroupId)
	for _, m := range g.Members {
		out.Members = append(out.Members, GroupMember{User: m.User, Admin: m.Admin})
	}
	return out
}

func loadGroup(ctx context.Context, g getter, id []byte) (*localpb.Group, error) {
	b, err := g.Get(ctx, keyGroup(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("group %x: %w", id, err)
	}
	return decodeGroup(b)
}

// validateGroupName checks a name given by the user or the node.
func validateGroupName(name string) error {
	switch {
	case name == "":
		return errors.New("group name is empty")
	case len(name) > MaxGroupNameSize:
		return fmt.Errorf("group name of %d bytes: at most %d", len(name), MaxGroupNameSize)
	case !utf8.ValidString(name):
		return errors.New("group name is not valid UTF-8")
	case strings.ContainsAny(name, "\x00\n\r\t"):
		return errors.New("group name contains control characters")
	}
	return nil
}

// validateGroupInfo checks a GroupInfo from the node before anything is
// stored: a bad one is refused as a whole.
func validateGroupInfo(gi *pb.GroupInfo) error {
	if len(gi.GetGroupId()) != GroupIDSize {
		return fmt.Errorf("group info: id of %d bytes", len(gi.GetGroupId()))
	}
	if err := validateGroupName(gi.GetName()); err != nil {
		return fmt.Errorf("group info: %w", err)
	}
	if len(gi.GetMembers()) > maxGroupMembers || len(gi.GetDeviceLists()) > maxGroupMembers {
		return fmt.Errorf("group info: %d members: too many", len(gi.GetMembers()))
	}
	for _, m := range gi.GetMembers() {
		if err := protocol.ValidateHandle(m.GetUser()); err != nil {
			return fmt.Errorf("group info: member: %w", err)
		}
	}
	return nil
}

// ingestGroupInfoLocked merges a GroupInfo into the local record (older
// versions are ignored) and verifies the members' signed device lists.
// When a device that holds this device's sender key is no longer a
// recipient (member removed, device unlinked), the key is rotated: the next
// send makes a fresh chain and gives it to the remaining devices only.
// Caller holds cryptoMu.
func (c *Client) ingestGroupInfoLocked(ctx context.Context, t *txn, self string, gi *pb.GroupInfo) (*localpb.Group, []string, error) {
	if err := validateGroupInfo(gi); err != nil {
		return nil, nil, err
	}
	changed, err := c.saveDeviceListsLocked(ctx, t, gi.GetDeviceLists())
	if err != nil {
		return nil, nil, fmt.Errorf("group %q: %w", gi.GetName(), err)
	}
	old, err := loadGroup(ctx, t, gi.GetGroupId())
	if err != nil {
		return nil, nil, err
	}
	if old != nil && old.Version > gi.GetVersion() {
		return old, changed, nil
	}
	g := &localpb.Group{GroupId: gi.GetGroupId(), Name: gi.GetName(), Version: gi.GetVersion(), CreatedMs: gi.GetCreatedAtMs()}
	member := false
	for _, m := range gi.GetMembers() {
		g.Members = append(g.Members, &localpb.GroupMemberRecord{User: m.GetUser(), Admin: m.GetRole() == pb.GroupRole_ADMIN})
		member = member || m.GetUser() == self
	}
	g.Left = !member
	if old != nil {
		g.DistributionId, g.DistributedTo = old.DistributionId, old.DistributedTo
	}
	if err := c.rotateIfNeededLocked(ctx, t, g); err != nil {
		return nil, nil, err
	}
	t.Set(keyGroup(g.GroupId), mustMarshal(g))
	return g, changed, nil
}

// rotateIfNeededLocked drops the distribution id when any device that got
// it is no longer among the group's recipients.
func (c *Client) rotateIfNeededLocked(ctx context.Context, t *txn, g *localpb.Group) error {
	if len(g.DistributionId) == 0 {
		return nil
	}
	recipients, err := c.groupRecipientsLocked(ctx, t, g)
	if err != nil {
		return err
	}
	for _, d := range g.DistributedTo {
		if !slices.Contains(recipients, d) || g.Left {
			c.log.Info("rotating sender key", "group", g.Name, "gone", d)
			g.DistributionId, g.DistributedTo = nil, nil
			return nil
		}
	}
	return nil
}

// groupRecipientsLocked lists "user.device" of every member device except
// this one, from the verified device lists stored for the members.
func (c *Client) groupRecipientsLocked(ctx context.Context, g getter, grp *localpb.Group) ([]string, error) {
	a, _, err := c.account()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range grp.Members {
		b, err := g.Get(ctx, keyDevices(m.User))
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		d, err := decodeDevices(b)
		if err != nil {
			return nil, err
		}
		for _, id := range d.DeviceIds {
			if m.User == a.User && id == a.DeviceId {
				continue
			}
			out = append(out, protocol.Address{User: m.User, Device: id}.String())
		}
	}
	return out, nil
}

// groupRequest sends a group frame and ingests the GroupInfo reply.
func (c *Client) groupRequest(ctx context.Context, f *pb.ClientFrame) (Group, error) {
	cn, err := c.current()
	if err != nil {
		return Group{}, err
	}
	a, _, err := c.account()
	if err != nil {
		return Group{}, err
	}
	r, err := cn.request(ctx, f)
	if err != nil {
		return Group{}, err
	}
	gi := r.GetGroupInfo()
	if gi == nil {
		return Group{}, fmt.Errorf("group: unexpected reply %T", r.GetBody())
	}
	return c.ingestGroupInfo(ctx, a.User, gi)
}

func (c *Client) ingestGroupInfo(ctx context.Context, self string, gi *pb.GroupInfo) (Group, error) {
	c.cryptoMu.Lock()
	t := newTxn(c.st)
	g, changed, err := c.ingestGroupInfoLocked(ctx, t, self, gi)
	if err == nil {
		err = t.commit(ctx, c.st)
	}
	c.cryptoMu.Unlock()
	if err != nil {
		return Group{}, err
	}
	for _, u := range changed {
		c.emit(IdentityChanged{User: u, Device: primaryDevice})
	}
	return groupFromRecord(g), nil
}

// CreateGroup creates a group with this user as admin and the given
// members. Names are unique on this device (the CLI finds groups by name).
func (c *Client) CreateGroup(ctx context.Context, name string, members []string) (Group, error) {
	if err := validateGroupName(name); err != nil {
		return Group{}, err
	}
	a, _, err := c.account()
	if err != nil {
		return Group{}, err
	}
	for _, m := range members {
		if err := protocol.ValidateHandle(m); err != nil {
			return Group{}, err
		}
	}
	members = slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == a.User })
	if _, err := c.findGroup(ctx, name); err == nil {
		return Group{}, fmt.Errorf("%q: %w", name, ErrGroupNameTaken)
	}
	return c.groupRequest(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_GroupCreate{GroupCreate: &pb.GroupCreate{Name: name, Members: members}}})
}

// UpdateGroup changes a group (found by name or hex id) on the node.
func (c *Client) UpdateGroup(ctx context.Context, group string, ch GroupChange) (Group, error) {
	g, err := c.findGroup(ctx, group)
	if err != nil {
		return Group{}, err
	}
	if g.Left {
		return Group{}, fmt.Errorf("%q: %w", g.Name, ErrNotMember)
	}
	for _, list := range [][]string{ch.Add, ch.Remove, ch.Promote, ch.Demote} {
		for _, u := range list {
			if err := protocol.ValidateHandle(u); err != nil {
				return Group{}, err
			}
		}
	}
	if ch.Rename != "" {
		if err := validateGroupName(ch.Rename); err != nil {
			return Group{}, err
		}
		if other, err := c.findGroup(ctx, ch.Rename); err == nil && other.ID != g.ID {
			return Group{}, fmt.Errorf("%q: %w", ch.Rename, ErrGroupNameTaken)
		}
	}
	up := &pb.GroupUpdate{GroupId: g.ID[:], Add: ch.Add, Remove: ch.Remove, Promote: ch.Promote, Demote: ch.Demote, Rename: ch.Rename, Leave: ch.Leave}
	if ch.Leave {
		cn, err := c.current()
		if err != nil {
			return Group{}, err
		}
		if _, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_GroupUpdate{GroupUpdate: up}}); err != nil {
			return Group{}, err
		}
		return c.markLeft(ctx, g.ID)
	}
	return c.groupRequest(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_GroupUpdate{GroupUpdate: up}})
}

func (c *Client) markLeft(ctx context.Context, id GroupID) (Group, error) {
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	t := newTxn(c.st)
	g, err := loadGroup(ctx, t, id[:])
	if err != nil || g == nil {
		return Group{}, fmt.Errorf("group %s: %w", id, ErrNoSuchGroup)
	}
	g.Left, g.DistributionId, g.DistributedTo = true, nil, nil
	t.Set(keyGroup(id[:]), mustMarshal(g))
	return groupFromRecord(g), t.commit(ctx, c.st)
}

// Groups lists the groups this device knows, refreshed from the node when
// connected. Groups this user left stay listed with Left set.
func (c *Client) Groups(ctx context.Context) ([]Group, error) {
	a, _, err := c.account()
	if err != nil {
		return nil, err
	}
	if cn, err := c.current(); err == nil {
		r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_GroupList{GroupList: &pb.GroupListRequest{}}})
		if err != nil {
			return nil, err
		}
		gl := r.GetGroupList()
		if gl == nil {
			return nil, fmt.Errorf("group list: unexpected reply %T", r.GetBody())
		}
		for _, gi := range gl.GetGroups() {
			if _, err := c.ingestGroupInfo(ctx, a.User, gi); err != nil {
				c.log.Warn("ignoring group from the node", "group", gi.GetName(), "err", err)
			}
		}
	}
	return c.localGroups(ctx)
}

func (c *Client) localGroups(ctx context.Context) ([]Group, error) {
	var out []Group
	err := c.st.Scan(ctx, prefixGroups, false, func(_, v []byte) error {
		g, err := decodeGroup(v)
		if err != nil {
			return err
		}
		out = append(out, groupFromRecord(g))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("groups: %w", err)
	}
	slices.SortFunc(out, func(x, y Group) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// GroupInfo returns a group found by name or hex id, refreshed from the
// node when connected.
func (c *Client) GroupInfo(ctx context.Context, nameOrID string) (Group, error) {
	g, err := c.findGroup(ctx, nameOrID)
	if err != nil {
		return Group{}, err
	}
	if !c.Connected() || g.Left {
		return g, nil
	}
	return c.groupRequest(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_GroupGet{GroupGet: &pb.GroupGet{GroupId: g.ID[:]}}})
}

// findGroup resolves a name (a group this user is still in wins over one
// it left) or a hex id.
func (c *Client) findGroup(ctx context.Context, nameOrID string) (Group, error) {
	gs, err := c.localGroups(ctx)
	if err != nil {
		return Group{}, err
	}
	var found []Group
	for _, g := range gs {
		if g.ID.String() == strings.ToLower(nameOrID) {
			return g, nil
		}
		if g.Name == nameOrID {
			found = append(found, g)
		}
	}
	if len(found) > 1 {
		found = slices.DeleteFunc(found, func(g Group) bool { return g.Left })
	}
	switch len(found) {
	case 0:
		return Group{}, fmt.Errorf("%q: %w", nameOrID, ErrNoSuchGroup)
	case 1:
		return found[0], nil
	}
	return Group{}, fmt.Errorf("%d groups are named %q; use the id (parley group list)", len(found), nameOrID)
}

// newDistributionID draws a fresh 16-byte sender-key distribution id.
func newDistributionID(r io.Reader) ([]byte, error) {
	id := make([]byte, 16)
	if _, err := io.ReadFull(r, id); err != nil {
		return nil, fmt.Errorf("distribution id: %w", err)
	}
	return id, nil
}
