package pebble

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// pPushToken is the prefix of push token records (admin.go); one byte,
// never renumbered.
const pPushToken = 'T' // T | addr → push token

var (
	_ store.Admin      = (*Store)(nil)
	_ store.PushTokens = (*Store)(nil)
)

// maxListAccounts bounds one ListAccounts page.
const maxListAccounts = 1000

// ListAccounts implements store.Admin. Accounts come in key order: handles
// are length-prefixed, so shorter handles come first.
func (s *Store) ListAccounts(ctx context.Context, after string, limit int) ([]store.Account, error) {
	if limit <= 0 || limit > maxListAccounts {
		limit = maxListAccounts
	}
	release, err := s.enterRead(ctx)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer release()
	lo, hi := []byte{pAccount}, []byte{pAccount + 1}
	if after != "" {
		if err := checkName("handle", after); err != nil {
			return nil, fmt.Errorf("list accounts: %w: %w", ErrInvalid, err)
		}
		lo = append(accountKey(after), 0)
	}
	var out []store.Account
	err = s.scan(lo, hi, func(_, v []byte) (bool, error) {
		a, err := decodeAccount(v)
		if err != nil {
			return false, err
		}
		out = append(out, a)
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// SetAccountDisabled implements store.Admin in one synced batch.
func (s *Store) SetAccountDisabled(ctx context.Context, handle string, disabled bool) error {
	op := "enable account"
	if disabled {
		op = "disable account"
	}
	return s.withAccount(ctx, op, handle, func() error {
		v, _, err := s.get(accountKey(handle))
		if err != nil {
			return err
		}
		a, err := decodeAccount(v)
		if err != nil {
			return err
		}
		a.Disabled = disabled
		b := s.db.NewBatch()
		defer b.Close()
		_ = b.Set(accountKey(handle), encodeAccount(a), nil)
		lo, hi := devicesRange(handle)
		err = s.scan(lo, hi, func(k, v []byte) (bool, error) {
			d, err := decodeDevice(v)
			if err != nil {
				return false, err
			}
			d.Disabled = disabled
			return true, b.Set(append([]byte(nil), k...), encodeDevice(d), nil)
		})
		if err != nil {
			return err
		}
		err = b.Commit(pebble.Sync)
		s.devices.invalidate(handle) // even on failure: the batch may have landed
		return err
	})
}

// DeleteDevice implements store.Admin.
func (s *Store) DeleteDevice(ctx context.Context, a protocol.Address) error {
	if err := checkAddr(a); err != nil {
		return fmt.Errorf("delete device: %w: %w", store.ErrNotFound, err)
	}
	return s.withAccount(ctx, "delete device", a.User, func() error {
		err := s.deleteDevicesLocked(ctx, a.User, []protocol.Address{a}, nil)
		s.devices.invalidate(a.User)
		return err
	})
}

// DeleteAccount implements store.Admin.
func (s *Store) DeleteAccount(ctx context.Context, handle string) error {
	return s.withAccount(ctx, "delete account", handle, func() error {
		var addrs []protocol.Address
		lo, hi := devicesRange(handle)
		err := s.scan(lo, hi, func(_, v []byte) (bool, error) {
			d, err := decodeDevice(v)
			if err != nil {
				return false, err
			}
			addrs = append(addrs, d.Address)
			return true, nil
		})
		if err != nil {
			return err
		}
		clo, chi := prefixRange(nameKey(pContact, handle))
		extra := func(g *groupState) error {
			if err := g.b.DeleteRange(clo, chi, nil); err != nil {
				return err
			}
			for _, k := range [][]byte{accountKey(handle), nameKey(pDeviceList, handle), nameKey(pLastSeen, handle), nameKey(pPrivacy, handle)} {
				if err := g.b.Delete(k, nil); err != nil {
					return err
				}
			}
			return nil
		}
		err = s.deleteDevicesLocked(ctx, handle, addrs, extra)
		s.devices.invalidate(handle)
		return err
	})
}

// deleteDevicesLocked deletes devices of handle (and whatever extra
// stages) in one batch through the committer, so no queue entry written
// for them can land after their queue is gone. Seq counters stay: seqs are
// never reused, even by a later account of the same handle. The caller
// holds accountsMu (withAccount).
func (s *Store) deleteDevicesLocked(ctx context.Context, handle string, addrs []protocol.Address, extra func(*groupState) error) error {
	type victim struct {
		a        protocol.Address
		noise    [32]byte
		expiries [][]byte
	}
	var vs []victim
	for _, a := range addrs {
		v, found, err := s.get(deviceKey(a))
		if err != nil {
			return err
		}
		if !found {
			return store.ErrNotFound
		}
		d, err := decodeDevice(v)
		if err != nil {
			return err
		}
		vc := victim{a: a, noise: d.NoiseKey}
		qlo, qhi := queueRange(a, 0)
		err = s.scan(qlo, qhi, func(k, v []byte) (bool, error) {
			exp, err := decodeEntryExpiry(v)
			if err != nil {
				return false, err
			}
			if seq, err := decodeQueueSeq(k); err == nil && !exp.IsZero() {
				vc.expiries = append(vc.expiries, expiryKey(exp.UnixNano(), a, seq))
			}
			return true, nil
		})
		if err != nil {
			return err
		}
		vs = append(vs, vc)
	}
	// No TakeBundle of these devices while their keys go; two devices may
	// share a stripe, so each stripe is taken once.
	locked := make(map[*sync.Mutex]bool)
	for _, v := range vs {
		if l := s.keyLock(v.a); !locked[l] {
			locked[l] = true
			l.Lock()
			defer l.Unlock()
		}
	}
	return s.commitStaged(ctx, func(g *groupState) error {
		g.sync = true
		s.recent.clear() // whole queues go: forget every remembered entry (recent.go)
		for _, v := range vs {
			qlo, qhi := queueRange(v.a, 0)
			ranges := [][2][]byte{{qlo, qhi}}
			for _, p := range []byte{pPreKey, pKEMPreKey} {
				lo, hi := idRange(p, v.a)
				ranges = append(ranges, [2][]byte{lo, hi})
			}
			for _, r := range ranges {
				if err := g.b.DeleteRange(r[0], r[1], nil); err != nil {
					return err
				}
			}
			keys := append(v.expiries, deviceKey(v.a), noiseKeyKey(v.noise), addrKey(pSignedPre, v.a), addrKey(pLastResort, v.a), addrKey(pPushToken, v.a))
			for _, k := range keys {
				if err := g.b.Delete(k, nil); err != nil {
					return err
				}
			}
			if err := g.b.Set(removedKey(v.noise), appendAddr(nil, v.a), nil); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(g)
		}
		return nil
	})
}

// QueueSpan implements store.Admin with a first and a last seek.
func (s *Store) QueueSpan(ctx context.Context, dev protocol.Address) (int, error) {
	if err := checkAddr(dev); err != nil {
		return 0, fmt.Errorf("queue span: %w: %w", ErrInvalid, err)
	}
	release, err := s.enterRead(ctx)
	if err != nil {
		return 0, fmt.Errorf("queue span %s: %w", dev, err)
	}
	defer release()
	lo, hi := queueRange(dev, 0)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, fmt.Errorf("queue span %s: %w", dev, err)
	}
	defer it.Close()
	if !it.First() {
		return 0, it.Error()
	}
	first, err := decodeQueueSeq(it.Key())
	if err != nil {
		return 0, fmt.Errorf("queue span %s: %w", dev, err)
	}
	if !it.Last() {
		return 0, it.Error()
	}
	last, err := decodeQueueSeq(it.Key())
	if err != nil || last < first {
		return 0, fmt.Errorf("queue span %s: %w", dev, errCorrupt)
	}
	return int(min(last-first+1, 1<<31)), nil
}

// QueueTotals implements store.Admin.
func (s *Store) QueueTotals(ctx context.Context) (int, time.Time, error) {
	release, err := s.enterRead(ctx)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("queue totals: %w", err)
	}
	defer release()
	n := 0
	err = s.scan([]byte{pQueue}, []byte{pQueue + 1}, func(_, _ []byte) (bool, error) {
		n++
		if n%4096 == 0 && ctx.Err() != nil {
			return false, ctx.Err()
		}
		return true, nil
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("queue totals: %w", err)
	}
	earliest, err := s.earliestExpiryLocked()
	return n, earliest, err
}

// EarliestExpiry implements store.Admin.
func (s *Store) EarliestExpiry(ctx context.Context) (time.Time, error) {
	release, err := s.enterRead(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("earliest expiry: %w", err)
	}
	defer release()
	return s.earliestExpiryLocked()
}

func (s *Store) earliestExpiryLocked() (time.Time, error) {
	var t time.Time
	err := s.scan([]byte{pExpiry}, []byte{pExpiry + 1}, func(k, _ []byte) (bool, error) {
		if len(k) < 9 {
			return false, fmt.Errorf("expiry key: %w", errBadKey)
		}
		nanos := int64(sortableTime(int64(beUint64(k[1:9]))))
		t = time.Unix(0, nanos).UTC()
		return false, nil
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("earliest expiry: %w", err)
	}
	return t, nil
}

func beUint64(b []byte) uint64 {
	return uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
}

// Checkpoint implements store.Admin with Pebble's checkpoint: hard links
// to the immutable table files plus a copy of the WAL and manifest, taken
// after the WAL is flushed so every acknowledged write is in it.
func (s *Store) Checkpoint(ctx context.Context, dir string) error {
	release, err := s.enterRead(ctx)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer release()
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("checkpoint %s: %w", dir, os.ErrExist)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if err := s.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	return nil
}

// SetPushToken implements store.PushTokens.
func (s *Store) SetPushToken(ctx context.Context, a protocol.Address, t store.PushToken) error {
	if len(t.Token) > store.MaxPushTokenLen || len(t.Platform) > store.MaxPushPlatformLen {
		return fmt.Errorf("set push token %s: %w", a, ErrTooLarge)
	}
	if _, err := s.Device(ctx, a); err != nil {
		return fmt.Errorf("set push token: %w", err)
	}
	release, err := s.enter()
	if err != nil {
		return fmt.Errorf("set push token %s: %w", a, err)
	}
	defer release()
	k := addrKey(pPushToken, a)
	if t.Token == "" {
		err = s.db.Delete(k, pebble.Sync)
	} else {
		e := newEnc(len(t.Token) + len(t.Platform) + 16)
		e.str(t.Token)
		e.str(t.Platform)
		e.time(t.UpdatedAt)
		err = s.db.Set(k, e.b, pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("set push token %s: %w", a, err)
	}
	return nil
}

// PushToken implements store.PushTokens.
func (s *Store) PushToken(ctx context.Context, a protocol.Address) (store.PushToken, error) {
	if err := checkAddr(a); err != nil {
		return store.PushToken{}, fmt.Errorf("push token: %w: %w", store.ErrNotFound, err)
	}
	v, err := s.read(ctx, addrKey(pPushToken, a))
	if err != nil {
		return store.PushToken{}, fmt.Errorf("push token %s: %w", a, err)
	}
	d := newDec("push token", v)
	t := store.PushToken{Token: d.str("token", store.MaxPushTokenLen), Platform: d.str("platform", store.MaxPushPlatformLen), UpdatedAt: d.time("updated")}
	if err := d.done("push token"); err != nil {
		return store.PushToken{}, fmt.Errorf("push token %s: %w", a, err)
	}
	return t, nil
}
