package e2e

import (
	"fmt"
	"io"

	"github.com/parley-im/parley/e2e/internal/signalpb"
	"google.golang.org/protobuf/proto"
)

// Wire framing of the two Sender Key messages, as libsignal serialises
// them: one version byte (message version in the high nibble, current
// version in the low one, both 3) followed by the protobuf; a
// SenderKeyMessage ends with a 64-byte XEdDSA signature over everything
// before it.
const (
	senderKeyMessageVersion = 3
	senderKeyVersionByte    = senderKeyMessageVersion<<4 | senderKeyMessageVersion

	// maxSenderKeyMessageLen bounds a group message before any parsing;
	// group plaintexts are padded Content protobufs, far below this.
	maxSenderKeyMessageLen = 1 << 20
	// maxSKDMLen: a real distribution message is about 90 bytes.
	maxSKDMLen = 1 << 10
	// minSKDMLen is libsignal's lower bound: a version byte, a chain key and
	// a signing key at least.
	minSKDMLen = 1 + 32 + 32
)

type senderKeyMessage struct {
	distributionID [16]byte
	chainID        uint32
	iteration      uint32
	ciphertext     []byte
	signed         []byte // version byte and protobuf: what the signature covers
	signature      []byte
}

func checkVersionByte(b byte, what string) error {
	if v := b >> 4; v != senderKeyMessageVersion {
		return fmt.Errorf("%s: message version %d: %w", what, v, ErrUnsupportedVersion)
	}
	return nil
}

func parseSenderKeyMessage(b []byte) (*senderKeyMessage, error) {
	if len(b) < 1+signatureLength || len(b) > maxSenderKeyMessageLen {
		return nil, fmt.Errorf("sender key message: length %d: %w", len(b), ErrInvalidMessage)
	}
	if err := checkVersionByte(b[0], "sender key message"); err != nil {
		return nil, err
	}
	body := b[:len(b)-signatureLength]
	var pb signalpb.SenderKeyMessage
	if err := proto.Unmarshal(body[1:], &pb); err != nil {
		return nil, fmt.Errorf("sender key message: %v: %w", err, ErrInvalidMessage)
	}
	if len(pb.DistributionUuid) != 16 || pb.ChainId == nil || pb.Iteration == nil || pb.Ciphertext == nil {
		return nil, fmt.Errorf("sender key message: missing or malformed field: %w", ErrInvalidMessage)
	}
	m := &senderKeyMessage{
		chainID:    pb.GetChainId(),
		iteration:  pb.GetIteration(),
		ciphertext: pb.Ciphertext,
		signed:     body,
		signature:  b[len(b)-signatureLength:],
	}
	copy(m.distributionID[:], pb.DistributionUuid)
	return m, nil
}

func encodeSenderKeyMessage(rand io.Reader, signer PrivateKey, distributionID [16]byte, chainID, iteration uint32, ciphertext []byte) ([]byte, error) {
	pb := &signalpb.SenderKeyMessage{
		DistributionUuid: distributionID[:],
		ChainId:          proto.Uint32(chainID),
		Iteration:        proto.Uint32(iteration),
		Ciphertext:       ciphertext,
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encode sender key message: %w", err)
	}
	out := make([]byte, 0, 1+len(body)+signatureLength)
	out = append(out, senderKeyVersionByte)
	out = append(out, body...)
	sig, err := signer.Sign(rand, out)
	if err != nil {
		return nil, fmt.Errorf("sign sender key message: %w", err)
	}
	return append(out, sig...), nil
}

type senderKeyDistribution struct {
	distributionID [16]byte
	chainID        uint32
	iteration      uint32
	chainKey       [senderChainKeyLen]byte
	signingKey     PublicKey
}

func parseSenderKeyDistribution(b []byte) (*senderKeyDistribution, error) {
	if len(b) < minSKDMLen || len(b) > maxSKDMLen {
		return nil, fmt.Errorf("sender key distribution: length %d: %w", len(b), ErrInvalidMessage)
	}
	if err := checkVersionByte(b[0], "sender key distribution"); err != nil {
		return nil, err
	}
	var pb signalpb.SenderKeyDistributionMessage
	if err := proto.Unmarshal(b[1:], &pb); err != nil {
		return nil, fmt.Errorf("sender key distribution: %v: %w", err, ErrInvalidMessage)
	}
	if len(pb.DistributionUuid) != 16 || pb.ChainId == nil || pb.Iteration == nil || len(pb.ChainKey) != senderChainKeyLen {
		return nil, fmt.Errorf("sender key distribution: missing or malformed field: %w", ErrInvalidMessage)
	}
	key, err := ParsePublicKey(pb.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("sender key distribution: signing key: %w", err)
	}
	d := &senderKeyDistribution{chainID: pb.GetChainId(), iteration: pb.GetIteration(), signingKey: key}
	copy(d.distributionID[:], pb.DistributionUuid)
	copy(d.chainKey[:], pb.ChainKey)
	return d, nil
}

func (d *senderKeyDistribution) marshal() ([]byte, error) {
	pb := &signalpb.SenderKeyDistributionMessage{
		DistributionUuid: d.distributionID[:],
		ChainId:          proto.Uint32(d.chainID),
		Iteration:        proto.Uint32(d.iteration),
		ChainKey:         d.chainKey[:],
		SigningKey:       d.signingKey.Bytes(),
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encode sender key distribution: %w", err)
	}
	return append([]byte{senderKeyVersionByte}, body...), nil
}
