package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"testing"
)

// party is one device with its own stores and published prekeys.
type party struct {
	addr  Address
	id    IdentityKeyPair
	regID uint32
	store *MemoryStore
	spk   SignedPreKeyRecord
	opks  []PreKeyRecord
	kem   KEMPreKeyRecord // one-time
	lrKEM KEMPreKeyRecord // last resort
	nextO int
}

func newParty(t testing.TB, name string) *party {
	t.Helper()
	id, err := GenerateKeyPair(rand.Reader)
	must(t, err)
	p := &party{addr: Address{Name: name, DeviceID: 1}, id: id, regID: 1000 + uint32(len(name)), store: NewMemoryStore(id, 1000+uint32(len(name)))}
	ctx := context.Background()
	p.spk, err = GenerateSignedPreKey(rand.Reader, id, 7)
	must(t, err)
	must(t, p.store.StoreSignedPreKey(ctx, p.spk))
	p.opks, err = GeneratePreKeys(rand.Reader, 100, 10)
	must(t, err)
	for _, k := range p.opks {
		must(t, p.store.StorePreKey(ctx, k))
	}
	p.kem, err = GenerateKEMPreKey(rand.Reader, id, 200, false)
	must(t, err)
	must(t, p.store.StoreKEMPreKey(ctx, p.kem))
	p.lrKEM, err = GenerateKEMPreKey(rand.Reader, id, 201, true)
	must(t, err)
	must(t, p.store.StoreKEMPreKey(ctx, p.lrKEM))
	return p
}

// bundle is what the server would hand out for p.
func (p *party) bundle(withOPK, withKEM, lastResort bool) PreKeyBundle {
	b := PreKeyBundle{
		RegistrationID: p.regID, DeviceID: p.addr.DeviceID, IdentityKey: p.id.Public,
		SignedPreKeyID: p.spk.ID, SignedPreKey: p.spk.KeyPair.Public, SignedPreKeySignature: p.spk.Signature,
	}
	if withOPK {
		k := p.opks[p.nextO%len(p.opks)]
		p.nextO++
		pub := k.KeyPair.Public
		b.PreKeyID, b.PreKey = k.ID, &pub
	}
	if withKEM {
		k := p.kem
		if lastResort {
			k = p.lrKEM
		}
		pub := k.KeyPair.Public()
		b.KEMPreKeyID, b.KEMPreKey, b.KEMPreKeySignature = k.ID, &pub, k.Signature
	}
	return b
}

func (p *party) encrypt(t testing.TB, cfg Config, to *party, msg string) Ciphertext {
	t.Helper()
	ct, err := Encrypt(context.Background(), cfg, p.store.Stores(), to.addr, []byte(msg))
	must(t, err)
	return ct
}

func (p *party) decrypt(t testing.TB, cfg Config, from *party, ct Ciphertext, want string) {
	t.Helper()
	got, err := Decrypt(context.Background(), cfg, p.store.Stores(), from.addr, ct)
	if err != nil {
		t.Fatalf("%s decrypting from %s: %v", p.addr, from.addr, err)
	}
	if string(got) != want {
		t.Fatalf("%s decrypted %q, want %q", p.addr, got, want)
	}
}

func (p *party) decryptErr(cfg Config, from *party, ct Ciphertext) error {
	_, err := Decrypt(context.Background(), cfg, p.store.Stores(), from.addr, ct)
	return err
}

// establish runs PQXDH alice→bob and one round trip so both sides send
// WhisperMessages afterwards.
func establish(t testing.TB, cfg Config, alice, bob *party) {
	t.Helper()
	must(t, ProcessPreKeyBundle(context.Background(), cfg, alice.store.Stores(), bob.addr, bob.bundle(true, true, false)))
	bob.decrypt(t, cfg, alice, alice.encrypt(t, cfg, bob, "hello"), "hello")
	alice.decrypt(t, cfg, bob, bob.encrypt(t, cfg, alice, "hi"), "hi")
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

// snapshot returns the serialised session p holds with peer.
func (p *party) snapshot(t testing.TB, peer *party) []byte {
	t.Helper()
	rec, err := p.store.LoadSession(context.Background(), peer.addr)
	must(t, err)
	if rec == nil {
		t.Fatal("no session")
	}
	b, err := rec.Marshal()
	must(t, err)
	return b
}

// clone makes a device that holds p's identity, prekeys and a given
// session snapshot with peer: a stolen copy, or the same device restarted.
func (p *party) clone(t testing.TB, peer *party, session []byte) *party {
	t.Helper()
	ctx := context.Background()
	c := *p
	c.store = NewMemoryStore(p.id, p.regID)
	must(t, c.store.StoreSignedPreKey(ctx, p.spk))
	rec, err := ParseSessionRecord(session)
	must(t, err)
	must(t, c.store.StoreSession(ctx, peer.addr, rec))
	_, err = c.store.SaveIdentity(ctx, peer.addr, peer.id.Public)
	must(t, err)
	return &c
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
