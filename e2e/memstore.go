package e2e

import (
	"context"
	"fmt"
	"sync"
)

// MemoryStore implements every store interface of this package in memory.
// It is for tests and for the wasm build before a persistent store exists.
// Sessions are kept serialised, so a caller mutating a loaded *SessionRecord
// never changes the stored one behind the store's back. Sender key records
// are kept as the pointers handed in.
type MemoryStore struct {
	identity       IdentityKeyPair
	registrationID uint32

	mu            sync.Mutex // guards everything below
	identities    map[Address]PublicKey
	sessions      map[Address][]byte
	preKeys       map[uint32]PreKeyRecord
	signedPreKeys map[uint32]SignedPreKeyRecord
	kemPreKeys    map[uint32]KEMPreKeyRecord
	senderKeys    map[senderKeyID]*SenderKeyRecord
}

type senderKeyID struct {
	sender         Address
	distributionID [16]byte
}

// NewMemoryStore returns an empty store for the given local identity.
func NewMemoryStore(identity IdentityKeyPair, registrationID uint32) *MemoryStore {
	return &MemoryStore{
		identity:       identity,
		registrationID: registrationID,
		identities:     make(map[Address]PublicKey),
		sessions:       make(map[Address][]byte),
		preKeys:        make(map[uint32]PreKeyRecord),
		signedPreKeys:  make(map[uint32]SignedPreKeyRecord),
		kemPreKeys:     make(map[uint32]KEMPreKeyRecord),
		senderKeys:     make(map[senderKeyID]*SenderKeyRecord),
	}
}

// Stores returns the store bundle for ProcessPreKeyBundle, Encrypt, Decrypt.
func (m *MemoryStore) Stores() Stores {
	return Stores{Identity: m, Sessions: m, PreKeys: m, SignedPreKeys: m, KEMPreKeys: m}
}

// IdentityKeyPair implements IdentityStore.
func (m *MemoryStore) IdentityKeyPair(context.Context) (IdentityKeyPair, error) {
	return m.identity, nil
}

// LocalRegistrationID implements IdentityStore.
func (m *MemoryStore) LocalRegistrationID(context.Context) (uint32, error) {
	return m.registrationID, nil
}

// SaveIdentity implements IdentityStore.
func (m *MemoryStore) SaveIdentity(_ context.Context, addr Address, key PublicKey) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.identities[addr]
	m.identities[addr] = key
	return ok && !old.Equal(key), nil
}

// IsTrustedIdentity implements IdentityStore: trust on first use.
func (m *MemoryStore) IsTrustedIdentity(_ context.Context, addr Address, key PublicKey, _ Direction) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.identities[addr]
	return !ok || old.Equal(key), nil
}

// Identity implements IdentityStore.
func (m *MemoryStore) Identity(_ context.Context, addr Address) (*PublicKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.identities[addr]
	if !ok {
		return nil, nil
	}
	return &k, nil
}

// LoadSession implements SessionStore.
func (m *MemoryStore) LoadSession(_ context.Context, addr Address) (*SessionRecord, error) {
	m.mu.Lock()
	b, ok := m.sessions[addr]
	m.mu.Unlock()
	if !ok {
		return nil, nil
	}
	rec, err := ParseSessionRecord(b)
	if err != nil {
		return nil, fmt.Errorf("memory store: session %s: %w", addr, err)
	}
	return rec, nil
}

// StoreSession implements SessionStore.
func (m *MemoryStore) StoreSession(_ context.Context, addr Address, rec *SessionRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return fmt.Errorf("memory store: session %s: %w", addr, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions[addr] = b
	return nil
}

// StorePreKey adds a one-time prekey.
func (m *MemoryStore) StorePreKey(_ context.Context, rec PreKeyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.preKeys[rec.ID] = rec
	return nil
}

// LoadPreKey implements PreKeyStore.
func (m *MemoryStore) LoadPreKey(_ context.Context, id uint32) (PreKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.preKeys[id]
	if !ok {
		return PreKeyRecord{}, fmt.Errorf("prekey %d: %w", id, ErrNoPreKey)
	}
	return r, nil
}

// RemovePreKey implements PreKeyStore.
func (m *MemoryStore) RemovePreKey(_ context.Context, id uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.preKeys, id)
	return nil
}

// StoreSignedPreKey adds a signed prekey.
func (m *MemoryStore) StoreSignedPreKey(_ context.Context, rec SignedPreKeyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.signedPreKeys[rec.ID] = rec
	return nil
}

// LoadSignedPreKey implements SignedPreKeyStore.
func (m *MemoryStore) LoadSignedPreKey(_ context.Context, id uint32) (SignedPreKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.signedPreKeys[id]
	if !ok {
		return SignedPreKeyRecord{}, fmt.Errorf("signed prekey %d: %w", id, ErrNoPreKey)
	}
	return r, nil
}

// StoreKEMPreKey adds a KEM prekey.
func (m *MemoryStore) StoreKEMPreKey(_ context.Context, rec KEMPreKeyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kemPreKeys[rec.ID] = rec
	return nil
}

// LoadKEMPreKey implements KEMPreKeyStore.
func (m *MemoryStore) LoadKEMPreKey(_ context.Context, id uint32) (KEMPreKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.kemPreKeys[id]
	if !ok {
		return KEMPreKeyRecord{}, fmt.Errorf("KEM prekey %d: %w", id, ErrNoPreKey)
	}
	return r, nil
}

// MarkKEMPreKeyUsed implements KEMPreKeyStore: one-time keys are removed,
// last-resort keys kept.
func (m *MemoryStore) MarkKEMPreKeyUsed(_ context.Context, id uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.kemPreKeys[id]; ok && !r.LastResort {
		delete(m.kemPreKeys, id)
	}
	return nil
}

// StoreSenderKey implements SenderKeyStore.
func (m *MemoryStore) StoreSenderKey(_ context.Context, sender Address, distributionID [16]byte, rec *SenderKeyRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.senderKeys[senderKeyID{sender, distributionID}] = rec
	return nil
}

// LoadSenderKey implements SenderKeyStore.
func (m *MemoryStore) LoadSenderKey(_ context.Context, sender Address, distributionID [16]byte) (*SenderKeyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.senderKeys[senderKeyID{sender, distributionID}], nil
}
