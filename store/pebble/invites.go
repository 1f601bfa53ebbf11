package pebble

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/parley-im/parley/store"
)

// CreateInvite implements store.Invites. A code that already exists is
// refused: overwriting it could revive a used or revoked invite.
func (s *Store) CreateInvite(ctx context.Context, inv store.Invite) error {
	if err := checkName("invite code", inv.Code); err != nil {
		return fmt.Errorf("create invite: %w: %w", ErrInvalid, err)
	}
	if len(inv.UsedBy) > maxNameLen {
		return fmt.Errorf("create invite: used-by too long: %w", ErrInvalid)
	}
	return s.updateInvite(ctx, "create invite", inv.Code, func(_ store.Invite, found bool) (store.Invite, error) {
		if found {
			return store.Invite{}, fmt.Errorf("code exists: %w", ErrInvalid)
		}
		return inv, nil
	})
}

// UseInvite implements store.Invites.
func (s *Store) UseInvite(ctx context.Context, code, handle string, now time.Time) error {
	if err := checkName("handle", handle); err != nil {
		return fmt.Errorf("use invite: %w: %w", ErrInvalid, err)
	}
	return s.updateInvite(ctx, "use invite", code, func(inv store.Invite, found bool) (store.Invite, error) {
		if !found || !usable(inv, now) {
			return store.Invite{}, store.ErrInviteInvalid
		}
		inv.UsedBy = handle
		return inv, nil
	})
}

// RevokeInvite implements store.Invites; store.ErrNotFound for an unknown
// code. Revoking a used invite only marks it.
func (s *Store) RevokeInvite(ctx context.Context, code string) error {
	return s.updateInvite(ctx, "revoke invite", code, func(inv store.Invite, found bool) (store.Invite, error) {
		if !found {
			return store.Invite{}, store.ErrNotFound
		}
		inv.Revoked = true
		return inv, nil
	})
}

// Invites implements store.Invites, ordered by creation time, then code.
func (s *Store) Invites(ctx context.Context) ([]store.Invite, error) {
	release, err := s.enter()
	if err != nil {
		return nil, fmt.Errorf("invites: %w", err)
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("invites: %w", err)
	}
	var out []store.Invite
	err = s.scan([]byte{pInvite}, []byte{pInvite + 1}, func(_, v []byte) (bool, error) {
		inv, err := decodeInvite(v)
		if err != nil {
			return false, err
		}
		out = append(out, inv)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("invites: %w", err)
	}
	slices.SortFunc(out, func(a, b store.Invite) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Code, b.Code))
	})
	return out, nil
}

func usable(inv store.Invite, now time.Time) bool {
	return inv.UsedBy == "" && !inv.Revoked && (inv.ExpiresAt.IsZero() || now.Before(inv.ExpiresAt))
}

// usableInviteLocked returns the invite if it can be used at now.
func (s *Store) usableInviteLocked(code string, now time.Time) (store.Invite, error) {
	inv, found, err := s.inviteLocked(code)
	if err != nil {
		return store.Invite{}, err
	}
	if !found || !usable(inv, now) {
		return store.Invite{}, store.ErrInviteInvalid
	}
	return inv, nil
}

func (s *Store) inviteLocked(code string) (store.Invite, bool, error) {
	if checkName("invite code", code) != nil {
		return store.Invite{}, false, nil
	}
	v, found, err := s.get(inviteKey(code))
	if err != nil || !found {
		return store.Invite{}, false, err
	}
	inv, err := decodeInvite(v)
	if err != nil {
		return store.Invite{}, false, fmt.Errorf("invite %q: %w", code, err)
	}
	return inv, true, nil
}

// updateInvite is a read-modify-write of one invite under accountsMu.
func (s *Store) updateInvite(ctx context.Context, op, code string, fn func(store.Invite, bool) (store.Invite, error)) error {
	release, err := s.enter()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	s.accountsMu.Lock()
	defer s.accountsMu.Unlock()
	inv, found, err := s.inviteLocked(code)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	inv, err = fn(inv, found)
	if err != nil {
		return fmt.Errorf("%s %q: %w", op, code, err)
	}
	if err := s.db.Set(inviteKey(code), encodeInvite(inv), pebble.Sync); err != nil {
		return fmt.Errorf("%s %q: %w", op, code, err)
	}
	return nil
}
