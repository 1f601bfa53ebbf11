package e2e

import (
	"fmt"
	"log/slog"

	"github.com/parley-im/parley/e2e/internal/signalpb"
	"google.golang.org/protobuf/proto"
)

// Bounds of a SenderKeyRecord, libsignal's values.
const (
	// MaxSenderKeyStates is how many chains per (sender, distribution id)
	// a record keeps, newest first; older ones are dropped.
	MaxSenderKeyStates = 5
	// MaxSenderKeyJump is how far ahead of its chain a group message may be.
	// Further ahead fails with ErrTooManySkipped without deriving any key.
	MaxSenderKeyJump = 25000
	// MaxSenderKeySkipped is how many skipped message keys a chain keeps for
	// late (out-of-order) messages; the oldest are dropped first.
	MaxSenderKeySkipped = 2000

	senderKeyRecordVersion = 1
	maxSenderKeyRecordLen  = 1 << 20
)

// SenderKeyRecord holds the Sender Key chains of one (sender, distribution
// id): our own sending chain, or the chains a group member distributed to us.
// Functions in this package never modify a record after handing it to a
// SenderKeyStore, nor one loaded from it: they work on a copy.
type SenderKeyRecord struct {
	states []*senderKeyState // newest first
}

type senderKeyState struct {
	version     uint8
	chainID     uint32
	chain       senderChainKey
	signingPub  PublicKey
	signingPriv *PrivateKey        // only for our own chain
	skipped     []senderMessageKey // oldest first, at most MaxSenderKeySkipped
}

// IsEmpty reports whether the record holds no chain (for example after
// RotateSenderKey).
func (r *SenderKeyRecord) IsEmpty() bool { return r == nil || len(r.states) == 0 }

func (r *SenderKeyRecord) clone() *SenderKeyRecord {
	c := &SenderKeyRecord{}
	if r == nil {
		return c
	}
	for _, s := range r.states {
		cs := *s
		cs.skipped = append([]senderMessageKey(nil), s.skipped...)
		if s.signingPriv != nil {
			p := *s.signingPriv
			cs.signingPriv = &p
		}
		c.states = append(c.states, &cs)
	}
	return c
}

func (r *SenderKeyRecord) stateForChain(chainID uint32) *senderKeyState {
	for _, s := range r.states {
		if s.chainID == chainID {
			return s
		}
	}
	return nil
}

// addState puts a chain first. A chain already known under the same id and
// signing key is kept as it is, so a replayed distribution message cannot
// rewind the chain and re-enable old message keys; a chain reusing the id
// with another signing key replaces the old one.
func (r *SenderKeyRecord) addState(s *senderKeyState) {
	keep := s
	rest := r.states[:0:0]
	for _, old := range r.states {
		switch {
		case old.chainID == s.chainID && old.signingPub.Equal(s.signingPub):
			keep = old
		case old.chainID == s.chainID:
			slog.Warn("e2e: sender key chain id reused with a different signing key; replacing", "chain_id", s.chainID)
		default:
			rest = append(rest, old)
		}
	}
	if len(rest) >= MaxSenderKeyStates {
		rest = rest[:MaxSenderKeyStates-1]
	}
	r.states = append([]*senderKeyState{keep}, rest...)
}

func (s *senderKeyState) addSkipped(k senderMessageKey) {
	if len(s.skipped) >= MaxSenderKeySkipped {
		s.skipped = append(s.skipped[:0], s.skipped[len(s.skipped)-MaxSenderKeySkipped+1:]...)
	}
	s.skipped = append(s.skipped, k)
}

func (s *senderKeyState) takeSkipped(iteration uint32) (senderMessageKey, bool) {
	for i, k := range s.skipped {
		if k.iteration == iteration {
			s.skipped = append(s.skipped[:i], s.skipped[i+1:]...)
			return k, true
		}
	}
	return senderMessageKey{}, false
}

// Marshal serialises the record for a SenderKeyStore: a version byte, then
// Parley's senderkey.proto. It contains private key material.
func (r *SenderKeyRecord) Marshal() ([]byte, error) {
	pb := &signalpb.SenderKeyRecordStructure{}
	for _, s := range r.states {
		ps := &signalpb.SenderKeyStateStructure{
			MessageVersion: uint32(s.version),
			ChainId:        s.chainID,
			ChainIteration: s.chain.iteration,
			ChainKey:       append([]byte(nil), s.chain.key[:]...),
			SigningPublic:  s.signingPub.Bytes(),
		}
		if s.signingPriv != nil {
			ps.SigningPrivate = s.signingPriv.Bytes()
		}
		for _, k := range s.skipped {
			ps.SkippedMessageKeys = append(ps.SkippedMessageKeys, &signalpb.SenderKeyStateStructure_MessageKey{
				Iteration: k.iteration, Seed: append([]byte(nil), k.seed[:]...),
			})
		}
		pb.States = append(pb.States, ps)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("marshal sender key record: %w", err)
	}
	return append([]byte{senderKeyRecordVersion}, b...), nil
}

// ParseSenderKeyRecord parses the output of Marshal, checking every bound
// and key so a corrupted store cannot produce a record that panics later.
func ParseSenderKeyRecord(b []byte) (*SenderKeyRecord, error) {
	if len(b) == 0 || len(b) > maxSenderKeyRecordLen {
		return nil, fmt.Errorf("sender key record: length %d: %w", len(b), ErrInvalidRecord)
	}
	if b[0] != senderKeyRecordVersion {
		return nil, fmt.Errorf("sender key record: version %d: %w", b[0], ErrUnsupportedVersion)
	}
	var pb signalpb.SenderKeyRecordStructure
	if err := proto.Unmarshal(b[1:], &pb); err != nil {
		return nil, fmt.Errorf("sender key record: %v: %w", err, ErrInvalidRecord)
	}
	if len(pb.States) > MaxSenderKeyStates {
		return nil, fmt.Errorf("sender key record: %d states: %w", len(pb.States), ErrInvalidRecord)
	}
	r := &SenderKeyRecord{}
	for i, ps := range pb.States {
		s, err := stateFromProto(ps)
		if err != nil {
			return nil, fmt.Errorf("sender key record: state %d: %w", i, err)
		}
		r.states = append(r.states, s)
	}
	return r, nil
}

func stateFromProto(ps *signalpb.SenderKeyStateStructure) (*senderKeyState, error) {
	if ps.MessageVersion != senderKeyMessageVersion {
		return nil, fmt.Errorf("message version %d: %w", ps.MessageVersion, ErrInvalidRecord)
	}
	if len(ps.ChainKey) != senderChainKeyLen {
		return nil, fmt.Errorf("chain key length %d: %w", len(ps.ChainKey), ErrInvalidRecord)
	}
	if len(ps.SkippedMessageKeys) > MaxSenderKeySkipped {
		return nil, fmt.Errorf("%d skipped keys: %w", len(ps.SkippedMessageKeys), ErrInvalidRecord)
	}
	pub, err := ParsePublicKey(ps.SigningPublic)
	if err != nil {
		return nil, fmt.Errorf("signing key: %v: %w", err, ErrInvalidRecord)
	}
	s := &senderKeyState{
		version:    uint8(ps.MessageVersion),
		chainID:    ps.ChainId,
		chain:      senderChainKey{iteration: ps.ChainIteration},
		signingPub: pub,
	}
	copy(s.chain.key[:], ps.ChainKey)
	if len(ps.SigningPrivate) > 0 {
		priv, err := ParsePrivateKey(ps.SigningPrivate)
		if err != nil {
			return nil, fmt.Errorf("signing private key: %v: %w", err, ErrInvalidRecord)
		}
		if !priv.PublicKey().Equal(pub) {
			return nil, fmt.Errorf("signing key pair mismatch: %w", ErrInvalidRecord)
		}
		s.signingPriv = &priv
	}
	for _, k := range ps.SkippedMessageKeys {
		if len(k.Seed) != 32 || k.Iteration >= s.chain.iteration {
			return nil, fmt.Errorf("skipped key %d: %w", k.Iteration, ErrInvalidRecord)
		}
		mk := senderMessageKey{iteration: k.Iteration}
		copy(mk.seed[:], k.Seed)
		s.skipped = append(s.skipped, mk)
	}
	return s, nil
}
