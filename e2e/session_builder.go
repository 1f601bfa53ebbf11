package e2e

import (
	"context"
	"fmt"
)

// discontinuity is the 32 0xFF bytes that open the PQXDH/X3DH secret (they
// keep the input from colliding with an XEdDSA nonce hash input).
var discontinuity = [32]byte{
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
}

// ProcessPreKeyBundle runs the initiator (Alice) side of PQXDH against a
// bundle fetched from the server and stores the new session as current
// (archiving any previous one). The next Encrypt produces a PreKeyMessage.
func ProcessPreKeyBundle(ctx context.Context, cfg Config, s Stores, remote Address, b PreKeyBundle) error {
	if err := b.verify(cfg.AllowNoKEM); err != nil {
		return fmt.Errorf("process bundle %s: %w", remote, err)
	}
	trusted, err := s.Identity.IsTrustedIdentity(ctx, remote, b.IdentityKey, Sending)
	if err != nil {
		return fmt.Errorf("process bundle %s: %w", remote, err)
	}
	if !trusted {
		return fmt.Errorf("process bundle %s: %w", remote, ErrUntrustedIdentity)
	}
	ours, err := s.Identity.IdentityKeyPair(ctx)
	if err != nil {
		return fmt.Errorf("process bundle %s: identity: %w", remote, err)
	}
	localReg, err := s.Identity.LocalRegistrationID(ctx)
	if err != nil {
		return fmt.Errorf("process bundle %s: registration id: %w", remote, err)
	}
	st, err := initAlice(cfg, ours, &b)
	if err != nil {
		return fmt.Errorf("process bundle %s: %w", remote, err)
	}
	st.remoteRegID, st.localRegID = b.RegistrationID, localReg

	rec, err := s.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return fmt.Errorf("process bundle %s: %w", remote, err)
	}
	if rec == nil {
		rec = &SessionRecord{}
	}
	rec.archiveCurrent()
	rec.current = st
	if _, err := s.Identity.SaveIdentity(ctx, remote, b.IdentityKey); err != nil {
		return fmt.Errorf("process bundle %s: %w", remote, err)
	}
	if err := s.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return fmt.Errorf("process bundle %s: %w", remote, err)
	}
	return nil
}

// initAlice computes Alice's PQXDH secret
//
//	0xFF×32 ‖ DH(IKa, SPKb) ‖ DH(EKa, IKb) ‖ DH(EKa, SPKb) [‖ DH(EKa, OPKb)] [‖ KEM ss]
//
// and the first sending chain, which already includes one DH-ratchet step
// from a fresh ratchet key against Bob's signed prekey.
func initAlice(cfg Config, ours IdentityKeyPair, b *PreKeyBundle) (*sessionState, error) {
	base, err := GenerateKeyPair(cfg.rand())
	if err != nil {
		return nil, err
	}
	ratchet, err := GenerateKeyPair(cfg.rand())
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 0, 32*6)
	secret = append(secret, discontinuity[:]...)
	for _, pair := range []struct {
		priv PrivateKey
		pub  PublicKey
	}{
		{ours.Private, b.SignedPreKey},
		{base.Private, b.IdentityKey},
		{base.Private, b.SignedPreKey},
	} {
		dh, err := pair.priv.Agree(pair.pub)
		if err != nil {
			return nil, err
		}
		secret = append(secret, dh...)
	}
	p := &pendingPreKey{signedPreKeyID: b.SignedPreKeyID, baseKey: base.Public, timestamp: cfg.now().Unix()}
	if b.PreKey != nil {
		dh, err := base.Private.Agree(*b.PreKey)
		if err != nil {
			return nil, err
		}
		secret = append(secret, dh...)
		id := b.PreKeyID
		p.preKeyID = &id
	}
	hasKEM := b.KEMPreKey != nil && !b.KEMPreKey.IsZero()
	version := uint8(versionPreKyber)
	if hasKEM {
		ss, ct, err := b.KEMPreKey.encapsulate()
		if err != nil {
			return nil, err
		}
		secret = append(secret, ss...)
		id := b.KEMPreKeyID
		p.kemPreKeyID, p.kemCiphertext = &id, ct
		version = versionKyber
	}
	root, ck := deriveInitialKeys(hasKEM, secret)
	clear(secret)
	sendRoot, sendCK, err := createChain(&root, b.SignedPreKey, ratchet.Private)
	if err != nil {
		return nil, err
	}
	return &sessionState{
		version:        version,
		localIdentity:  ours.Public,
		remoteIdentity: b.IdentityKey,
		rootKey:        sendRoot,
		hasSender:      true,
		sender:         chain{ratchetKey: ratchet.Public, ratchetPriv: ratchet.Private, key: sendCK},
		receivers:      []chain{{ratchetKey: b.SignedPreKey, key: ck}},
		pending:        p,
		aliceBaseKey:   base.Public.Bytes(),
	}, nil
}

// preKeyUse tells Decrypt which prekeys to consume once the message has
// decrypted (never before: a forged prekey message must not burn keys).
type preKeyUse struct {
	preKeyID    *uint32
	kemPreKeyID *uint32
}

// processPreKeyMessage runs Bob's side of PQXDH for m unless rec already has
// a state started by the same base key (Alice retransmitting before our
// reply reached her). The new state becomes current.
func processPreKeyMessage(ctx context.Context, cfg Config, s Stores, rec *SessionRecord, m *preKeySignalMessage) (preKeyUse, error) {
	if rec.findBaseKey(m.version, m.baseKey.Bytes()) {
		return preKeyUse{}, nil
	}
	if m.version == versionPreKyber && !cfg.AllowNoKEM {
		return preKeyUse{}, fmt.Errorf("prekey message without KEM: %w", ErrKEMRequired)
	}
	ours, err := s.Identity.IdentityKeyPair(ctx)
	if err != nil {
		return preKeyUse{}, fmt.Errorf("identity: %w", err)
	}
	localReg, err := s.Identity.LocalRegistrationID(ctx)
	if err != nil {
		return preKeyUse{}, fmt.Errorf("registration id: %w", err)
	}
	spk, err := s.SignedPreKeys.LoadSignedPreKey(ctx, m.signedPreKeyID)
	if err != nil {
		return preKeyUse{}, fmt.Errorf("signed prekey %d: %w", m.signedPreKeyID, err)
	}
	secret := make([]byte, 0, 32*6)
	secret = append(secret, discontinuity[:]...)
	for _, pair := range []struct {
		priv PrivateKey
		pub  PublicKey
	}{
		{spk.KeyPair.Private, m.identityKey},
		{ours.Private, m.baseKey},
		{spk.KeyPair.Private, m.baseKey},
	} {
		dh, err := pair.priv.Agree(pair.pub)
		if err != nil {
			return preKeyUse{}, fmt.Errorf("%v: %w", err, ErrInvalidMessage)
		}
		secret = append(secret, dh...)
	}
	var use preKeyUse
	if m.preKeyID != nil {
		pk, err := s.PreKeys.LoadPreKey(ctx, *m.preKeyID)
		if err != nil {
			return preKeyUse{}, fmt.Errorf("prekey %d: %w", *m.preKeyID, err)
		}
		dh, err := pk.KeyPair.Private.Agree(m.baseKey)
		if err != nil {
			return preKeyUse{}, fmt.Errorf("%v: %w", err, ErrInvalidMessage)
		}
		secret = append(secret, dh...)
		use.preKeyID = m.preKeyID
	}
	if m.kemPreKeyID != nil {
		kp, err := s.KEMPreKeys.LoadKEMPreKey(ctx, *m.kemPreKeyID)
		if err != nil {
			return preKeyUse{}, fmt.Errorf("KEM prekey %d: %w", *m.kemPreKeyID, err)
		}
		ss, err := kp.KeyPair.decapsulate(m.kemCiphertext)
		if err != nil {
			return preKeyUse{}, err
		}
		secret = append(secret, ss...)
		use.kemPreKeyID = m.kemPreKeyID
	}
	root, ck := deriveInitialKeys(m.kemPreKeyID != nil, secret)
	clear(secret)
	st := &sessionState{
		version:        m.version,
		localIdentity:  ours.Public,
		remoteIdentity: m.identityKey,
		rootKey:        root,
		hasSender:      true,
		sender:         chain{ratchetKey: spk.KeyPair.Public, ratchetPriv: spk.KeyPair.Private, key: ck},
		remoteRegID:    m.registrationID,
		localRegID:     localReg,
		aliceBaseKey:   m.baseKey.Bytes(),
	}
	rec.archiveCurrent()
	rec.current = st
	return use, nil
}
