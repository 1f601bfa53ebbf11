package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"

	"github.com/parley-im/parley/e2e/internal/signalpb"
	"google.golang.org/protobuf/proto"
)

// macLen is the truncated HMAC-SHA256 appended to every SignalMessage.
const macLen = 8

// versionByte is libsignal's first message byte: the message version in the
// high nibble, the current version in the low nibble.
func versionByte(v uint8) byte { return v<<4 | versionCurrent }

// checkVersion reads the message version from the first byte.
func checkVersion(b byte) (uint8, error) {
	v := b >> 4
	if v < versionPreKyber || v > versionCurrent {
		return 0, fmt.Errorf("message version %d: %w", v, ErrUnsupportedVersion)
	}
	return v, nil
}

// signalMessage is a parsed SignalMessage. serialized is the full wire form
// (version byte, protobuf, MAC) kept for the MAC check.
type signalMessage struct {
	version    uint8
	ratchetKey PublicKey
	counter    uint32
	prevCount  uint32
	ciphertext []byte
	serialized []byte
}

// encodeSignalMessage serialises and MACs a SignalMessage. The MAC input is
// sender identity ‖ receiver identity ‖ version byte ‖ protobuf, all keys in
// their 33-byte form, as libsignal computes it.
func encodeSignalMessage(version uint8, macKey *[32]byte, ratchetKey PublicKey, counter, prevCounter uint32,
	ciphertext []byte, sender, receiver PublicKey) ([]byte, error) {
	pb := &signalpb.SignalMessage{
		RatchetKey:      ratchetKey.Bytes(),
		Counter:         proto.Uint32(counter),
		PreviousCounter: proto.Uint32(prevCounter),
		Ciphertext:      ciphertext,
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encode signal message: %w", err)
	}
	out := make([]byte, 0, 1+len(body)+macLen)
	out = append(out, versionByte(version))
	out = append(out, body...)
	mac := messageMAC(macKey, sender, receiver, out)
	return append(out, mac[:macLen]...), nil
}

func messageMAC(macKey *[32]byte, sender, receiver PublicKey, msg []byte) []byte {
	m := hmac.New(sha256.New, macKey[:])
	m.Write(sender.Bytes())
	m.Write(receiver.Bytes())
	m.Write(msg)
	return m.Sum(nil)
}

// verifyMAC checks the trailing 8 bytes of m.serialized.
func (m *signalMessage) verifyMAC(macKey *[32]byte, sender, receiver PublicKey) bool {
	n := len(m.serialized) - macLen
	want := messageMAC(macKey, sender, receiver, m.serialized[:n])
	return subtle.ConstantTimeCompare(want[:macLen], m.serialized[n:]) == 1
}

// parseSignalMessage decodes the wire form; the MAC is checked later, once
// the message key is known.
func parseSignalMessage(b []byte) (*signalMessage, error) {
	if len(b) > maxMessageLen {
		return nil, fmt.Errorf("signal message: %d bytes: %w", len(b), ErrInvalidMessage)
	}
	if len(b) < 1+macLen {
		return nil, fmt.Errorf("signal message: too short (%d bytes): %w", len(b), ErrInvalidMessage)
	}
	v, err := checkVersion(b[0])
	if err != nil {
		return nil, fmt.Errorf("signal message: %w", err)
	}
	var pb signalpb.SignalMessage
	if err := proto.Unmarshal(b[1:len(b)-macLen], &pb); err != nil {
		return nil, fmt.Errorf("signal message: %v: %w", err, ErrInvalidMessage)
	}
	if pb.RatchetKey == nil || pb.Counter == nil || pb.Ciphertext == nil {
		return nil, fmt.Errorf("signal message: missing field: %w", ErrInvalidMessage)
	}
	rk, err := ParsePublicKey(pb.RatchetKey)
	if err != nil {
		return nil, fmt.Errorf("signal message: ratchet key: %v: %w", err, ErrInvalidMessage)
	}
	return &signalMessage{
		version: v, ratchetKey: rk, counter: pb.GetCounter(), prevCount: pb.GetPreviousCounter(),
		ciphertext: pb.Ciphertext, serialized: b,
	}, nil
}

// preKeySignalMessage is a parsed PreKeySignalMessage.
type preKeySignalMessage struct {
	version        uint8
	registrationID uint32
	preKeyID       *uint32
	signedPreKeyID uint32
	kemPreKeyID    *uint32
	kemCiphertext  []byte
	baseKey        PublicKey
	identityKey    PublicKey
	message        *signalMessage
}

func encodePreKeySignalMessage(version uint8, regID uint32, p *pendingPreKey, identity PublicKey, inner []byte) ([]byte, error) {
	pb := &signalpb.PreKeySignalMessage{
		RegistrationId: proto.Uint32(regID),
		PreKeyId:       p.preKeyID,
		SignedPreKeyId: proto.Uint32(p.signedPreKeyID),
		KyberPreKeyId:  p.kemPreKeyID,
		BaseKey:        p.baseKey.Bytes(),
		IdentityKey:    identity.Bytes(),
		Message:        inner,
	}
	if p.kemPreKeyID != nil {
		pb.KyberCiphertext = p.kemCiphertext
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encode prekey message: %w", err)
	}
	return append([]byte{versionByte(version)}, body...), nil
}

func parsePreKeySignalMessage(b []byte) (*preKeySignalMessage, error) {
	if len(b) > maxMessageLen {
		return nil, fmt.Errorf("prekey message: %d bytes: %w", len(b), ErrInvalidMessage)
	}
	if len(b) < 2 {
		return nil, fmt.Errorf("prekey message: too short: %w", ErrInvalidMessage)
	}
	v, err := checkVersion(b[0])
	if err != nil {
		return nil, fmt.Errorf("prekey message: %w", err)
	}
	var pb signalpb.PreKeySignalMessage
	if err := proto.Unmarshal(b[1:], &pb); err != nil {
		return nil, fmt.Errorf("prekey message: %v: %w", err, ErrInvalidMessage)
	}
	if pb.SignedPreKeyId == nil || pb.BaseKey == nil || pb.IdentityKey == nil || pb.Message == nil {
		return nil, fmt.Errorf("prekey message: missing field: %w", ErrInvalidMessage)
	}
	if (pb.KyberPreKeyId != nil) != (pb.KyberCiphertext != nil) {
		return nil, fmt.Errorf("prekey message: KEM id without ciphertext or vice versa: %w", ErrInvalidMessage)
	}
	if (v == versionKyber) != (pb.KyberPreKeyId != nil) {
		return nil, fmt.Errorf("prekey message: version %d with KEM part %t: %w", v, pb.KyberPreKeyId != nil, ErrInvalidMessage)
	}
	m := &preKeySignalMessage{
		version: v, registrationID: pb.GetRegistrationId(), preKeyID: pb.PreKeyId,
		signedPreKeyID: pb.GetSignedPreKeyId(), kemPreKeyID: pb.KyberPreKeyId, kemCiphertext: pb.KyberCiphertext,
	}
	if m.baseKey, err = ParsePublicKey(pb.BaseKey); err != nil {
		return nil, fmt.Errorf("prekey message: base key: %v: %w", err, ErrInvalidMessage)
	}
	if m.identityKey, err = ParsePublicKey(pb.IdentityKey); err != nil {
		return nil, fmt.Errorf("prekey message: identity key: %v: %w", err, ErrInvalidMessage)
	}
	if m.message, err = parseSignalMessage(pb.Message); err != nil {
		return nil, fmt.Errorf("prekey message: %w", err)
	}
	if m.message.version != v {
		return nil, fmt.Errorf("prekey message: inner version %d != %d: %w", m.message.version, v, ErrInvalidMessage)
	}
	return m, nil
}
