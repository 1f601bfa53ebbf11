package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"sync"
	"testing"
)

var testDistID = [16]byte{0xd1, 0xd1, 0xd1, 0xd1, 0x70, 0x00, 0x11, 0xeb, 0xb3, 0x2a, 0x33, 0xb8, 0xa8, 0xa4, 0x87, 0xa6}

// bytesStore keeps only Marshal output and parses on every load, so every
// test that uses it also proves the record survives storage.
type bytesStore struct {
	mu   sync.Mutex
	recs map[string][]byte
}

func newBytesStore() *bytesStore { return &bytesStore{recs: map[string][]byte{}} }

func (s *bytesStore) key(a Address, d [16]byte) string { return fmt.Sprintf("%s/%x", a, d) }

func (s *bytesStore) StoreSenderKey(_ context.Context, a Address, d [16]byte, rec *SenderKeyRecord) error {
	b, err := rec.Marshal()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs[s.key(a, d)] = b
	return nil
}

func (s *bytesStore) LoadSenderKey(_ context.Context, a Address, d [16]byte) (*SenderKeyRecord, error) {
	s.mu.Lock()
	b, ok := s.recs[s.key(a, d)]
	s.mu.Unlock()
	if !ok {
		return nil, nil
	}
	return ParseSenderKeyRecord(b)
}

type member struct {
	t     testing.TB
	addr  Address
	store SenderKeyStore
}

func newMember(t testing.TB, name string, persistent bool) *member {
	t.Helper()
	var st SenderKeyStore = newBytesStore()
	if !persistent {
		kp, err := GenerateKeyPair(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		st = NewMemoryStore(kp, 1)
	}
	return &member{t: t, addr: Address{Name: name, DeviceID: 1}, store: st}
}

func (m *member) skdm() []byte {
	m.t.Helper()
	b, err := NewSenderKeyDistributionMessage(context.Background(), Config{}, m.store, m.addr, testDistID)
	if err != nil {
		m.t.Fatalf("%s: NewSenderKeyDistributionMessage: %v", m.addr, err)
	}
	return b
}

func (m *member) receiveSKDM(from *member, skdm []byte) {
	m.t.Helper()
	if err := ProcessSenderKeyDistributionMessage(context.Background(), m.store, from.addr, skdm); err != nil {
		m.t.Fatalf("%s: process SKDM from %s: %v", m.addr, from.addr, err)
	}
}

func (m *member) send(text string) []byte {
	m.t.Helper()
	ct, err := GroupEncrypt(context.Background(), Config{}, m.store, m.addr, testDistID, []byte(text))
	if err != nil {
		m.t.Fatalf("%s: GroupEncrypt: %v", m.addr, err)
	}
	return ct
}

func (m *member) open(from *member, ct []byte) ([]byte, error) {
	return GroupDecrypt(context.Background(), m.store, from.addr, ct)
}

func (m *member) mustOpen(from *member, ct []byte, want string) {
	m.t.Helper()
	pt, err := m.open(from, ct)
	if err != nil {
		m.t.Fatalf("%s: decrypt from %s: %v", m.addr, from.addr, err)
	}
	if string(pt) != want {
		m.t.Fatalf("%s: decrypted %q, want %q", m.addr, pt, want)
	}
}

func TestGroupRoundTrip(t *testing.T) {
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent=%v", persistent), func(t *testing.T) {
			alice, bob, carol := newMember(t, "alice", persistent), newMember(t, "bob", persistent), newMember(t, "carol", persistent)
			members := []*member{alice, bob, carol}
			for _, from := range members {
				skdm := from.skdm()
				for _, to := range members {
					if to != from {
						to.receiveSKDM(from, skdm)
					}
				}
			}
			for round := range 5 {
				for _, from := range members {
					text := fmt.Sprintf("%s says %d", from.addr.Name, round)
					if round == 4 {
						text = "" // empty plaintext still pads to one block
					}
					ct := from.send(text)
					for _, to := range members {
						if to != from {
							to.mustOpen(from, ct, text)
						}
					}
				}
			}
		})
	}
}

func TestGroupOutOfOrderAndReplay(t *testing.T) {
	alice, bob := newMember(t, "alice", true), newMember(t, "bob", true)
	bob.receiveSKDM(alice, alice.skdm())
	const n = 60
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = alice.send(fmt.Sprint("m", i))
	}
	order := mrand.New(mrand.NewPCG(1, 2)).Perm(n)
	for _, i := range order {
		bob.mustOpen(alice, msgs[i], fmt.Sprint("m", i))
	}
	for _, i := range order[:10] {
		if _, err := bob.open(alice, msgs[i]); !errors.Is(err, ErrDuplicateMessage) {
			t.Fatalf("replay of message %d: err = %v, want ErrDuplicateMessage", i, err)
		}
	}
}

// setOwnChain moves a member's own sending chain to iteration it, as if it
// had sent that many messages, without paying for the signatures.
func setOwnChain(t *testing.T, m *member, start senderChainKey, it uint32) {
	t.Helper()
	rec, err := m.store.LoadSenderKey(context.Background(), m.addr, testDistID)
	if err != nil || rec.IsEmpty() {
		t.Fatalf("load own record: %v", err)
	}
	rec = rec.clone()
	c := start
	for c.iteration < it {
		if c, err = c.next(); err != nil {
			t.Fatal(err)
		}
	}
	rec.states[0].chain = c
	if err := m.store.StoreSenderKey(context.Background(), m.addr, testDistID, rec); err != nil {
		t.Fatal(err)
	}
}

func ownChain(t *testing.T, m *member) senderChainKey {
	t.Helper()
	rec, err := m.store.LoadSenderKey(context.Background(), m.addr, testDistID)
	if err != nil || rec.IsEmpty() {
		t.Fatalf("load own record: %v", err)
	}
	return rec.states[0].chain
}

func TestGroupForwardJumpBound(t *testing.T) {
	tests := []struct {
		jump    uint32
		wantErr error
	}{
		{1, nil},
		{MaxSenderKeyJump, nil},
		{MaxSenderKeyJump + 1, ErrTooManySkipped},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("jump=", tt.jump), func(t *testing.T) {
			alice, bob := newMember(t, "alice", false), newMember(t, "bob", false)
			bob.receiveSKDM(alice, alice.skdm())
			setOwnChain(t, alice, ownChain(t, alice), tt.jump)
			_, err := bob.open(alice, alice.send("far ahead"))
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestGroupSkippedKeysBounded(t *testing.T) {
	alice, bob := newMember(t, "alice", true), newMember(t, "bob", true)
	bob.receiveSKDM(alice, alice.skdm())
	start := ownChain(t, alice)
	at := func(it uint32) []byte {
		setOwnChain(t, alice, start, it)
		return alice.send(fmt.Sprint("it", it))
	}
	const last = MaxSenderKeySkipped + 500
	early, oldestKept, newest := at(499), at(500), at(last)
	bob.mustOpen(alice, newest, fmt.Sprint("it", last))
	// Iterations 0..last-1 were skipped; only the newest MaxSenderKeySkipped
	// keys (500..last-1) are kept.
	if _, err := bob.open(alice, early); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("message beyond the kept window: err = %v, want ErrDuplicateMessage", err)
	}
	bob.mustOpen(alice, oldestKept, "it500")
	rec, _ := bob.store.LoadSenderKey(context.Background(), alice.addr, testDistID)
	if got := len(rec.states[0].skipped); got != MaxSenderKeySkipped-1 {
		t.Fatalf("kept %d skipped keys, want %d", got, MaxSenderKeySkipped-1)
	}
}

func TestGroupTampering(t *testing.T) {
	alice, bob, carol := newMember(t, "alice", false), newMember(t, "bob", false), newMember(t, "carol", false)
	bob.receiveSKDM(alice, alice.skdm())
	bob.receiveSKDM(carol, carol.skdm())
	ct := alice.send("hello group")
	flip := func(i int) []byte { b := bytes.Clone(ct); b[i] ^= 0x01; return b }
	fromCarol := carol.send("carol")
	m, err := parseSenderKeyMessage(ct)
	if err != nil {
		t.Fatal(err)
	}
	iterationAt := 1 + 2 + 16 + 1 + len(appendVarint(nil, uint64(m.chainID))) + 1
	tests := []struct {
		name string
		msg  []byte
		from *member
		want error
	}{
		{"flip ciphertext", flip(len(ct) - signatureLength - 3), alice, ErrInvalidSignature},
		{"flip signature", flip(len(ct) - 1), alice, ErrInvalidSignature},
		{"flip iteration", flip(iterationAt), alice, ErrInvalidSignature},
		{"flip chain id", flip(iterationAt - 2), alice, ErrNoSenderKey},
		{"version 2", func() []byte { b := bytes.Clone(ct); b[0] = 0x22; return b }(), alice, ErrUnsupportedVersion},
		{"truncated", ct[:len(ct)-1], alice, ErrInvalidMessage},
		{"short", ct[:10], alice, ErrInvalidMessage},
		{"empty", nil, alice, ErrInvalidMessage},
		{"carol's message claimed by alice", fromCarol, alice, ErrNoSenderKey},
		{"unknown sender", ct, newMember(t, "dave", false), ErrNoSenderKey},
		{"oversized", make([]byte, maxSenderKeyMessageLen+1), alice, ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := bob.open(tt.from, tt.msg); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// None of the failures consumed the message key.
	bob.mustOpen(alice, ct, "hello group")
}

func TestGroupSignatureWithForeignKey(t *testing.T) {
	// A member who knows alice's chain key (every member does) but not her
	// signing key cannot forge messages from her.
	alice, bob := newMember(t, "alice", false), newMember(t, "bob", false)
	skdm := alice.skdm()
	bob.receiveSKDM(alice, skdm)
	d, err := parseSenderKeyDistribution(skdm)
	if err != nil {
		t.Fatal(err)
	}
	fake, err := GenerateKeyPair(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mk := senderMessageKey{iteration: d.iteration, seed: senderChainKey{iteration: d.iteration, key: d.chainKey}.messageSeed()}
	body, err := mk.encrypt([]byte("transfer all the money"))
	if err != nil {
		t.Fatal(err)
	}
	forged, err := encodeSenderKeyMessage(rand.Reader, fake.Private, testDistID, d.chainID, d.iteration, body)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.open(alice, forged); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("forged message: err = %v, want ErrInvalidSignature", err)
	}
}

func TestGroupRotation(t *testing.T) {
	alice, bob, carol := newMember(t, "alice", true), newMember(t, "bob", true), newMember(t, "carol", true)
	oldSKDM := alice.skdm()
	bob.receiveSKDM(alice, oldSKDM)
	carol.receiveSKDM(alice, oldSKDM)
	inFlight := alice.send("before carol left")

	// Carol leaves.
	if err := RotateSenderKey(context.Background(), alice.store, alice.addr, testDistID); err != nil {
		t.Fatal(err)
	}
	if _, err := GroupEncrypt(context.Background(), Config{}, alice.store, alice.addr, testDistID, []byte("x")); !errors.Is(err, ErrNoSenderKey) {
		t.Fatalf("GroupEncrypt right after rotation: err = %v, want ErrNoSenderKey", err)
	}
	newSKDM := alice.skdm()
	o, err := parseSenderKeyDistribution(oldSKDM)
	if err != nil {
		t.Fatal(err)
	}
	n, err := parseSenderKeyDistribution(newSKDM)
	if err != nil {
		t.Fatal(err)
	}
	if n.chainID == o.chainID || n.signingKey.Equal(o.signingKey) || n.chainKey == o.chainKey || n.iteration != 0 {
		t.Fatalf("rotation did not produce a fresh chain: old %d/%v, new %d/%v", o.chainID, o.signingKey, n.chainID, n.signingKey)
	}
	bob.receiveSKDM(alice, newSKDM)

	after := alice.send("carol cannot read this")
	bob.mustOpen(alice, after, "carol cannot read this")
	if _, err := carol.open(alice, after); !errors.Is(err, ErrNoSenderKey) {
		t.Fatalf("removed member decrypting a post-rotation message: err = %v, want ErrNoSenderKey", err)
	}
	// Bob keeps the old chain for messages still in flight.
	bob.mustOpen(alice, inFlight, "before carol left")
	carol.mustOpen(alice, inFlight, "before carol left")
}

func TestGroupKeepsFiveStates(t *testing.T) {
	alice, bob := newMember(t, "alice", true), newMember(t, "bob", true)
	var msgs [][]byte
	for i := range MaxSenderKeyStates + 1 {
		if i > 0 {
			if err := RotateSenderKey(context.Background(), alice.store, alice.addr, testDistID); err != nil {
				t.Fatal(err)
			}
		}
		bob.receiveSKDM(alice, alice.skdm())
		msgs = append(msgs, alice.send(fmt.Sprint("chain ", i)))
	}
	if _, err := bob.open(alice, msgs[0]); !errors.Is(err, ErrNoSenderKey) {
		t.Fatalf("message on the evicted oldest chain: err = %v, want ErrNoSenderKey", err)
	}
	for i := 1; i < len(msgs); i++ {
		bob.mustOpen(alice, msgs[i], fmt.Sprint("chain ", i))
	}
}

func TestGroupReplayedDistributionDoesNotRewind(t *testing.T) {
	alice, bob := newMember(t, "alice", false), newMember(t, "bob", false)
	skdm := alice.skdm()
	bob.receiveSKDM(alice, skdm)
	m0 := alice.send("first")
	bob.mustOpen(alice, m0, "first")
	bob.receiveSKDM(alice, skdm) // replayed or re-sent
	if _, err := bob.open(alice, m0); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("message after replayed SKDM: err = %v, want ErrDuplicateMessage", err)
	}
	// A later distribution message of the same chain (as sent to a member
	// who joins later) starts where the chain is and does not disturb bob.
	carol := newMember(t, "carol", false)
	carol.receiveSKDM(alice, alice.skdm())
	m1 := alice.send("second")
	bob.mustOpen(alice, m1, "second")
	carol.mustOpen(alice, m1, "second")
	if _, err := carol.open(alice, m0); !errors.Is(err, ErrDuplicateMessage) {
		t.Fatalf("late joiner reading history: err = %v, want ErrDuplicateMessage", err)
	}
}

func TestSenderKeyWireFormat(t *testing.T) {
	alice := newMember(t, "alice", false)
	skdm := alice.skdm()
	rec, _ := alice.store.LoadSenderKey(context.Background(), alice.addr, testDistID)
	s := rec.states[0]
	// 0x33, then fields 1..5 in order: uuid, chain id, iteration, chain key,
	// signing key, as libsignal's prost encoder writes them.
	var want []byte
	want = append(want, 0x33, 0x0a, 0x10)
	want = append(want, testDistID[:]...)
	want = append(want, 0x10)
	want = appendVarint(want, uint64(s.chainID))
	want = append(want, 0x18, 0x00, 0x22, 0x20)
	want = append(want, s.chain.key[:]...)
	want = append(want, 0x2a, 0x21)
	want = append(want, s.signingPub.Bytes()...)
	if !bytes.Equal(skdm, want) {
		t.Fatalf("SKDM =\n%x\nwant\n%x", skdm, want)
	}

	msg := alice.send("hi")
	body := msg[:len(msg)-signatureLength]
	wantBody := append([]byte{0x33, 0x0a, 0x10}, testDistID[:]...)
	wantBody = append(wantBody, 0x10)
	wantBody = appendVarint(wantBody, uint64(s.chainID))
	wantBody = append(wantBody, 0x18, 0x00, 0x22, 0x10) // iteration 0, 16-byte ciphertext
	if !bytes.HasPrefix(body, wantBody) || len(body) != len(wantBody)+16 {
		t.Fatalf("SKM body =\n%x\nwant prefix\n%x", body, wantBody)
	}
	if !s.signingPub.VerifySignature(body, msg[len(body):]) {
		t.Fatal("signature does not cover version byte and protobuf")
	}
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// TestSenderKeyKDFVectors checks the chain against values computed by an
// independent implementation (testdata/senderkey_kdf.json: Python hmac and
// pyca/cryptography following libsignal's rules).
func TestSenderKeyKDFVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/senderkey_kdf.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Steps []struct {
			Iteration  uint32 `json:"iteration"`
			ChainKey   string `json:"chain_key"`
			Seed       string `json:"message_seed"`
			IV         string `json:"iv"`
			CipherKey  string `json:"cipher_key"`
			Plaintext  string `json:"plaintext"`
			Ciphertext string `json:"ciphertext"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var c senderChainKey
	copy(c.key[:], mustHex(t, v.Steps[0].ChainKey))
	for _, st := range v.Steps {
		if c.iteration != st.Iteration || hex.EncodeToString(c.key[:]) != st.ChainKey {
			t.Fatalf("iteration %d: chain key %x, want %s", st.Iteration, c.key, st.ChainKey)
		}
		mk := senderMessageKey{iteration: c.iteration, seed: c.messageSeed()}
		iv, key, err := mk.keys()
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(mk.seed[:]) != st.Seed || hex.EncodeToString(iv) != st.IV || hex.EncodeToString(key) != st.CipherKey {
			t.Fatalf("iteration %d: seed/iv/key %x %x %x", st.Iteration, mk.seed, iv, key)
		}
		ct, err := mk.encrypt(mustHex(t, st.Plaintext))
		if err != nil || hex.EncodeToString(ct) != st.Ciphertext {
			t.Fatalf("iteration %d: ciphertext %x, %v", st.Iteration, ct, err)
		}
		pt, err := mk.decrypt(ct)
		if err != nil || hex.EncodeToString(pt) != st.Plaintext {
			t.Fatalf("iteration %d: decrypt %x, %v", st.Iteration, pt, err)
		}
		if c, err = c.next(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseSenderKeyRecordErrors(t *testing.T) {
	alice := newMember(t, "alice", false)
	alice.skdm()
	rec, _ := alice.store.LoadSenderKey(context.Background(), alice.addr, testDistID)
	good, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSenderKeyRecord(good)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := back.Marshal(); !bytes.Equal(again, good) {
		t.Fatal("Marshal(Parse(b)) != b")
	}
	tooMany := &SenderKeyRecord{}
	for range MaxSenderKeyStates + 1 {
		tooMany.states = append(tooMany.states, rec.states[0])
	}
	tooManyB, _ := tooMany.Marshal()
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrInvalidRecord},
		{"version 2", append([]byte{2}, good[1:]...), ErrUnsupportedVersion},
		{"garbage", []byte{1, 0xff, 0xff}, ErrInvalidRecord},
		{"truncated", good[:len(good)-5], ErrInvalidRecord},
		{"too many states", tooManyB, ErrInvalidRecord},
		{"oversized", make([]byte, maxSenderKeyRecordLen+1), ErrInvalidRecord},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSenderKeyRecord(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestProcessDistributionErrors(t *testing.T) {
	alice, bob := newMember(t, "alice", false), newMember(t, "bob", false)
	skdm := alice.skdm()
	badKey := bytes.Clone(skdm)
	badKey[len(badKey)-33] = 0x06 // signing key type byte
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrInvalidMessage},
		{"truncated", skdm[:len(skdm)-1], ErrInvalidMessage},
		{"version 4", append([]byte{0x44}, skdm[1:]...), ErrUnsupportedVersion},
		{"bad signing key", badKey, ErrInvalidKey},
		{"oversized", make([]byte, maxSKDMLen+1), ErrInvalidMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ProcessSenderKeyDistributionMessage(context.Background(), bob.store, alice.addr, tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}
