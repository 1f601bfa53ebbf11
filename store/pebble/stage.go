package pebble

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"sync"

	"github.com/parley-im/parley/protocol"
)

// Key prefixes of the multi-device, group and presence records (the rest
// are in keys.go; one byte each, never renumbered).
const (
	pDeviceList = 'L' // L | handle                  → signed device list
	pLastDevice = 'I' // I | handle                  → last device id handed out (4, BE)
	pRemoved    = 'N' // N | noise key (32)          → addr the key had before removal
	pGroup      = 'g' // g | group id (16)           → group record
	pUserGroup  = 'G' // G | handle | group id (16)  → empty (per-user group index)
	pLastSeen   = 'P' // P | handle                  → last seen (8, unix ms)
	pPrivacy    = 'V' // V | handle                  → privacy setting (1)
	pContact    = 'k' // k | owner | peer            → empty
)

// socialStripes is the number of locks serialising changes of one group
// or one account's contact set.
const socialStripes = 64

// socialState is the Store's part for groups and contacts. Each change
// reads the current record, then hands its writes to the committer and
// waits, all under one stripe lock: two changes of one group can never
// share a batch, so the version check never reads a value that a pending
// batch is about to replace.
type socialState struct {
	once    sync.Once
	seed    maphash.Seed
	stripes [socialStripes]sync.Mutex
}

func (st *socialState) lock(key []byte) *sync.Mutex {
	st.once.Do(func() { st.seed = maphash.MakeSeed() })
	return &st.stripes[maphash.Bytes(st.seed, key)%socialStripes]
}

// commitStaged hands fn to the committer, so its writes are ordered with
// queue writes and share their batch (and sync), and waits for the commit.
// The caller holds closeMu's read side (enter), so Close cannot stop the
// committer before it answers.
func (s *Store) commitStaged(ctx context.Context, fn func(*groupState) error) error {
	r := &request{kind: reqStage, stage: fn, done: make(chan struct{})}
	select {
	case s.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	<-r.done
	return r.err
}

func nameKey(prefix byte, name string) []byte {
	return appendName([]byte{prefix}, name)
}

func pairKey(prefix byte, a, b string) []byte {
	return appendName(appendName([]byte{prefix}, a), b)
}

func userGroupKey(handle string, id []byte) []byte {
	return append(nameKey(pUserGroup, handle), id...)
}

func removedKey(k [32]byte) []byte { return append([]byte{pRemoved}, k[:]...) }

// prefixRange bounds every key that starts with p.
func prefixRange(p []byte) (lo, hi []byte) {
	lo = append([]byte(nil), p...)
	hi = append([]byte(nil), p...)
	for i := len(hi) - 1; i >= 0; i-- {
		if hi[i] < 0xff {
			hi[i]++
			return lo, hi[:i+1]
		}
	}
	return lo, nil // unreachable for our prefixes, which never are all 0xff
}

func encodeU32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }

// addrPrefix is the key prefix of one device's records of one kind.
func addrPrefix(prefix byte, a protocol.Address) []byte { return addrKey(prefix, a) }
