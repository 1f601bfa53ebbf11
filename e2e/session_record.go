package e2e

import (
	"fmt"

	"github.com/parley-im/parley/e2e/internal/signalpb"
)

// maxSessionRecordLen bounds ParseSessionRecord. A full record (41 states ×
// 5 chains × MaxSkip skipped keys) could be larger in theory; in practice
// records are a few KiB, and 16 MiB refuses garbage without refusing use.
const maxSessionRecordLen = 16 << 20

// Marshal serialises the record for local storage: a version byte followed by
// a SessionRecordStructure protobuf (see docs/crypto.md). It contains secrets.
func (r *SessionRecord) Marshal() ([]byte, error) {
	pb := &signalpb.SessionRecordStructure{}
	if r.current != nil {
		pb.CurrentSession = r.current.toPB()
	}
	for _, s := range r.previous {
		pb.PreviousSessions = append(pb.PreviousSessions, s.toPB())
	}
	return marshalRecord(pb)
}

// ParseSessionRecord parses the output of Marshal, validating every key and
// bound so that a corrupted record fails here rather than mid-protocol.
func ParseSessionRecord(b []byte) (*SessionRecord, error) {
	var pb signalpb.SessionRecordStructure
	if err := unmarshalRecord(b, maxSessionRecordLen, &pb); err != nil {
		return nil, fmt.Errorf("session record: %w", err)
	}
	if len(pb.PreviousSessions) > maxArchivedStates {
		return nil, fmt.Errorf("session record: %d archived states: %w", len(pb.PreviousSessions), ErrInvalidRecord)
	}
	r := &SessionRecord{}
	if pb.CurrentSession != nil {
		s, err := stateFromPB(pb.CurrentSession)
		if err != nil {
			return nil, fmt.Errorf("session record: current: %w", err)
		}
		r.current = s
	}
	for i, p := range pb.PreviousSessions {
		s, err := stateFromPB(p)
		if err != nil {
			return nil, fmt.Errorf("session record: archived %d: %w", i, err)
		}
		r.previous = append(r.previous, s)
	}
	return r, nil
}

func (s *sessionState) toPB() *signalpb.SessionStructure {
	pb := &signalpb.SessionStructure{
		SessionVersion:       uint32(s.version),
		LocalIdentityPublic:  s.localIdentity.Bytes(),
		RemoteIdentityPublic: s.remoteIdentity.Bytes(),
		RootKey:              append([]byte(nil), s.rootKey[:]...),
		PreviousCounter:      s.prevCounter,
		RemoteRegistrationId: s.remoteRegID,
		LocalRegistrationId:  s.localRegID,
		AliceBaseKey:         s.aliceBaseKey,
	}
	if s.hasSender {
		pb.SenderChain = chainToPB(&s.sender, true)
	}
	for i := range s.receivers {
		pb.ReceiverChains = append(pb.ReceiverChains, chainToPB(&s.receivers[i], false))
	}
	if p := s.pending; p != nil {
		pb.PendingPreKey = &signalpb.PendingPreKey{
			PreKeyId:       p.preKeyID,
			SignedPreKeyId: p.signedPreKeyID,
			BaseKey:        p.baseKey.Bytes(),
			KemPreKeyId:    p.kemPreKeyID,
			KemCiphertext:  p.kemCiphertext,
			TimestampUnix:  p.timestamp,
		}
	}
	return pb
}

func chainToPB(c *chain, withPrivate bool) *signalpb.Chain {
	pb := &signalpb.Chain{
		SenderRatchetKey: c.ratchetKey.Bytes(),
		ChainKey:         append([]byte(nil), c.key[:]...),
		Index:            c.index,
	}
	if withPrivate {
		pb.SenderRatchetKeyPrivate = c.ratchetPriv.Bytes()
	}
	for _, k := range c.skipped {
		pb.MessageKeys = append(pb.MessageKeys, &signalpb.MessageKey{Index: k.index, Seed: append([]byte(nil), k.seed[:]...)})
	}
	return pb
}

func stateFromPB(pb *signalpb.SessionStructure) (*sessionState, error) {
	s := &sessionState{
		version:     uint8(pb.SessionVersion),
		prevCounter: pb.PreviousCounter,
		remoteRegID: pb.RemoteRegistrationId,
		localRegID:  pb.LocalRegistrationId,
	}
	if pb.SessionVersion != versionKyber && pb.SessionVersion != versionPreKyber {
		return nil, fmt.Errorf("session version %d: %w", pb.SessionVersion, ErrUnsupportedVersion)
	}
	var err error
	if s.localIdentity, err = ParsePublicKey(pb.LocalIdentityPublic); err != nil {
		return nil, fmt.Errorf("local identity: %w", err)
	}
	if s.remoteIdentity, err = ParsePublicKey(pb.RemoteIdentityPublic); err != nil {
		return nil, fmt.Errorf("remote identity: %w", err)
	}
	if err := copy32(&s.rootKey, pb.RootKey); err != nil {
		return nil, fmt.Errorf("root key: %w", err)
	}
	if len(pb.AliceBaseKey) != publicKeyLen {
		return nil, fmt.Errorf("alice base key length %d: %w", len(pb.AliceBaseKey), ErrInvalidRecord)
	}
	s.aliceBaseKey = pb.AliceBaseKey
	if pb.SenderChain != nil {
		c, err := chainFromPB(pb.SenderChain, true)
		if err != nil {
			return nil, fmt.Errorf("sender chain: %w", err)
		}
		s.sender, s.hasSender = c, true
	}
	if len(pb.ReceiverChains) > maxReceiverChains {
		return nil, fmt.Errorf("%d receiver chains: %w", len(pb.ReceiverChains), ErrInvalidRecord)
	}
	for i, rc := range pb.ReceiverChains {
		c, err := chainFromPB(rc, false)
		if err != nil {
			return nil, fmt.Errorf("receiver chain %d: %w", i, err)
		}
		s.receivers = append(s.receivers, c)
	}
	if p := pb.PendingPreKey; p != nil {
		base, err := ParsePublicKey(p.BaseKey)
		if err != nil {
			return nil, fmt.Errorf("pending prekey base key: %w", err)
		}
		s.pending = &pendingPreKey{
			preKeyID: p.PreKeyId, signedPreKeyID: p.SignedPreKeyId, baseKey: base,
			kemPreKeyID: p.KemPreKeyId, kemCiphertext: p.KemCiphertext, timestamp: p.TimestampUnix,
		}
		if (p.KemPreKeyId != nil) != (len(p.KemCiphertext) > 0) {
			return nil, fmt.Errorf("pending prekey: KEM id and ciphertext disagree: %w", ErrInvalidRecord)
		}
	}
	return s, nil
}

// maxStoredSkipped bounds skipped keys per chain in a parsed record,
// independent of the Config that wrote it.
const maxStoredSkipped = 25000

func chainFromPB(pb *signalpb.Chain, withPrivate bool) (chain, error) {
	var c chain
	var err error
	if c.ratchetKey, err = ParsePublicKey(pb.SenderRatchetKey); err != nil {
		return c, fmt.Errorf("ratchet key: %w", err)
	}
	if withPrivate {
		// The public half is not re-derived from the private key here: that
		// scalar multiplication would dominate every Encrypt/Decrypt, and a
		// mismatched pair only breaks the session it came from.
		if c.ratchetPriv, err = ParsePrivateKey(pb.SenderRatchetKeyPrivate); err != nil {
			return c, fmt.Errorf("ratchet private key: %w", err)
		}
	}
	if err := copy32(&c.key, pb.ChainKey); err != nil {
		return c, fmt.Errorf("chain key: %w", err)
	}
	c.index = pb.Index
	if len(pb.MessageKeys) > maxStoredSkipped {
		return c, fmt.Errorf("%d skipped keys: %w", len(pb.MessageKeys), ErrInvalidRecord)
	}
	for _, mk := range pb.MessageKeys {
		var k skippedKey
		k.index = mk.Index
		if err := copy32(&k.seed, mk.Seed); err != nil {
			return c, fmt.Errorf("skipped key %d: %w", mk.Index, err)
		}
		c.skipped = append(c.skipped, k)
	}
	return c, nil
}

func copy32(dst *[32]byte, src []byte) error {
	if len(src) != 32 {
		return fmt.Errorf("length %d, want 32: %w", len(src), ErrInvalidRecord)
	}
	copy(dst[:], src)
	return nil
}
