package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/e2e"
)

// e2eStore implements every e2e store interface on top of one txn, so the
// ratchet state an Encrypt or Decrypt produces commits together with the
// history item and seen-set entry it belongs to.
type e2eStore struct {
	t        *txn
	identity e2e.IdentityKeyPair
	regID    uint32
	// changed collects identities replaced during this txn; the caller
	// emits IdentityChanged events after the commit.
	changed []e2e.Address
}

func newE2EStore(t *txn, identity e2e.IdentityKeyPair, regID uint32) *e2eStore {
	return &e2eStore{t: t, identity: identity, regID: regID}
}

func (s *e2eStore) stores() e2e.Stores {
	return e2e.Stores{Identity: s, Sessions: s, PreKeys: s, SignedPreKeys: s, KEMPreKeys: s}
}

// IdentityKeyPair implements e2e.IdentityStore.
func (s *e2eStore) IdentityKeyPair(context.Context) (e2e.IdentityKeyPair, error) {
	return s.identity, nil
}

// LocalRegistrationID implements e2e.IdentityStore.
func (s *e2eStore) LocalRegistrationID(context.Context) (uint32, error) { return s.regID, nil }

// SaveIdentity implements e2e.IdentityStore.
func (s *e2eStore) SaveIdentity(ctx context.Context, addr e2e.Address, key e2e.PublicKey) (bool, error) {
	old, err := s.Identity(ctx, addr)
	if err != nil {
		return false, err
	}
	if old != nil && old.Equal(key) {
		return false, nil
	}
	s.t.Set(keyIdentity(addr.Name, addr.DeviceID), key.Bytes())
	if old != nil {
		s.changed = append(s.changed, addr)
		return true, nil
	}
	return false, nil
}

// IsTrustedIdentity implements e2e.IdentityStore. Like Signal's default, a
// changed key does not block the conversation: it is saved and reported as
// IdentityChanged so the user can compare safety numbers again.
func (s *e2eStore) IsTrustedIdentity(context.Context, e2e.Address, e2e.PublicKey, e2e.Direction) (bool, error) {
	return true, nil
}

// Identity implements e2e.IdentityStore.
func (s *e2eStore) Identity(ctx context.Context, addr e2e.Address) (*e2e.PublicKey, error) {
	b, err := s.t.Get(ctx, keyIdentity(addr.Name, addr.DeviceID))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w", addr, err)
	}
	k, err := e2e.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("identity %s: %w: %w", addr, ErrBadRecord, err)
	}
	return &k, nil
}

// LoadSession implements e2e.SessionStore.
func (s *e2eStore) LoadSession(ctx context.Context, addr e2e.Address) (*e2e.SessionRecord, error) {
	b, err := s.t.Get(ctx, keySession(addr.Name, addr.DeviceID))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("session %s: %w", addr, err)
	}
	rec, err := e2e.ParseSessionRecord(b)
	if err != nil {
		return nil, fmt.Errorf("session %s: %w: %w", addr, ErrBadRecord, err)
	}
	return rec, nil
}

// StoreSession implements e2e.SessionStore.
func (s *e2eStore) StoreSession(_ context.Context, addr e2e.Address, rec *e2e.SessionRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("session %s: %w", addr, err)
	}
	s.t.Set(keySession(addr.Name, addr.DeviceID), b)
	return nil
}

// LoadPreKey implements e2e.PreKeyStore.
func (s *e2eStore) LoadPreKey(ctx context.Context, id uint32) (e2e.PreKeyRecord, error) {
	b, err := s.t.Get(ctx, keyPreKey("pk", id))
	if errors.Is(err, storage.ErrNotFound) {
		return e2e.PreKeyRecord{}, fmt.Errorf("prekey %d: %w", id, e2e.ErrNoPreKey)
	}
	if err != nil {
		return e2e.PreKeyRecord{}, fmt.Errorf("prekey %d: %w", id, err)
	}
	return e2e.ParsePreKeyRecord(b)
}

// RemovePreKey implements e2e.PreKeyStore.
func (s *e2eStore) RemovePreKey(_ context.Context, id uint32) error {
	s.t.Delete(keyPreKey("pk", id))
	return nil
}

// LoadSignedPreKey implements e2e.SignedPreKeyStore.
func (s *e2eStore) LoadSignedPreKey(ctx context.Context, id uint32) (e2e.SignedPreKeyRecord, error) {
	b, err := s.t.Get(ctx, keyPreKey("spk", id))
	if errors.Is(err, storage.ErrNotFound) {
		return e2e.SignedPreKeyRecord{}, fmt.Errorf("signed prekey %d: %w", id, e2e.ErrNoPreKey)
	}
	if err != nil {
		return e2e.SignedPreKeyRecord{}, fmt.Errorf("signed prekey %d: %w", id, err)
	}
	return e2e.ParseSignedPreKeyRecord(b)
}

// LoadKEMPreKey implements e2e.KEMPreKeyStore.
func (s *e2eStore) LoadKEMPreKey(ctx context.Context, id uint32) (e2e.KEMPreKeyRecord, error) {
	b, err := s.t.Get(ctx, keyPreKey("kpk", id))
	if errors.Is(err, storage.ErrNotFound) {
		return e2e.KEMPreKeyRecord{}, fmt.Errorf("KEM prekey %d: %w", id, e2e.ErrNoPreKey)
	}
	if err != nil {
		return e2e.KEMPreKeyRecord{}, fmt.Errorf("KEM prekey %d: %w", id, err)
	}
	return e2e.ParseKEMPreKeyRecord(b)
}

// MarkKEMPreKeyUsed implements e2e.KEMPreKeyStore: one-time keys go,
// the last-resort key stays.
func (s *e2eStore) MarkKEMPreKeyUsed(ctx context.Context, id uint32) error {
	rec, err := s.LoadKEMPreKey(ctx, id)
	if err != nil {
		return err
	}
	if !rec.LastResort {
		s.t.Delete(keyPreKey("kpk", id))
	}
	return nil
}

// StoreSenderKey implements e2e.SenderKeyStore (groups, later).
func (s *e2eStore) StoreSenderKey(_ context.Context, sender e2e.Address, dist [16]byte, rec *e2e.SenderKeyRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("sender key %s: %w", sender, err)
	}
	s.t.Set(keySenderKey(sender.Name, sender.DeviceID, dist), b)
	return nil
}

// LoadSenderKey implements e2e.SenderKeyStore.
func (s *e2eStore) LoadSenderKey(ctx context.Context, sender e2e.Address, dist [16]byte) (*e2e.SenderKeyRecord, error) {
	b, err := s.t.Get(ctx, keySenderKey(sender.Name, sender.DeviceID, dist))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sender key %s: %w", sender, err)
	}
	rec, err := e2e.ParseSenderKeyRecord(b)
	if err != nil {
		return nil, fmt.Errorf("sender key %s: %w: %w", sender, ErrBadRecord, err)
	}
	return rec, nil
}

// storePreKeys buffers freshly generated own prekeys.
func storePreKeys(t *txn, pks []e2e.PreKeyRecord, spk *e2e.SignedPreKeyRecord, kpks []e2e.KEMPreKeyRecord) error {
	for _, pk := range pks {
		b, err := pk.Marshal()
		if err != nil {
			return fmt.Errorf("prekey %d: %w", pk.ID, err)
		}
		t.Set(keyPreKey("pk", pk.ID), b)
	}
	if spk != nil {
		b, err := spk.Marshal()
		if err != nil {
			return fmt.Errorf("signed prekey %d: %w", spk.ID, err)
		}
		t.Set(keyPreKey("spk", spk.ID), b)
	}
	for _, k := range kpks {
		b, err := k.Marshal()
		if err != nil {
			return fmt.Errorf("KEM prekey %d: %w", k.ID, err)
		}
		t.Set(keyPreKey("kpk", k.ID), b)
	}
	return nil
}
