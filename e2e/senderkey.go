package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// Sender Keys: each group member has a sending chain per distribution id
// and hands its current chain key and public signing key to every other
// member over the 1:1 sessions (a SenderKeyDistributionMessage). A group
// message is then encrypted once, under the next message key of the chain,
// and signed, and the server fans the same ciphertext out to every member.
//
// Concurrency: each function loads a record, works on a copy and stores it.
// Calls for the same (address, distribution id) must be serialised by the
// caller: two concurrent GroupEncrypt calls would reuse a message key, and two
// concurrent GroupDecrypt calls could lose a consumed key and let a replay
// through once. Calls for different groups or senders may run in parallel.

// NewSenderKeyDistributionMessage returns the serialised distribution message
// for our sending chain in distributionID, creating the chain (random 31-bit
// chain id, random chain key, fresh signing key) if there is none. Send it to
// every member over their 1:1 sessions.
func NewSenderKeyDistributionMessage(ctx context.Context, cfg Config, store SenderKeyStore, self Address, distributionID [16]byte) ([]byte, error) {
	loaded, err := store.LoadSenderKey(ctx, self, distributionID)
	if err != nil {
		return nil, fmt.Errorf("sender key distribution: load: %w", err)
	}
	rec := loaded.clone()
	if rec.IsEmpty() {
		s, err := newOwnSenderKeyState(cfg.rand())
		if err != nil {
			return nil, fmt.Errorf("sender key distribution: %w", err)
		}
		rec.addState(s)
		if err := store.StoreSenderKey(ctx, self, distributionID, rec); err != nil {
			return nil, fmt.Errorf("sender key distribution: store: %w", err)
		}
	}
	s := rec.states[0]
	if s.signingPriv == nil {
		return nil, fmt.Errorf("sender key distribution: %s holds no own chain: %w", self, ErrNoSenderKey)
	}
	d := &senderKeyDistribution{
		distributionID: distributionID,
		chainID:        s.chainID,
		iteration:      s.chain.iteration,
		chainKey:       s.chain.key,
		signingKey:     s.signingPub,
	}
	return d.marshal()
}

func newOwnSenderKeyState(rand io.Reader) (*senderKeyState, error) {
	var buf [4 + senderChainKeyLen]byte
	if _, err := io.ReadFull(rand, buf[:]); err != nil {
		return nil, fmt.Errorf("new sender key: %w", err)
	}
	kp, err := GenerateKeyPair(rand)
	if err != nil {
		return nil, fmt.Errorf("new sender key: signing key: %w", err)
	}
	s := &senderKeyState{
		version: senderKeyMessageVersion,
		// 31 bits, as libsignal-protocol-java chose and libsignal kept.
		chainID:     binary.BigEndian.Uint32(buf[:4]) >> 1,
		signingPub:  kp.Public,
		signingPriv: &kp.Private,
	}
	copy(s.chain.key[:], buf[4:])
	return s, nil
}

// ProcessSenderKeyDistributionMessage stores the chain a group member sent us.
// It must only be called with a message that arrived over an authenticated
// 1:1 session from sender. Processing the same message again does not rewind
// a chain already known.
func ProcessSenderKeyDistributionMessage(ctx context.Context, store SenderKeyStore, sender Address, skdm []byte) error {
	d, err := parseSenderKeyDistribution(skdm)
	if err != nil {
		return fmt.Errorf("process sender key distribution from %s: %w", sender, err)
	}
	loaded, err := store.LoadSenderKey(ctx, sender, d.distributionID)
	if err != nil {
		return fmt.Errorf("process sender key distribution from %s: load: %w", sender, err)
	}
	rec := loaded.clone()
	rec.addState(&senderKeyState{
		version:    senderKeyMessageVersion,
		chainID:    d.chainID,
		chain:      senderChainKey{iteration: d.iteration, key: d.chainKey},
		signingPub: d.signingKey,
	})
	if err := store.StoreSenderKey(ctx, sender, d.distributionID, rec); err != nil {
		return fmt.Errorf("process sender key distribution from %s: store: %w", sender, err)
	}
	return nil
}

// GroupEncrypt encrypts plaintext under our sending chain in distributionID
// and signs it. It fails with ErrNoSenderKey until
// NewSenderKeyDistributionMessage created the chain (and after
// RotateSenderKey): members could not decrypt anyway.
func GroupEncrypt(ctx context.Context, cfg Config, store SenderKeyStore, self Address, distributionID [16]byte, plaintext []byte) ([]byte, error) {
	loaded, err := store.LoadSenderKey(ctx, self, distributionID)
	if err != nil {
		return nil, fmt.Errorf("group encrypt: load: %w", err)
	}
	if loaded.IsEmpty() {
		return nil, fmt.Errorf("group encrypt: %s: %w", self, ErrNoSenderKey)
	}
	rec := loaded.clone()
	s := rec.states[0]
	if s.signingPriv == nil {
		return nil, fmt.Errorf("group encrypt: %s holds no own chain: %w", self, ErrNoSenderKey)
	}
	mk := senderMessageKey{iteration: s.chain.iteration, seed: s.chain.messageSeed()}
	ct, err := mk.encrypt(plaintext)
	if err != nil {
		return nil, fmt.Errorf("group encrypt: %w", err)
	}
	msg, err := encodeSenderKeyMessage(cfg.rand(), *s.signingPriv, distributionID, s.chainID, mk.iteration, ct)
	if err != nil {
		return nil, fmt.Errorf("group encrypt: %w", err)
	}
	if s.chain, err = s.chain.next(); err != nil {
		return nil, fmt.Errorf("group encrypt: %w", err)
	}
	if err := store.StoreSenderKey(ctx, self, distributionID, rec); err != nil {
		return nil, fmt.Errorf("group encrypt: store: %w", err)
	}
	return msg, nil
}

// GroupDecrypt verifies and decrypts a group message from sender. Messages may
// arrive out of order within MaxSenderKeyJump; a message seen before fails
// with ErrDuplicateMessage. The stored record changes only when decryption
// succeeded.
func GroupDecrypt(ctx context.Context, store SenderKeyStore, sender Address, ciphertext []byte) ([]byte, error) {
	m, err := parseSenderKeyMessage(ciphertext)
	if err != nil {
		return nil, fmt.Errorf("group decrypt from %s: %w", sender, err)
	}
	loaded, err := store.LoadSenderKey(ctx, sender, m.distributionID)
	if err != nil {
		return nil, fmt.Errorf("group decrypt from %s: load: %w", sender, err)
	}
	rec := loaded.clone()
	s := rec.stateForChain(m.chainID)
	if s == nil {
		return nil, fmt.Errorf("group decrypt from %s: chain %d unknown: %w", sender, m.chainID, ErrNoSenderKey)
	}
	if !s.signingPub.VerifySignature(m.signed, m.signature) {
		return nil, fmt.Errorf("group decrypt from %s: %w", sender, ErrInvalidSignature)
	}
	mk, err := s.messageKey(m.iteration)
	if err != nil {
		return nil, fmt.Errorf("group decrypt from %s: %w", sender, err)
	}
	pt, err := mk.decrypt(m.ciphertext)
	if err != nil {
		return nil, fmt.Errorf("group decrypt from %s: %w", sender, err)
	}
	if err := store.StoreSenderKey(ctx, sender, m.distributionID, rec); err != nil {
		return nil, fmt.Errorf("group decrypt from %s: store: %w", sender, err)
	}
	return pt, nil
}

// messageKey returns the key for iteration, ratcheting forward and keeping
// the keys it passes for late messages.
func (s *senderKeyState) messageKey(iteration uint32) (senderMessageKey, error) {
	cur := s.chain.iteration
	if iteration < cur {
		if k, ok := s.takeSkipped(iteration); ok {
			return k, nil
		}
		return senderMessageKey{}, fmt.Errorf("iteration %d, chain at %d: %w", iteration, cur, ErrDuplicateMessage)
	}
	if iteration-cur > MaxSenderKeyJump {
		return senderMessageKey{}, fmt.Errorf("iteration %d is %d ahead of the chain (max %d): %w", iteration, iteration-cur, MaxSenderKeyJump, ErrTooManySkipped)
	}
	chain := s.chain
	for chain.iteration < iteration {
		s.addSkipped(senderMessageKey{iteration: chain.iteration, seed: chain.messageSeed()})
		next, err := chain.next()
		if err != nil {
			return senderMessageKey{}, err
		}
		chain = next
	}
	k := senderMessageKey{iteration: chain.iteration, seed: chain.messageSeed()}
	next, err := chain.next()
	if err != nil {
		return senderMessageKey{}, err
	}
	s.chain = next
	return k, nil
}

// RotateSenderKey drops our sending chain for distributionID, so the next
// NewSenderKeyDistributionMessage creates a fresh chain (new chain id, chain
// key and signing key). Call it when a member leaves the group, then send the
// new distribution message to the remaining members only: the removed member
// holds the old chain and cannot derive the new one.
func RotateSenderKey(ctx context.Context, store SenderKeyStore, self Address, distributionID [16]byte) error {
	if err := store.StoreSenderKey(ctx, self, distributionID, &SenderKeyRecord{}); err != nil {
		return fmt.Errorf("rotate sender key: store: %w", err)
	}
	return nil
}
