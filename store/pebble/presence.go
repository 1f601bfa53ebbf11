package pebble

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/parley-im/parley/store"
)

// setUnsynced writes one small record outside the committer: presence
// data is not a queue and needs no sync of its own (the next synced batch
// carries it to disk).
func (s *Store) setUnsynced(ctx context.Context, key, value []byte) error {
	release, err := s.enter()
	if err != nil {
		return err
	}
	defer release()
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Set(key, value, pebble.NoSync)
}

// SetLastSeen implements store.Presence.
func (s *Store) SetLastSeen(ctx context.Context, handle string, t time.Time) error {
	if err := checkName("handle", handle); err != nil {
		return fmt.Errorf("set last seen: %w: %w", ErrInvalid, err)
	}
	if err := s.setUnsynced(ctx, nameKey(pLastSeen, handle), binary.BigEndian.AppendUint64(nil, uint64(t.UnixMilli()))); err != nil {
		return fmt.Errorf("set last seen of %s: %w", handle, err)
	}
	return nil
}

// LastSeen implements store.Presence.
func (s *Store) LastSeen(ctx context.Context, handle string) (time.Time, error) {
	if checkName("handle", handle) != nil {
		return time.Time{}, nil
	}
	v, err := s.read(ctx, nameKey(pLastSeen, handle))
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("last seen of %s: %w", handle, err)
	}
	if len(v) != 8 {
		return time.Time{}, fmt.Errorf("last seen of %s: %w", handle, errCorrupt)
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(v))).UTC(), nil
}

// SetPrivacy implements store.Presence.
func (s *Store) SetPrivacy(ctx context.Context, handle string, setting uint8) error {
	if err := checkName("handle", handle); err != nil {
		return fmt.Errorf("set privacy: %w: %w", ErrInvalid, err)
	}
	// The setting is what the user asked for: worth a sync, so a crash
	// right after never shows their last seen against their wish.
	release, err := s.enter()
	if err != nil {
		return fmt.Errorf("set privacy of %s: %w", handle, err)
	}
	defer release()
	if err := s.db.Set(nameKey(pPrivacy, handle), []byte{setting}, pebble.Sync); err != nil {
		return fmt.Errorf("set privacy of %s: %w", handle, err)
	}
	return nil
}

// Privacy implements store.Presence.
func (s *Store) Privacy(ctx context.Context, handle string) (uint8, error) {
	if checkName("handle", handle) != nil {
		return 0, nil
	}
	v, err := s.read(ctx, nameKey(pPrivacy, handle))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("privacy of %s: %w", handle, err)
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("privacy of %s: %w", handle, errCorrupt)
	}
	return v[0], nil
}

// AddContact implements store.Presence. Counting the owner's contacts is a
// scan, paid only when peer is new; the owner's stripe lock keeps two
// concurrent adds from both passing the bound.
func (s *Store) AddContact(ctx context.Context, owner, peer string) error {
	if checkName("owner", owner) != nil || checkName("peer", peer) != nil {
		return fmt.Errorf("add contact: %w", ErrInvalid)
	}
	k := pairKey(pContact, owner, peer)
	release, err := s.enter()
	if err != nil {
		return fmt.Errorf("add contact: %w", err)
	}
	defer release()
	if _, found, err := s.get(k); err != nil || found {
		return err
	}
	p := nameKey(pContact, owner)
	mu := s.social.lock(p)
	mu.Lock()
	defer mu.Unlock()
	n := 0
	lo, hi := prefixRange(p)
	if err := s.scan(lo, hi, func(_, _ []byte) (bool, error) { n++; return n < store.MaxContacts, nil }); err != nil {
		return fmt.Errorf("add contact: %w", err)
	}
	if n >= store.MaxContacts {
		return fmt.Errorf("add contact of %s: %w", owner, store.ErrLimit)
	}
	if err := s.db.Set(k, nil, pebble.NoSync); err != nil {
		return fmt.Errorf("add contact: %w", err)
	}
	return nil
}

// IsContact implements store.Presence.
func (s *Store) IsContact(ctx context.Context, owner, peer string) (bool, error) {
	if checkName("owner", owner) != nil || checkName("peer", peer) != nil {
		return false, nil
	}
	_, err := s.read(ctx, pairKey(pContact, owner, peer))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("is contact: %w", err)
	}
	return true, nil
}
