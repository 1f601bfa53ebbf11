package transport

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"github.com/flynn/noise"
)

// Pattern bytes open the client's first record and are mixed into the
// prologue, so the server knows which Noise pattern to answer and a changed
// byte breaks the handshake.
const (
	PatternXX byte = 0x01 // first contact: learn the server key
	PatternIK byte = 0x02 // the client already pinned the server key
)

// Rejection codes: a 1-byte server record instead of a Noise message (a
// Noise message is never shorter than 32 bytes, so the two cannot be
// confused).
const (
	rejectIKDecrypt   byte = 0x01 // IK message 1 did not decrypt: the pinned key is not ours
	rejectUnsupported byte = 0x02 // unknown pattern byte
)

// prologueBase binds the protocol name and version into every handshake.
const prologueBase = "parley/1"

// maxHandshakeRecord bounds a handshake record. The largest legitimate one
// is 97 bytes (pattern byte + IK message 1); handshake payloads are always
// empty.
const maxHandshakeRecord = 256

// DefaultHandshakeTimeout is ServerConfig.HandshakeTimeout's default.
const DefaultHandshakeTimeout = 10 * time.Second

var suite = noise.NewCipherSuite(dh25519{}, lazyAESGCM{}, noise.HashSHA256)

// lazyAESGCM is Noise's AESGCM cipher (noise.CipherAESGCM; interop_test.go
// runs handshakes against flynn/noise's own) with the key expanded on first
// use. An IK responder derives six keys and uses three (ee's key is
// replaced by se's before anything is sealed, and newConn takes the split
// keys raw), so this halves the AES and GHASH setup and its ≈4 KiB of
// garbage per handshake.
type lazyAESGCM struct{}

func (lazyAESGCM) Cipher(k [32]byte) noise.Cipher { return &lazyCipher{key: k} }
func (lazyAESGCM) CipherName() string             { return "AESGCM" }

type lazyCipher struct {
	key  [32]byte
	aead cipher.AEAD
}

func (c *lazyCipher) get() cipher.AEAD {
	if c.aead == nil {
		block, err := aes.NewCipher(c.key[:])
		if err != nil {
			panic(err) // a 32-byte key is always valid
		}
		if c.aead, err = cipher.NewGCM(block); err != nil {
			panic(err)
		}
	}
	return c.aead
}

// noiseNonce is Noise's AESGCM nonce: 32 zero bits, then n big-endian.
func noiseNonce(n uint64) []byte {
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[4:], n)
	return nonce[:]
}

func (c *lazyCipher) Encrypt(out []byte, n uint64, ad, plaintext []byte) []byte {
	return c.get().Seal(out, noiseNonce(n), plaintext, ad)
}

func (c *lazyCipher) Decrypt(out []byte, n uint64, ad, ciphertext []byte) ([]byte, error) {
	return c.get().Open(out, noiseNonce(n), ciphertext, ad)
}

// dh25519 is Noise's 25519 DH function (the same bytes on the wire as
// noise.DH25519, checked by TestDH25519MatchesNoise) at half its CPU.
// noise.DH25519 goes through x/crypto's curve25519.X25519, which builds a
// crypto/ecdh private key per call, and ecdh.NewPrivateKey derives the
// public key: every DH costs two variable-base scalar multiplications
// (≈150 µs here, BenchmarkX25519) where one is needed. A handshake does five
// (IK responder: es, ss, ee, se and the ephemeral key), so this was half of
// the node's CPU per connection. Here DH is one Montgomery ladder and key
// generation one fixed-base multiplication on the Edwards form with
// precomputed tables (≈5× cheaper than a ladder).
type dh25519 struct{}

func (dh25519) GenerateKeypair(rng io.Reader) (noise.DHKey, error) {
	if rng == nil {
		rng = rand.Reader
	}
	priv := make([]byte, 32)
	if _, err := io.ReadFull(rng, priv); err != nil {
		return noise.DHKey{}, err
	}
	s, err := edwards25519.NewScalar().SetBytesWithClamping(priv)
	if err != nil {
		return noise.DHKey{}, err
	}
	// X25519(k, 9) is the Montgomery u-coordinate of [clamp(k)]B.
	pub := new(edwards25519.Point).ScalarBaseMult(s).BytesMontgomery()
	return noise.DHKey{Private: priv, Public: pub}, nil
}

func (dh25519) DH(priv, pub []byte) ([]byte, error) {
	if len(priv) != 32 || len(pub) != 32 {
		return nil, errors.New("x25519: key is not 32 bytes")
	}
	out := make([]byte, 32)
	x25519Ladder(out, priv, pub)
	// An all-zero result means the peer sent a low-order point (RFC 7748
	// §6.1); crypto/ecdh refuses it too.
	if subtle.ConstantTimeCompare(out, make([]byte, 32)) == 1 {
		return nil, errors.New("x25519: low-order public key")
	}
	return out, nil
}

func (dh25519) DHLen() int     { return 32 }
func (dh25519) DHName() string { return "25519" }

// x25519Ladder is RFC 7748's X25519 as the Go standard library computes it
// (crypto/ecdh, BSD licence), on filippo.io/edwards25519's field, which is
// the same code with the same amd64 assembly.
func x25519Ladder(dst, scalar, point []byte) {
	var e [32]byte
	copy(e[:], scalar)
	e[0] &= 248
	e[31] &= 127
	e[31] |= 64

	var x1, x2, z2, x3, z3, tmp0, tmp1 field.Element
	_, _ = x1.SetBytes(point) // cannot fail: len(point) == 32
	x2.One()
	x3.Set(&x1)
	z3.One()

	swap := 0
	for pos := 254; pos >= 0; pos-- {
		b := int(e[pos/8]>>uint(pos&7)) & 1
		swap ^= b
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = b

		tmp0.Subtract(&x3, &z3)
		tmp1.Subtract(&x2, &z2)
		x2.Add(&x2, &z2)
		z2.Add(&x3, &z3)
		z3.Multiply(&tmp0, &x2)
		z2.Multiply(&z2, &tmp1)
		tmp0.Square(&tmp1)
		tmp1.Square(&x2)
		x3.Add(&z3, &z2)
		z2.Subtract(&z3, &z2)
		x2.Multiply(&tmp1, &tmp0)
		tmp1.Subtract(&tmp1, &tmp0)
		z2.Square(&z2)

		z3.Mult32(&tmp1, 121666)
		x3.Square(&x3)
		tmp0.Add(&tmp0, &z3)
		z3.Multiply(&x1, &z2)
		z2.Multiply(&tmp1, &tmp0)
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)

	z2.Invert(&z2)
	x2.Multiply(&x2, &z2)
	copy(dst, x2.Bytes())
}

func prologue(pattern byte) []byte { return append([]byte(prologueBase), pattern) }

// ClientConfig configures Client.
type ClientConfig struct {
	// Key is the device's static key: the node authenticates the device by it.
	Key StaticKey
	// ServerKey is the pinned node key. Nil: XX, and the caller pins
	// Conn.ServerKey() (see CheckServerKey). Set: IK; a node that cannot
	// prove this key makes Client fail with ErrServerKeyChanged — there is
	// never a silent fallback to XX.
	ServerKey *PublicKey
	// Rand supplies the ephemeral key; nil means crypto/rand. Tests set it
	// to get reproducible transcripts.
	Rand io.Reader
}

// ServerConfig configures Server.
type ServerConfig struct {
	// Key is the node's static key.
	Key StaticKey
	// HandshakeTimeout bounds the whole handshake so a slow or silent
	// client cannot hold a connection; zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// Rand supplies the ephemeral key; nil means crypto/rand.
	Rand io.Reader
}

// Client runs the initiator side of the handshake on nc. ctx bounds the
// handshake only; the returned Conn is independent of it. On error nc is
// closed.
func Client(ctx context.Context, nc net.Conn, cfg ClientConfig) (*Conn, error) {
	if cfg.Key.IsZero() {
		nc.Close()
		return nil, fmt.Errorf("%w: client static key is unset", ErrHandshake)
	}
	pattern := PatternXX
	if cfg.ServerKey != nil {
		pattern = PatternIK
	}
	c, err := withDeadline(ctx, nc, 0, func() (*Conn, error) { return clientHandshake(nc, pattern, cfg) })
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func clientHandshake(nc net.Conn, pattern byte, cfg ClientConfig) (*Conn, error) {
	hc := noise.Config{
		CipherSuite:   suite,
		Random:        cfg.Rand,
		Pattern:       noise.HandshakeXX,
		Initiator:     true,
		Prologue:      prologue(pattern),
		StaticKeypair: cfg.Key.dhKey(),
	}
	if pattern == PatternIK {
		hc.Pattern = noise.HandshakeIK
		hc.PeerStatic = cfg.ServerKey[:]
	}
	hs, err := noise.NewHandshakeState(hc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	msg1, _, _, err := hs.WriteMessage([]byte{pattern}, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: write message 1: %w", ErrHandshake, err)
	}
	if err := writeRecord(nc, msg1); err != nil {
		return nil, fmt.Errorf("%w: send message 1: %w", ErrHandshake, err)
	}
	msg2, err := readRecord(nc, maxHandshakeRecord)
	if err != nil {
		return nil, fmt.Errorf("%w: receive message 2: %w", ErrHandshake, err)
	}
	if len(msg2) == 1 {
		if msg2[0] == rejectIKDecrypt && pattern == PatternIK {
			return nil, &KeyChangedError{Pinned: *cfg.ServerKey}
		}
		return nil, fmt.Errorf("%w: server refused the handshake (code %d)", ErrHandshake, msg2[0])
	}
	payload, cs1, cs2, err := hs.ReadMessage(nil, msg2)
	if err != nil {
		if pattern == PatternIK {
			// Only the holder of the pinned key can produce a valid IK
			// message 2; anything else is the same refusal as a rejection.
			return nil, &KeyChangedError{Pinned: *cfg.ServerKey}
		}
		return nil, fmt.Errorf("%w: read message 2: %w", ErrHandshake, err)
	}
	if len(payload) != 0 {
		return nil, fmt.Errorf("%w: unexpected payload in message 2", ErrHandshake)
	}
	var server PublicKey
	copy(server[:], hs.PeerStatic())
	if pattern == PatternXX {
		var msg3 []byte
		msg3, cs1, cs2, err = hs.WriteMessage(nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%w: write message 3: %w", ErrHandshake, err)
		}
		if err := writeRecord(nc, msg3); err != nil {
			return nil, fmt.Errorf("%w: send message 3: %w", ErrHandshake, err)
		}
	}
	if cs1 == nil || cs2 == nil {
		return nil, fmt.Errorf("%w: handshake did not complete", ErrHandshake)
	}
	// flynn/noise: cs1 carries initiator→responder, cs2 the reverse.
	return newConn(nc, server, cs1, cs2), nil
}

// Server runs the responder side of the handshake on nc, accepting XX or IK
// as the client's pattern byte says. The handshake is bounded by ctx and by
// cfg.HandshakeTimeout, whichever ends first. On error nc is closed.
func Server(ctx context.Context, nc net.Conn, cfg ServerConfig) (*Conn, error) {
	if cfg.Key.IsZero() {
		nc.Close()
		return nil, fmt.Errorf("%w: server static key is unset", ErrHandshake)
	}
	timeout := cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	c, err := withDeadline(ctx, nc, timeout, func() (*Conn, error) { return serverHandshake(nc, cfg) })
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func serverHandshake(nc net.Conn, cfg ServerConfig) (*Conn, error) {
	msg1, err := readRecord(nc, maxHandshakeRecord)
	if err != nil {
		return nil, fmt.Errorf("%w: receive message 1: %w", ErrHandshake, err)
	}
	if len(msg1) == 0 {
		return nil, fmt.Errorf("%w: empty first record", ErrHandshake)
	}
	pattern := msg1[0]
	hc := noise.Config{
		CipherSuite:   suite,
		Random:        cfg.Rand,
		Initiator:     false,
		Prologue:      prologue(pattern),
		StaticKeypair: cfg.Key.dhKey(),
	}
	switch pattern {
	case PatternXX:
		hc.Pattern = noise.HandshakeXX
	case PatternIK:
		hc.Pattern = noise.HandshakeIK
	default:
		_ = writeRecord(nc, []byte{rejectUnsupported})
		return nil, fmt.Errorf("%w: unsupported pattern byte 0x%02x", ErrHandshake, pattern)
	}
	hs, err := noise.NewHandshakeState(hc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	payload, _, _, err := hs.ReadMessage(nil, msg1[1:])
	if err != nil {
		if pattern == PatternIK {
			// Tell the client plainly so it reports a changed key instead of
			// a bare connection reset. This reveals nothing: an attacker
			// could as well drop the connection.
			_ = writeRecord(nc, []byte{rejectIKDecrypt})
		}
		return nil, fmt.Errorf("%w: read message 1: %w", ErrHandshake, err)
	}
	if len(payload) != 0 {
		return nil, fmt.Errorf("%w: unexpected payload in message 1", ErrHandshake)
	}
	msg2, cs1, cs2, err := hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: write message 2: %w", ErrHandshake, err)
	}
	if err := writeRecord(nc, msg2); err != nil {
		return nil, fmt.Errorf("%w: send message 2: %w", ErrHandshake, err)
	}
	if pattern == PatternXX {
		msg3, err := readRecord(nc, maxHandshakeRecord)
		if err != nil {
			return nil, fmt.Errorf("%w: receive message 3: %w", ErrHandshake, err)
		}
		payload, cs1, cs2, err = hs.ReadMessage(nil, msg3)
		if err != nil {
			return nil, fmt.Errorf("%w: read message 3: %w", ErrHandshake, err)
		}
		if len(payload) != 0 {
			return nil, fmt.Errorf("%w: unexpected payload in message 3", ErrHandshake)
		}
	}
	if cs1 == nil || cs2 == nil {
		return nil, fmt.Errorf("%w: handshake did not complete", ErrHandshake)
	}
	var device PublicKey
	copy(device[:], hs.PeerStatic())
	return newConn(nc, device, cs2, cs1), nil
}

// withDeadline runs fn with nc's deadline set from ctx and timeout, and
// interrupts it when ctx is cancelled. The deadline is cleared afterwards so
// the Conn starts without one.
func withDeadline(ctx context.Context, nc net.Conn, timeout time.Duration, fn func() (*Conn, error)) (*Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	if err := nc.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("%w: set deadline: %w", ErrHandshake, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	c, err := fn()
	if !stop() {
		// ctx ended during the handshake; its deadline may have landed
		// after ours, so the connection cannot be trusted to be clean.
		if err == nil {
			err = fmt.Errorf("%w: %w", ErrHandshake, context.Cause(ctx))
		} else if !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	// This fails only when the carrier is already closed (the peer may
	// close right after its last handshake message); the next read or
	// write reports that, so the completed handshake still stands.
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

func (k StaticKey) dhKey() noise.DHKey {
	return noise.DHKey{Private: append([]byte(nil), k.priv[:]...), Public: append([]byte(nil), k.pub[:]...)}
}

// writeRecord sends one length-prefixed record in a single Write, so a
// record is one WebSocket message.
func writeRecord(w io.Writer, body []byte) error {
	buf := make([]byte, headerSize+len(body))
	putHeader(buf, len(body))
	copy(buf[headerSize:], body)
	_, err := w.Write(buf)
	return err
}

// readRecord reads one handshake record of at most max bytes; the length is
// checked before the body is allocated.
func readRecord(r io.Reader, max int) ([]byte, error) {
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := getHeader(hdr[:])
	if n > max {
		return nil, fmt.Errorf("record of %d bytes exceeds %d", n, max)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
