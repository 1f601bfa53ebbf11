package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/admin"
	"github.com/parley-im/parley/store"
)

// operator carries out the admin API's account, device and backup
// requests on a running node.
type operator struct{ n *Node }

var _ admin.Operator = operator{}

func (o operator) ListAccounts(ctx context.Context, after string, limit int) ([]admin.AccountSummary, error) {
	as, err := o.n.store.ListAccounts(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]admin.AccountSummary, len(as))
	for i, a := range as {
		out[i] = admin.AccountSummary{Handle: a.Handle, CreatedAt: a.CreatedAt, Disabled: a.Disabled}
	}
	return out, nil
}

func (o operator) ShowAccount(ctx context.Context, handle string) (admin.AccountDetail, error) {
	st := o.n.store
	a, err := st.Account(ctx, handle)
	if err != nil {
		return admin.AccountDetail{}, err
	}
	devs, err := st.Devices(ctx, handle)
	if err != nil {
		return admin.AccountDetail{}, err
	}
	out := admin.AccountDetail{AccountSummary: admin.AccountSummary{Handle: a.Handle, CreatedAt: a.CreatedAt, Disabled: a.Disabled}, Devices: []admin.DeviceDetail{}}
	for _, d := range devs {
		depth, err := st.QueueDepth(ctx, d.Address)
		if err != nil {
			return admin.AccountDetail{}, err
		}
		_, terr := st.PushToken(ctx, d.Address)
		out.Devices = append(out.Devices, admin.DeviceDetail{
			ID: d.Address.Device, CreatedAt: d.CreatedAt, Disabled: d.Disabled,
			Online: o.n.router.Lookup(d.Address) != nil, QueueDepth: depth, PushToken: terr == nil,
		})
	}
	return out, nil
}

// SetDisabled flips the flag first, then kicks: a device reconnecting in
// between already finds itself disabled (session.start refuses it).
func (o operator) SetDisabled(ctx context.Context, handle string, disabled bool) error {
	if err := o.n.store.SetAccountDisabled(ctx, handle, disabled); err != nil {
		return err
	}
	if disabled {
		o.kickAccount(ctx, handle, "this account was disabled by the operator")
	}
	return nil
}

func (o operator) kickAccount(ctx context.Context, handle, reason string) {
	devs, err := o.n.store.Devices(ctx, handle)
	if err != nil {
		return
	}
	for _, d := range devs {
		o.kick(d.Address, reason)
	}
}

func (o operator) kick(a protocol.Address, reason string) {
	if p := o.n.router.Lookup(a); p != nil {
		p.Kick(pb.ErrorCode_DISABLED, reason, 0)
	}
}

func (o operator) RemoveDevice(ctx context.Context, a protocol.Address) error {
	if err := o.n.store.DeleteDevice(ctx, a); err != nil {
		return err
	}
	o.kick(a, "this device was removed by the operator")
	o.recount(ctx)
	return nil
}

// DeleteAccount disables the account (so nobody reconnects), ends its
// group memberships through the groups store (members see the new
// version on their next GroupGet), kicks its sessions, then deletes it.
func (o operator) DeleteAccount(ctx context.Context, handle string) error {
	st := o.n.store
	if err := st.SetAccountDisabled(ctx, handle, true); err != nil {
		return err
	}
	o.kickAccount(ctx, handle, "this account was deleted by the operator")
	if err := o.leaveGroups(ctx, handle); err != nil {
		return err
	}
	if err := st.DeleteAccount(ctx, handle); err != nil {
		return err
	}
	o.recount(ctx)
	return nil
}

// leaveGroups removes handle from every group it belongs to, retrying a
// group whose version moved under it.
func (o operator) leaveGroups(ctx context.Context, handle string) error {
	st := o.n.store
	ids, err := st.UserGroups(ctx, handle)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("groups of %s: %w", handle, err)
	}
	for _, id := range ids {
		for attempt := 0; ; attempt++ {
			g, err := st.Group(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return fmt.Errorf("group %x: %w", id, err)
			}
			i := slices.IndexFunc(g.Members, func(m store.GroupMember) bool { return m.User == handle })
			if i < 0 || len(g.Members) == 1 {
				break // a group of one dies with its last member
			}
			g.Members = slices.Delete(g.Members, i, i+1)
			g.Version++
			err = st.SaveGroup(ctx, g, nil)
			if err == nil {
				break
			}
			if !errors.Is(err, store.ErrStaleVersion) || attempt >= 5 {
				return fmt.Errorf("leave group %x: %w", id, err)
			}
		}
	}
	return nil
}

// recount refreshes the queue depth gauge after deletions the counters
// cannot see.
func (o operator) recount(ctx context.Context) {
	if err := o.n.ops.recount(ctx); err != nil {
		o.n.log.Warn("queue recount failed", "err", err)
	}
}

func (o operator) Backup(ctx context.Context, dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("backup dir %q: want an absolute path", dir)
	}
	return o.n.store.Checkpoint(ctx, dir)
}
