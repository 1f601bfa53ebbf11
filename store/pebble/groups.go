package pebble

import (
	"bytes"
	"context"
	"fmt"

	"github.com/parley-im/parley/store"
)

// maxGroupMembers bounds what a stored group record may hold, independent
// of the node's configured limit (which may be lowered later).
const maxGroupMembers = 1 << 16

func encodeGroup(g store.Group) []byte {
	e := newEnc(64 + len(g.Name) + 24*len(g.Members))
	e.fixed(g.ID)
	e.str(g.Name)
	e.i64(int64(g.Version))
	e.time(g.CreatedAt)
	e.u32(uint32(len(g.Members)))
	for _, m := range g.Members {
		e.str(m.User)
		e.u8(byte(m.Role))
		e.time(m.JoinedAt)
	}
	return e.b
}

func decodeGroup(b []byte) (store.Group, error) {
	d := newDec("group", b)
	g := store.Group{ID: append([]byte(nil), d.take(store.GroupIDSize, "id")...)}
	g.Name = d.str("name", maxNameLen)
	g.Version = uint64(d.i64("version"))
	g.CreatedAt = d.time("created")
	n := d.u32("members")
	if n > maxGroupMembers {
		d.fail("member count")
	}
	for i := uint32(0); i < n && d.err == nil; i++ {
		g.Members = append(g.Members, store.GroupMember{
			User:     d.str("member", maxNameLen),
			Role:     store.GroupRole(d.u8("role")),
			JoinedAt: d.time("joined"),
		})
	}
	return g, d.done("group")
}

func groupKey(id []byte) []byte { return append([]byte{pGroup}, id...) }

func checkGroup(g store.Group) error {
	if len(g.ID) != store.GroupIDSize || len(g.Name) > maxNameLen || g.Version == 0 || len(g.Members) > maxGroupMembers {
		return fmt.Errorf("group record: %w", ErrInvalid)
	}
	for _, m := range g.Members {
		if err := checkName("member", m.User); err != nil {
			return fmt.Errorf("group record: %w: %w", ErrInvalid, err)
		}
	}
	return nil
}

// SaveGroup implements store.Groups.
func (s *Store) SaveGroup(ctx context.Context, g store.Group, events []*store.Entry) error {
	if err := checkGroup(g); err != nil {
		return err
	}
	if len(events) > MaxEnqueueEntries {
		return fmt.Errorf("save group: %d events, limit %d: %w", len(events), MaxEnqueueEntries, ErrInvalid)
	}
	for i, e := range events {
		if err := s.checkEntry(e); err != nil {
			return fmt.Errorf("save group: event %d: %w", i, err)
		}
	}
	release, err := s.enter()
	if err != nil {
		return fmt.Errorf("save group: %w", err)
	}
	defer release()
	key := groupKey(g.ID)
	mu := s.social.lock(key)
	mu.Lock()
	defer mu.Unlock()
	var old store.Group
	v, found, err := s.get(key)
	if err != nil {
		return fmt.Errorf("save group: %w", err)
	}
	if found {
		if old, err = decodeGroup(v); err != nil {
			return fmt.Errorf("save group: %w", err)
		}
	}
	if old.Version != g.Version-1 {
		return fmt.Errorf("save group: version %d after %d: %w", g.Version, old.Version, store.ErrStaleVersion)
	}
	now := make(map[string]bool, len(g.Members))
	for _, m := range g.Members {
		now[m.User] = true
	}
	var gone []string
	for _, m := range old.Members {
		if !now[m.User] {
			gone = append(gone, m.User)
		}
		delete(now, m.User) // left: the members to index
	}
	err = s.commitStaged(ctx, func(gs *groupState) error {
		if err := s.loadCounters(gs, events); err != nil {
			return err
		}
		if err := gs.b.Set(key, encodeGroup(g), nil); err != nil {
			return err
		}
		for u := range now {
			if err := gs.b.Set(userGroupKey(u, g.ID), nil, nil); err != nil {
				return err
			}
		}
		for _, u := range gone {
			if err := gs.b.Delete(userGroupKey(u, g.ID), nil); err != nil {
				return err
			}
		}
		gs.sync = true
		seqs, err := s.putEntries(gs, events)
		if err != nil {
			return err
		}
		for i, e := range events {
			e.Seq = seqs[i] // safe: the caller waits for done before reading
		}
		return nil
	})
	if err != nil {
		for _, e := range events {
			e.Seq = 0
		}
		return fmt.Errorf("save group: %w", err)
	}
	return nil
}

// Group implements store.Groups.
func (s *Store) Group(ctx context.Context, id []byte) (store.Group, error) {
	if len(id) != store.GroupIDSize {
		return store.Group{}, fmt.Errorf("group: id of %d bytes: %w", len(id), store.ErrNotFound)
	}
	v, err := s.read(ctx, groupKey(id))
	if err != nil {
		return store.Group{}, fmt.Errorf("group %x: %w", id, err)
	}
	return decodeGroup(v)
}

// UserGroups implements store.Groups: one prefix scan of the user's index.
func (s *Store) UserGroups(ctx context.Context, handle string) ([][]byte, error) {
	if err := checkName("handle", handle); err != nil {
		return nil, nil
	}
	release, err := s.enterRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", handle, err)
	}
	defer release()
	p := nameKey(pUserGroup, handle)
	lo, hi := prefixRange(p)
	var out [][]byte
	err = s.scan(lo, hi, func(k, _ []byte) (bool, error) {
		id := k[len(p):]
		if len(id) != store.GroupIDSize {
			return false, fmt.Errorf("user group key: %w", errBadKey)
		}
		out = append(out, bytes.Clone(id))
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("groups of %s: %w", handle, err)
	}
	return out, nil
}
