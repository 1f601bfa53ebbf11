package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/flynn/noise"
)

func TestHandshakeTCP(t *testing.T) {
	devKey, nodeKey := newKey(t), newKey(t)
	nodePub := nodeKey.Public()
	tests := []struct {
		name      string
		serverKey *PublicKey
	}{
		{"XX first contact", nil},
		{"IK pinned", &nodePub},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := tcpPair(t)
			c, s, cerr, serr := handshake(t, cc, sc,
				ClientConfig{Key: devKey, ServerKey: tt.serverKey},
				ServerConfig{Key: nodeKey})
			if cerr != nil || serr != nil {
				t.Fatalf("handshake: client %v, server %v", cerr, serr)
			}
			if !c.ServerKey().Equal(nodePub) {
				t.Errorf("client sees server key %v, want %v", c.ServerKey(), nodePub)
			}
			if !s.RemoteKey().Equal(devKey.Public()) {
				t.Errorf("server sees device key %v, want %v", s.RemoteKey(), devKey.Public())
			}
			if err := c.CheckServerKey(nodePub); err != nil {
				t.Errorf("CheckServerKey(right pin) = %v", err)
			}
			exchange(t, c, s)
		})
	}
}

// exchange proves both directions carry frames.
func exchange(t *testing.T, c, s *Conn) {
	t.Helper()
	go func() { _ = c.WriteFrame([]byte("ping")) }()
	got, err := s.ReadFrame()
	if err != nil || string(got) != "ping" {
		t.Fatalf("server ReadFrame = %q, %v", got, err)
	}
	go func() { _ = s.WriteFrame([]byte("pong")) }()
	got, err = c.ReadFrame()
	if err != nil || string(got) != "pong" {
		t.Fatalf("client ReadFrame = %q, %v", got, err)
	}
}

func TestIKWrongPinnedKey(t *testing.T) {
	stale := newKey(t).Public() // the key the client pinned before the node's key changed
	cc, sc := tcpPair(t)
	_, _, cerr, serr := handshake(t, cc, sc,
		ClientConfig{Key: newKey(t), ServerKey: &stale},
		ServerConfig{Key: newKey(t)})
	if !errors.Is(cerr, ErrServerKeyChanged) {
		t.Fatalf("client error = %v, want ErrServerKeyChanged", cerr)
	}
	var kc *KeyChangedError
	if !errors.As(cerr, &kc) || !kc.Pinned.Equal(stale) {
		t.Fatalf("client error %v does not carry the pinned key", cerr)
	}
	if !errors.Is(serr, ErrHandshake) {
		t.Fatalf("server error = %v, want ErrHandshake", serr)
	}
}

func TestXXCheckServerKeyChanged(t *testing.T) {
	pinned := newKey(t).Public()
	nodeKey := newKey(t)
	cc, sc := tcpPair(t)
	c, _, cerr, serr := handshake(t, cc, sc, ClientConfig{Key: newKey(t)}, ServerConfig{Key: nodeKey})
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: %v, %v", cerr, serr)
	}
	err := c.CheckServerKey(pinned)
	var kc *KeyChangedError
	if !errors.Is(err, ErrServerKeyChanged) || !errors.As(err, &kc) {
		t.Fatalf("CheckServerKey(other pin) = %v, want KeyChangedError", err)
	}
	if !kc.Presented.Equal(nodeKey.Public()) || !kc.Pinned.Equal(pinned) {
		t.Errorf("KeyChangedError = %+v", kc)
	}
}

func TestServerRejectsBadFirstRecord(t *testing.T) {
	tests := []struct {
		name   string
		record []byte // raw bytes the client sends
		reply  []byte // what the server must answer before closing (nil: nothing)
	}{
		{"unknown pattern", []byte{0, 0, 1, 0x07}, []byte{0, 0, 1, rejectUnsupported}},
		{"empty record", []byte{0, 0, 0}, nil},
		{"oversized record", []byte{0xff, 0xff, 0xff}, nil},
		{"short XX message", append([]byte{0, 0, 5, PatternXX}, 1, 2, 3, 4), nil},
		{"XX with payload", append([]byte{0, 0, 34, PatternXX}, make([]byte, 33)...), nil},
		{"garbage IK message", append([]byte{0, 0, 97, PatternIK}, bytes.Repeat([]byte{9}, 96)...), []byte{0, 0, 1, rejectIKDecrypt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, sc := tcpPair(t)
			errc := make(chan error, 1)
			go func() {
				_, err := Server(context.Background(), sc, ServerConfig{Key: newKey(t), HandshakeTimeout: 5 * time.Second})
				errc <- err
			}()
			if _, err := cc.Write(tt.record); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; !errors.Is(err, ErrHandshake) {
				t.Fatalf("Server error = %v, want ErrHandshake", err)
			}
			cc.SetReadDeadline(time.Now().Add(5 * time.Second))
			var got bytes.Buffer
			_, _ = got.ReadFrom(cc) // until the server closes
			if !bytes.Equal(got.Bytes(), tt.reply) {
				t.Errorf("server replied %x, want %x", got.Bytes(), tt.reply)
			}
		})
	}
}

func TestServerHandshakeTimeout(t *testing.T) {
	cc, sc := tcpPair(t)
	_ = cc // the client says nothing
	start := time.Now()
	_, err := Server(context.Background(), sc, ServerConfig{Key: newKey(t), HandshakeTimeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrHandshake) || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Server error = %v, want ErrHandshake wrapping os.ErrDeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
	// The server closed the carrier.
	cc.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := cc.Read(make([]byte, 1)); err == nil {
		t.Error("carrier still open after handshake timeout")
	}
}

func TestServerSlowClientTimeout(t *testing.T) {
	// A client that sends half a first record and stalls is stopped too.
	cc, sc := tcpPair(t)
	if _, err := cc.Write([]byte{0, 0, 33, PatternXX, 1, 2}); err != nil {
		t.Fatal(err)
	}
	_, err := Server(context.Background(), sc, ServerConfig{Key: newKey(t), HandshakeTimeout: 200 * time.Millisecond})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Server error = %v, want deadline exceeded", err)
	}
}

func TestClientContextCancel(t *testing.T) {
	cc, sc := tcpPair(t)
	_ = sc // the server never answers
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := Client(ctx, cc, ClientConfig{Key: newKey(t)})
	if !errors.Is(err, ErrHandshake) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Client error = %v, want ErrHandshake and context.Canceled", err)
	}
}

func TestHandshakeClearsDeadline(t *testing.T) {
	cc, sc := tcpPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	ch := make(chan hsResult, 1)
	go func() {
		c, err := Server(ctx, sc, ServerConfig{Key: newKey(t), HandshakeTimeout: 300 * time.Millisecond})
		ch <- hsResult{c, err}
	}()
	c, err := Client(ctx, cc, ClientConfig{Key: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	time.Sleep(400 * time.Millisecond) // past both handshake deadlines
	exchange(t, c, r.c)
}

func TestUnsetKeys(t *testing.T) {
	a, b := net.Pipe()
	if _, err := Client(context.Background(), a, ClientConfig{}); !errors.Is(err, ErrHandshake) {
		t.Errorf("Client without key: %v", err)
	}
	if _, err := Server(context.Background(), b, ServerConfig{}); !errors.Is(err, ErrHandshake) {
		t.Errorf("Server without key: %v", err)
	}
}

// An impostor that answers IK message 1 with a made-up message 2 (instead
// of a rejection) is reported as a changed key too.
func TestIKForgedMessage2(t *testing.T) {
	pinned := newKey(t).Public()
	cc, sc := tcpPair(t)
	go func() {
		if _, err := readRecord(sc, maxHandshakeRecord); err != nil {
			return
		}
		_ = writeRecord(sc, bytes.Repeat([]byte{0x42}, 48))
	}()
	_, err := Client(context.Background(), cc, ClientConfig{Key: newKey(t), ServerKey: &pinned})
	if !errors.Is(err, ErrServerKeyChanged) {
		t.Fatalf("Client = %v, want ErrServerKeyChanged", err)
	}
}

// TestDH25519MatchesNoise: our DH is the Noise 25519 function byte for
// byte — the RFC 7748 vector, flynn/noise's own DH on random keys, the same
// ephemeral key from the same random bytes — and refuses a low-order point.
func TestDH25519MatchesNoise(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// RFC 7748 §6.1.
	alicePriv := unhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
	alicePub := unhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
	bobPub := unhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
	shared := unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")

	kp, err := dh25519{}.GenerateKeypair(bytes.NewReader(alicePriv))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kp.Private, alicePriv) || !bytes.Equal(kp.Public, alicePub) {
		t.Fatalf("keygen from the RFC 7748 private key: public %x, want %x", kp.Public, alicePub)
	}
	got, err := dh25519{}.DH(alicePriv, bobPub)
	if err != nil || !bytes.Equal(got, shared) {
		t.Fatalf("RFC 7748 shared secret: %x, %v; want %x", got, err, shared)
	}

	for i := range 50 {
		seed := make([]byte, 64)
		if _, err := rand.Read(seed); err != nil {
			t.Fatal(err)
		}
		ours, err := dh25519{}.GenerateKeypair(bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := noise.DH25519.GenerateKeypair(bytes.NewReader(seed))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours.Private, theirs.Private) || !bytes.Equal(ours.Public, theirs.Public) {
			t.Fatalf("key %d: ours %x/%x, noise %x/%x", i, ours.Private, ours.Public, theirs.Private, theirs.Public)
		}
		peer, err := noise.DH25519.GenerateKeypair(bytes.NewReader(seed[32:]))
		if err != nil {
			t.Fatal(err)
		}
		a, errA := dh25519{}.DH(ours.Private, peer.Public)
		b, errB := noise.DH25519.DH(ours.Private, peer.Public)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Fatalf("DH %d: ours %x (%v), noise %x (%v)", i, a, errA, b, errB)
		}
	}

	// A low-order point (here the identity, u = 0) gives the all-zero
	// secret, which must be refused as crypto/ecdh refuses it.
	if _, err := (dh25519{}).DH(alicePriv, make([]byte, 32)); err == nil {
		t.Fatal("DH with a low-order public key succeeded")
	}
	if _, err := (dh25519{}).DH(alicePriv, bobPub[:31]); err == nil {
		t.Fatal("DH with a 31-byte public key succeeded")
	}
}
