package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"testing"
)

func TestSessionBothWays(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		opk, kem   bool
		lastResort bool
		cfg        Config
		wantType   byte // version byte on the wire
	}{
		{"PQXDH with one-time prekey", true, true, false, Config{}, 0x44},
		{"PQXDH without one-time prekey", false, true, false, Config{}, 0x44},
		{"PQXDH with last-resort KEM key", true, true, true, Config{}, 0x44},
		{"X3DH with one-time prekey", true, false, false, Config{AllowNoKEM: true}, 0x34},
		{"X3DH without one-time prekey", false, false, false, Config{AllowNoKEM: true}, 0x34},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alice, bob := newParty(t, "alice"), newParty(t, "bob")
			b := bob.bundle(tc.opk, tc.kem, tc.lastResort)
			must(t, ProcessPreKeyBundle(ctx, tc.cfg, alice.store.Stores(), bob.addr, b))
			if ok, _ := HasSession(ctx, alice.store.Stores(), bob.addr); !ok {
				t.Fatal("alice has no session after processing the bundle")
			}
			// Alice keeps sending prekey messages until Bob answers.
			for i := range 3 {
				ct := alice.encrypt(t, tc.cfg, bob, fmt.Sprint("a", i))
				if ct.Type != PreKeyMessage || ct.Body[0] != tc.wantType {
					t.Fatalf("message %d: type %v version 0x%02x", i, ct.Type, ct.Body[0])
				}
				bob.decrypt(t, tc.cfg, alice, ct, fmt.Sprint("a", i))
			}
			for i := range 3 {
				ct := bob.encrypt(t, tc.cfg, alice, fmt.Sprint("b", i))
				if ct.Type != WhisperMessage || ct.Body[0] != tc.wantType {
					t.Fatalf("reply %d: type %v version 0x%02x", i, ct.Type, ct.Body[0])
				}
				alice.decrypt(t, tc.cfg, bob, ct, fmt.Sprint("b", i))
			}
			ct := alice.encrypt(t, tc.cfg, bob, "after reply")
			if ct.Type != WhisperMessage {
				t.Fatalf("after a reply alice still sends %v", ct.Type)
			}
			bob.decrypt(t, tc.cfg, alice, ct, "after reply")

			// Prekey consumption: one-time keys gone, last resort kept.
			if tc.opk {
				if _, err := bob.store.LoadPreKey(ctx, b.PreKeyID); err == nil {
					t.Error("one-time prekey still stored after use")
				}
			}
			if tc.kem {
				_, err := bob.store.LoadKEMPreKey(ctx, b.KEMPreKeyID)
				if tc.lastResort && err != nil {
					t.Errorf("last-resort KEM prekey removed: %v", err)
				}
				if !tc.lastResort && err == nil {
					t.Error("one-time KEM prekey still stored after use")
				}
			}
		})
	}
}

func TestKEMRequiredUnlessAllowed(t *testing.T) {
	ctx := context.Background()
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	err := ProcessPreKeyBundle(ctx, Config{}, alice.store.Stores(), bob.addr, bob.bundle(true, false, false))
	wantErr(t, err, ErrKEMRequired)

	// A KEM-less prekey message is refused by a receiver that requires KEM,
	// and nothing is consumed.
	must(t, ProcessPreKeyBundle(ctx, Config{AllowNoKEM: true}, alice.store.Stores(), bob.addr, bob.bundle(false, false, false)))
	ct := alice.encrypt(t, Config{}, bob, "x3dh")
	wantErr(t, bob.decryptErr(Config{}, alice, ct), ErrKEMRequired)
	if ok, _ := HasSession(ctx, bob.store.Stores(), alice.addr); ok {
		t.Fatal("refused prekey message created a session")
	}
	bob.decrypt(t, Config{AllowNoKEM: true}, alice, ct, "x3dh")
}

func TestBundleSignatures(t *testing.T) {
	ctx := context.Background()
	alice, bob, mallory := newParty(t, "alice"), newParty(t, "bob"), newParty(t, "mallory")
	for _, tc := range []struct {
		name   string
		mutate func(b *PreKeyBundle)
	}{
		{"signed prekey bit flip", func(b *PreKeyBundle) { b.SignedPreKeySignature = flip(b.SignedPreKeySignature, 5) }},
		{"signed prekey sign bit", func(b *PreKeyBundle) { b.SignedPreKeySignature = flip(b.SignedPreKeySignature, 63*8+7) }},
		{"KEM prekey bit flip", func(b *PreKeyBundle) { b.KEMPreKeySignature = flip(b.KEMPreKeySignature, 100) }},
		{"KEM prekey signed by another identity", func(b *PreKeyBundle) {
			pub := mallory.kem.KeyPair.Public()
			b.KEMPreKey, b.KEMPreKeySignature = &pub, mallory.kem.Signature
		}},
		{"signed prekey swapped", func(b *PreKeyBundle) { b.SignedPreKey = mallory.spk.KeyPair.Public }},
		{"truncated signature", func(b *PreKeyBundle) { b.SignedPreKeySignature = b.SignedPreKeySignature[:63] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bob.bundle(true, true, false)
			tc.mutate(&b)
			wantErr(t, ProcessPreKeyBundle(ctx, Config{}, alice.store.Stores(), bob.addr, b), ErrInvalidSignature)
		})
	}
}

func flip(b []byte, bit int) []byte {
	c := append([]byte(nil), b...)
	c[bit/8] ^= 1 << (bit % 8)
	return c
}

func TestOutOfOrderAndLost(t *testing.T) {
	cfg := Config{}
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	establish(t, cfg, alice, bob)
	rng := mrand.New(mrand.NewPCG(1, 2))
	// Several ratchet turns; in each, Alice sends a burst that Bob gets
	// shuffled with some lost, and late messages from earlier turns arrive
	// after the DH ratchet has moved on.
	var late []Ciphertext
	var lateWant []string
	for turn := range 4 {
		var cts []Ciphertext
		var want []string
		for i := range 40 {
			s := fmt.Sprintf("t%d m%d", turn, i)
			cts = append(cts, alice.encrypt(t, cfg, bob, s))
			want = append(want, s)
		}
		perm := rng.Perm(len(cts))
		for _, j := range perm {
			switch {
			case j%7 == 3: // lost for good
			case j%5 == 1: // arrives after the next turn
				late, lateWant = append(late, cts[j]), append(lateWant, want[j])
			default:
				bob.decrypt(t, cfg, alice, cts[j], want[j])
			}
		}
		bob.decrypt(t, cfg, alice, alice.encrypt(t, cfg, bob, "sync"), "sync")
		alice.decrypt(t, cfg, bob, bob.encrypt(t, cfg, alice, "turn"), "turn")
		if turn > 0 {
			for i := range late[:len(late)/2] {
				bob.decrypt(t, cfg, alice, late[i], lateWant[i])
			}
			late, lateWant = late[len(late)/2:], lateWant[len(lateWant)/2:]
		}
	}
	// The rest arrive at the very end, from chains several ratchet steps
	// old (Bob keeps the five newest receiving chains, as libsignal does).
	for i := range late {
		bob.decrypt(t, cfg, alice, late[i], lateWant[i])
	}
}

func TestMaxSkip(t *testing.T) {
	for _, tc := range []struct {
		maxSkip, skip int
		ok            bool
	}{
		{10, 10, true},
		{10, 11, false},
		{0, DefaultMaxSkip, true},
		{0, DefaultMaxSkip + 1, false},
	} {
		t.Run(fmt.Sprintf("max%d/skip%d", tc.maxSkip, tc.skip), func(t *testing.T) {
			cfg := Config{MaxSkip: tc.maxSkip}
			alice, bob := newParty(t, "alice"), newParty(t, "bob")
			establish(t, cfg, alice, bob)
			var cts []Ciphertext
			for i := 0; i <= tc.skip; i++ {
				cts = append(cts, alice.encrypt(t, cfg, bob, fmt.Sprint(i)))
			}
			last := cts[tc.skip]
			err := bob.decryptErr(cfg, alice, last)
			if tc.ok {
				must(t, err)
				// Every skipped message is still decryptable, in any order.
				for i := tc.skip - 1; i >= 0; i -= 1 + tc.skip/50 {
					bob.decrypt(t, cfg, alice, cts[i], fmt.Sprint(i))
				}
				return
			}
			wantErr(t, err, ErrTooManySkipped)
			// The session is untouched: the first message still decrypts.
			bob.decrypt(t, cfg, alice, cts[0], "0")
		})
	}
}

func TestTooManySkippedOnNewChain(t *testing.T) {
	cfg := Config{MaxSkip: 5}
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	establish(t, cfg, alice, bob)
	bob.decrypt(t, cfg, alice, alice.encrypt(t, cfg, bob, "x"), "x")
	// Bob's next message opens a new chain; deliver its 7th message first.
	var cts []Ciphertext
	for i := range 7 {
		cts = append(cts, bob.encrypt(t, cfg, alice, fmt.Sprint(i)))
	}
	wantErr(t, alice.decryptErr(cfg, bob, cts[6]), ErrTooManySkipped)
	alice.decrypt(t, cfg, bob, cts[5], "5")
}

func TestReplay(t *testing.T) {
	cfg := Config{}
	ctx := context.Background()
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	must(t, ProcessPreKeyBundle(ctx, cfg, alice.store.Stores(), bob.addr, bob.bundle(true, true, false)))
	pre := alice.encrypt(t, cfg, bob, "first")
	bob.decrypt(t, cfg, alice, pre, "first")
	wantErr(t, bob.decryptErr(cfg, alice, pre), ErrDuplicateMessage)

	alice.decrypt(t, cfg, bob, bob.encrypt(t, cfg, alice, "r"), "r")
	m1 := alice.encrypt(t, cfg, bob, "m1")
	m2 := alice.encrypt(t, cfg, bob, "m2")
	bob.decrypt(t, cfg, alice, m2, "m2")
	wantErr(t, bob.decryptErr(cfg, alice, m2), ErrDuplicateMessage)
	bob.decrypt(t, cfg, alice, m1, "m1") // skipped key used once
	wantErr(t, bob.decryptErr(cfg, alice, m1), ErrDuplicateMessage)
}

func TestTamperedMessagesFailCleanly(t *testing.T) {
	cfg := Config{}
	alice, bob, carol := newParty(t, "alice"), newParty(t, "bob"), newParty(t, "carol")
	establish(t, cfg, alice, bob)
	ctx := context.Background()
	must(t, ProcessPreKeyBundle(ctx, cfg, carol.store.Stores(), bob.addr, bob.bundle(true, true, false)))

	msg := alice.encrypt(t, cfg, bob, "the real one")
	for bit := range len(msg.Body) * 8 {
		bad := Ciphertext{Type: msg.Type, Body: flip(msg.Body, bit)}
		if err := bob.decryptErr(cfg, alice, bad); err == nil {
			t.Fatalf("bit %d flipped: decrypted", bit)
		} else if !isAny(err, ErrInvalidMessage, ErrUnsupportedVersion, ErrDuplicateMessage, ErrTooManySkipped) {
			t.Fatalf("bit %d flipped: unexpected error %v", bit, err)
		}
	}
	for n := range len(msg.Body) {
		if err := bob.decryptErr(cfg, alice, Ciphertext{Type: msg.Type, Body: msg.Body[:n]}); err == nil {
			t.Fatalf("truncated to %d bytes: decrypted", n)
		}
	}
	extended := append(append([]byte(nil), msg.Body...), 0)
	if err := bob.decryptErr(cfg, alice, Ciphertext{Type: msg.Type, Body: extended}); err == nil {
		t.Fatal("extended message decrypted")
	}
	if err := bob.decryptErr(cfg, alice, Ciphertext{Type: PreKeyMessage, Body: msg.Body}); err == nil {
		t.Fatal("whisper message accepted as prekey message")
	}
	// Wrong key: Carol's message presented as coming from Alice.
	fromCarol := carol.encrypt(t, cfg, bob, "not alice")
	inner, err := parsePreKeySignalMessage(fromCarol.Body)
	must(t, err)
	err = bob.decryptErr(cfg, alice, Ciphertext{Type: WhisperMessage, Body: inner.message.serialized})
	wantErr(t, err, ErrInvalidMessage)
	// None of that touched the session.
	bob.decrypt(t, cfg, alice, msg, "the real one")
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errorsIs(err, t) {
			return true
		}
	}
	return false
}

func TestForwardSecrecy(t *testing.T) {
	cfg := Config{}
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	establish(t, cfg, alice, bob)
	var past []Ciphertext
	for i := range 5 {
		ct := alice.encrypt(t, cfg, bob, fmt.Sprint(i))
		bob.decrypt(t, cfg, alice, ct, fmt.Sprint(i))
		past = append(past, ct)
		alice.decrypt(t, cfg, bob, bob.encrypt(t, cfg, alice, "ack"), "ack")
	}
	// Also one from the current chain.
	ct := alice.encrypt(t, cfg, bob, "latest")
	bob.decrypt(t, cfg, alice, ct, "latest")
	past = append(past, ct)

	stolen := bob.clone(t, alice, bob.snapshot(t, alice))
	for i, ct := range past {
		if _, err := Decrypt(context.Background(), cfg, stolen.store.Stores(), alice.addr, ct); err == nil {
			t.Fatalf("stolen state decrypted earlier message %d", i)
		}
	}
}

func TestPostCompromiseRecovery(t *testing.T) {
	cfg := Config{}
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	establish(t, cfg, alice, bob)
	stolen := bob.clone(t, alice, bob.snapshot(t, alice))

	// Before any DH ratchet step the thief reads along (this is the
	// compromise the test recovers from).
	ct := alice.encrypt(t, cfg, bob, "still exposed")
	bob.decrypt(t, cfg, alice, ct, "still exposed")
	stolen.decrypt(t, cfg, alice, ct, "still exposed")

	// Bob answers with a fresh ratchet key; Alice ratchets on receipt.
	alice.decrypt(t, cfg, bob, bob.encrypt(t, cfg, alice, "new key"), "new key")
	for i := range 3 {
		ct := alice.encrypt(t, cfg, bob, fmt.Sprint("secret ", i))
		if _, err := Decrypt(context.Background(), cfg, stolen.store.Stores(), alice.addr, ct); err == nil {
			t.Fatal("stolen state decrypted a message after the DH ratchet step")
		}
		bob.decrypt(t, cfg, alice, ct, fmt.Sprint("secret ", i))
	}
}

func TestSessionRecordRoundTripAndRestart(t *testing.T) {
	cfg := Config{}
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	establish(t, cfg, alice, bob)
	// Leave skipped keys and several chains in the record.
	var held []Ciphertext
	for turn := range 3 {
		for i := range 4 {
			ct := alice.encrypt(t, cfg, bob, fmt.Sprint(turn, i))
			if i%2 == 0 {
				held = append(held, ct)
			} else {
				bob.decrypt(t, cfg, alice, ct, fmt.Sprint(turn, i))
			}
		}
		alice.decrypt(t, cfg, bob, bob.encrypt(t, cfg, alice, "r"), "r")
	}
	b1 := bob.snapshot(t, alice)
	rec, err := ParseSessionRecord(b1)
	must(t, err)
	b2, err := rec.Marshal()
	must(t, err)
	if string(b1) != string(b2) {
		t.Fatal("Marshal(Parse(b)) != b")
	}
	restarted := bob.clone(t, alice, b2)
	for i, ct := range held {
		restarted.decrypt(t, cfg, alice, ct, fmt.Sprint(i/2, (i%2)*2))
	}
	restarted.decrypt(t, cfg, alice, alice.encrypt(t, cfg, bob, "after restart"), "after restart")
	alice.decrypt(t, cfg, restarted, restarted.encrypt(t, cfg, alice, "back"), "back")
}

func TestSimultaneousInitiation(t *testing.T) {
	cfg := Config{}
	ctx := context.Background()
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	must(t, ProcessPreKeyBundle(ctx, cfg, alice.store.Stores(), bob.addr, bob.bundle(true, true, false)))
	must(t, ProcessPreKeyBundle(ctx, cfg, bob.store.Stores(), alice.addr, alice.bundle(true, true, false)))
	fromAlice := alice.encrypt(t, cfg, bob, "hi bob")
	fromBob := bob.encrypt(t, cfg, alice, "hi alice")
	bob.decrypt(t, cfg, alice, fromAlice, "hi bob")
	alice.decrypt(t, cfg, bob, fromBob, "hi alice")
	for i := range 4 {
		a := alice.encrypt(t, cfg, bob, fmt.Sprint("a", i))
		b := bob.encrypt(t, cfg, alice, fmt.Sprint("b", i))
		bob.decrypt(t, cfg, alice, a, fmt.Sprint("a", i))
		alice.decrypt(t, cfg, bob, b, fmt.Sprint("b", i))
	}
	// Crossing messages keep swapping which state is current on each side
	// (they still decrypt); one sequential round trip settles both on one.
	bob.decrypt(t, cfg, alice, alice.encrypt(t, cfg, bob, "ping"), "ping")
	alice.decrypt(t, cfg, bob, bob.encrypt(t, cfg, alice, "pong"), "pong")
	ra, _ := alice.store.LoadSession(ctx, bob.addr)
	rb, _ := bob.store.LoadSession(ctx, alice.addr)
	if string(ra.current.aliceBaseKey) != string(rb.current.aliceBaseKey) {
		t.Fatal("sessions did not converge")
	}
}

func TestUntrustedIdentity(t *testing.T) {
	cfg := Config{}
	ctx := context.Background()
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	establish(t, cfg, alice, bob)

	// Bob reinstalls: new identity, same address.
	bob2 := newParty(t, "bob")
	err := ProcessPreKeyBundle(ctx, cfg, alice.store.Stores(), bob.addr, bob2.bundle(true, true, false))
	wantErr(t, err, ErrUntrustedIdentity)
	// A message from the new identity is refused too.
	must(t, ProcessPreKeyBundle(ctx, cfg, bob2.store.Stores(), alice.addr, alice.bundle(true, true, false)))
	ct := bob2.encrypt(t, cfg, alice, "it's me, new phone")
	wantErr(t, alice.decryptErr(cfg, bob2, ct), ErrUntrustedIdentity)

	// After the user verifies and saves the new key, both work.
	replaced, err := alice.store.SaveIdentity(ctx, bob.addr, bob2.id.Public)
	must(t, err)
	if !replaced {
		t.Fatal("SaveIdentity did not report a replaced key")
	}
	alice.decrypt(t, cfg, bob2, ct, "it's me, new phone")
	must(t, ProcessPreKeyBundle(ctx, cfg, alice.store.Stores(), bob.addr, bob2.bundle(true, true, false)))
}

func TestNoSessionAndMissingPreKey(t *testing.T) {
	cfg := Config{}
	ctx := context.Background()
	alice, bob := newParty(t, "alice"), newParty(t, "bob")
	_, err := Encrypt(ctx, cfg, alice.store.Stores(), bob.addr, []byte("x"))
	wantErr(t, err, ErrNoSession)

	b := bob.bundle(true, true, false)
	must(t, ProcessPreKeyBundle(ctx, cfg, alice.store.Stores(), bob.addr, b))
	ct := alice.encrypt(t, cfg, bob, "x")
	must(t, bob.store.RemovePreKey(ctx, b.PreKeyID))
	wantErr(t, bob.decryptErr(cfg, alice, ct), ErrNoPreKey)

	carol := newParty(t, "carol")
	establish(t, cfg, alice, carol)
	w := alice.encrypt(t, cfg, carol, "w")
	wantErr(t, bob.decryptErr(cfg, alice, w), ErrNoSession)
}

func TestConcurrentAddresses(t *testing.T) {
	// Different remote addresses may be used concurrently on one store.
	cfg := Config{}
	alice := newParty(t, "alice")
	peers := []*party{newParty(t, "p1"), newParty(t, "p2"), newParty(t, "p3")}
	for _, p := range peers {
		establish(t, cfg, alice, p)
	}
	done := make(chan error)
	for _, p := range peers {
		go func() {
			for i := range 20 {
				ct, err := Encrypt(context.Background(), cfg, alice.store.Stores(), p.addr, []byte(fmt.Sprint(i)))
				if err != nil {
					done <- err
					return
				}
				if _, err := Decrypt(context.Background(), cfg, p.store.Stores(), alice.addr, ct); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range peers {
		must(t, <-done)
	}
	_ = rand.Reader
}
