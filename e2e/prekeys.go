package e2e

import (
	"fmt"
	"io"

	"github.com/parley-im/parley/e2e/internal/signalpb"
	"google.golang.org/protobuf/proto"
)

// recordVersion is the first byte of every locally stored record (prekeys,
// sessions); bump it when the layout changes incompatibly.
const recordVersion = 1

// maxPreKeyRecordLen bounds prekey record parsing; the largest (a KEM prekey)
// is ~150 bytes.
const maxPreKeyRecordLen = 4 << 10

// PreKeyRecord is a one-time Curve25519 prekey.
type PreKeyRecord struct {
	ID      uint32
	KeyPair KeyPair
}

// SignedPreKeyRecord is a medium-term Curve25519 prekey signed by the
// identity key (XEdDSA over its 33-byte serialisation).
type SignedPreKeyRecord struct {
	ID        uint32
	KeyPair   KeyPair
	Signature []byte
	Timestamp uint64 // milliseconds since the Unix epoch, as libsignal
}

// KEMPreKeyRecord is an ML-KEM-1024 prekey signed by the identity key (XEdDSA
// over its type-byte-prefixed serialisation). One-time keys are deleted after
// use; a LastResort key is kept and reused when one-time keys run out.
type KEMPreKeyRecord struct {
	ID         uint32
	KeyPair    KEMKeyPair
	Signature  []byte
	Timestamp  uint64
	LastResort bool
}

// GeneratePreKeys makes n one-time prekeys with consecutive ids from startID
// (wrapping past 2^32-1 back to 1: id 0 is avoided because some clients treat
// it as "none").
func GeneratePreKeys(rand io.Reader, startID uint32, n int) ([]PreKeyRecord, error) {
	if n < 0 || n > 100_000 {
		return nil, fmt.Errorf("generate prekeys: count %d out of range", n)
	}
	out := make([]PreKeyRecord, 0, n)
	id := startID
	for range n {
		if id == 0 {
			id = 1
		}
		kp, err := GenerateKeyPair(rand)
		if err != nil {
			return nil, fmt.Errorf("generate prekeys: %w", err)
		}
		out = append(out, PreKeyRecord{ID: id, KeyPair: kp})
		id++
	}
	return out, nil
}

// GenerateSignedPreKey makes a signed prekey; Timestamp is left 0 for the
// caller to set (the package takes time only from Config).
func GenerateSignedPreKey(rand io.Reader, identity IdentityKeyPair, id uint32) (SignedPreKeyRecord, error) {
	kp, err := GenerateKeyPair(rand)
	if err != nil {
		return SignedPreKeyRecord{}, fmt.Errorf("generate signed prekey: %w", err)
	}
	sig, err := identity.Private.Sign(rand, kp.Public.Bytes())
	if err != nil {
		return SignedPreKeyRecord{}, fmt.Errorf("generate signed prekey: %w", err)
	}
	return SignedPreKeyRecord{ID: id, KeyPair: kp, Signature: sig}, nil
}

// GenerateKEMPreKey makes a signed ML-KEM-1024 prekey.
func GenerateKEMPreKey(rand io.Reader, identity IdentityKeyPair, id uint32, lastResort bool) (KEMPreKeyRecord, error) {
	return GenerateKEMPreKeyOfType(rand, identity, id, lastResort, KEMMLKEM1024)
}

// GenerateKEMPreKeyOfType makes a signed KEM prekey of the given type
// (KEMKyber1024 for peers running released libsignal builds).
func GenerateKEMPreKeyOfType(rand io.Reader, identity IdentityKeyPair, id uint32, lastResort bool, typ KEMType) (KEMPreKeyRecord, error) {
	kp, err := GenerateKEMKeyPairOfType(rand, typ)
	if err != nil {
		return KEMPreKeyRecord{}, fmt.Errorf("generate KEM prekey: %w", err)
	}
	sig, err := identity.Private.Sign(rand, kp.Public().Bytes())
	if err != nil {
		return KEMPreKeyRecord{}, fmt.Errorf("generate KEM prekey: %w", err)
	}
	return KEMPreKeyRecord{ID: id, KeyPair: kp, Signature: sig, LastResort: lastResort}, nil
}

// Marshal serialises the record for local storage (it contains the private key).
func (r PreKeyRecord) Marshal() ([]byte, error) {
	return marshalRecord(&signalpb.PreKeyRecordStructure{
		Id: r.ID, PublicKey: r.KeyPair.Public.Bytes(), PrivateKey: r.KeyPair.Private.Bytes(),
	})
}

// ParsePreKeyRecord parses the output of PreKeyRecord.Marshal.
func ParsePreKeyRecord(b []byte) (PreKeyRecord, error) {
	var pb signalpb.PreKeyRecordStructure
	if err := unmarshalRecord(b, maxPreKeyRecordLen, &pb); err != nil {
		return PreKeyRecord{}, fmt.Errorf("prekey record: %w", err)
	}
	kp, err := storedKeyPair(pb.PublicKey, pb.PrivateKey)
	if err != nil {
		return PreKeyRecord{}, fmt.Errorf("prekey record: %w", err)
	}
	return PreKeyRecord{ID: pb.Id, KeyPair: kp}, nil
}

// Marshal serialises the record for local storage.
func (r SignedPreKeyRecord) Marshal() ([]byte, error) {
	return marshalRecord(&signalpb.SignedPreKeyRecordStructure{
		Id: r.ID, PublicKey: r.KeyPair.Public.Bytes(), PrivateKey: r.KeyPair.Private.Bytes(),
		Signature: r.Signature, Timestamp: r.Timestamp,
	})
}

// ParseSignedPreKeyRecord parses the output of SignedPreKeyRecord.Marshal.
func ParseSignedPreKeyRecord(b []byte) (SignedPreKeyRecord, error) {
	var pb signalpb.SignedPreKeyRecordStructure
	if err := unmarshalRecord(b, maxPreKeyRecordLen, &pb); err != nil {
		return SignedPreKeyRecord{}, fmt.Errorf("signed prekey record: %w", err)
	}
	kp, err := storedKeyPair(pb.PublicKey, pb.PrivateKey)
	if err != nil {
		return SignedPreKeyRecord{}, fmt.Errorf("signed prekey record: %w", err)
	}
	if len(pb.Signature) != signatureLength {
		return SignedPreKeyRecord{}, fmt.Errorf("signed prekey record: signature length %d: %w", len(pb.Signature), ErrInvalidRecord)
	}
	return SignedPreKeyRecord{ID: pb.Id, KeyPair: kp, Signature: pb.Signature, Timestamp: pb.Timestamp}, nil
}

// Marshal serialises the record for local storage.
func (r KEMPreKeyRecord) Marshal() ([]byte, error) {
	return marshalRecord(&signalpb.KEMPreKeyRecordStructure{
		Id: r.ID, KeyPair: r.KeyPair.Bytes(), Signature: r.Signature,
		Timestamp: r.Timestamp, LastResort: r.LastResort,
	})
}

// ParseKEMPreKeyRecord parses the output of KEMPreKeyRecord.Marshal.
func ParseKEMPreKeyRecord(b []byte) (KEMPreKeyRecord, error) {
	var pb signalpb.KEMPreKeyRecordStructure
	if err := unmarshalRecord(b, maxPreKeyRecordLen, &pb); err != nil {
		return KEMPreKeyRecord{}, fmt.Errorf("KEM prekey record: %w", err)
	}
	kp, err := ParseKEMKeyPair(pb.KeyPair)
	if err != nil {
		return KEMPreKeyRecord{}, fmt.Errorf("KEM prekey record: %w", err)
	}
	if len(pb.Signature) != signatureLength {
		return KEMPreKeyRecord{}, fmt.Errorf("KEM prekey record: signature length %d: %w", len(pb.Signature), ErrInvalidRecord)
	}
	return KEMPreKeyRecord{ID: pb.Id, KeyPair: kp, Signature: pb.Signature, Timestamp: pb.Timestamp, LastResort: pb.LastResort}, nil
}

// storedKeyPair rebuilds a key pair and checks the stored public half matches.
func storedKeyPair(pub, priv []byte) (KeyPair, error) {
	kp, err := keyPairFromPrivate(priv)
	if err != nil {
		return KeyPair{}, err
	}
	p, err := ParsePublicKey(pub)
	if err != nil {
		return KeyPair{}, err
	}
	if !p.Equal(kp.Public) {
		return KeyPair{}, fmt.Errorf("public key does not match private key: %w", ErrInvalidRecord)
	}
	return kp, nil
}

func marshalRecord(m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal record: %w", err)
	}
	return append([]byte{recordVersion}, b...), nil
}

func unmarshalRecord(b []byte, maxLen int, m proto.Message) error {
	if len(b) == 0 {
		return fmt.Errorf("empty: %w", ErrInvalidRecord)
	}
	if len(b) > maxLen {
		return fmt.Errorf("%d bytes exceeds %d: %w", len(b), maxLen, ErrInvalidRecord)
	}
	if b[0] != recordVersion {
		return fmt.Errorf("record version %d: %w", b[0], ErrUnsupportedVersion)
	}
	if err := proto.Unmarshal(b[1:], m); err != nil {
		return fmt.Errorf("%v: %w", err, ErrInvalidRecord)
	}
	return nil
}
