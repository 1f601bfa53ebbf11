package servertest

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/keys"
)

// FakeKeys builds an upload whose keys have the right shapes (lengths and
// type bytes) but random contents: the node never checks more, and tests do
// not need real Signal keys. Ids start at firstID.
func FakeKeys(preKeys, kemKeys int, firstID uint32) *pb.UploadKeys {
	u := &pb.UploadKeys{
		IdentityKey:         ecKey(),
		SignedPreKey:        &pb.SignedPreKey{Id: 1, PublicKey: ecKey(), Signature: random(keys.SignatureSize)},
		LastResortKemPreKey: kemKey(1),
	}
	for i := range preKeys {
		u.PreKeys = append(u.PreKeys, &pb.PreKey{Id: firstID + uint32(i), PublicKey: ecKey()})
	}
	for i := range kemKeys {
		u.KemPreKeys = append(u.KemPreKeys, kemKey(firstID+uint32(i)))
	}
	return u
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func ecKey() []byte {
	b := random(keys.ECPublicKeySize)
	b[0] = keys.ECKeyType
	return b
}

func kemKey(id uint32) *pb.KEMPreKey {
	b := random(keys.KEMPublicKeySize)
	b[0] = keys.KEMKeyType
	return &pb.KEMPreKey{Id: id, PublicKey: b, Signature: random(keys.SignatureSize)}
}

// RegisterConn registers handle on an open, unregistered connection with
// FakeKeys(preKeys, kemKeys, 100).
func (c *RawConn) Register(handle, invite string, preKeys, kemKeys int) error {
	r, err := c.Call(&pb.ClientFrame{Body: &pb.ClientFrame_Register{Register: &pb.Register{
		Handle: handle, InviteCode: invite, RegistrationId: 42, Keys: FakeKeys(preKeys, kemKeys, 100),
	}}})
	if err != nil {
		return err
	}
	if e := r.GetError(); e != nil {
		return fmt.Errorf("servertest: register %s: %s: %s", handle, e.Code, e.Reason)
	}
	if r.GetRegistered() == nil {
		return fmt.Errorf("servertest: register %s: got %T", handle, r.Body)
	}
	return nil
}

// Register makes a new device key, connects it and registers handle with a
// few one-time keys; it returns the authenticated connection.
func Register(t testing.TB, n *Node, handle string) *RawConn {
	t.Helper()
	c := Dial(t, n, NewKey())
	if err := c.Register(handle, "", 5, 5); err != nil {
		t.Fatal(err)
	}
	return c
}

// MessageID makes a random 16-byte message id.
func MessageID() []byte { return random(16) }

// SendTo sends body as the ciphertext for each listed device of to
// and returns the reply frame.
func (c *RawConn) SendTo(to string, devices []uint32, body []byte) (*pb.ServerFrame, error) {
	s := &pb.Send{MessageId: MessageID(), To: to}
	for _, d := range devices {
		s.Ciphertexts = append(s.Ciphertexts, &pb.OutgoingCiphertext{User: to, DeviceId: d, Type: pb.EnvelopeType_CIPHERTEXT, Body: body})
	}
	return c.Call(&pb.ClientFrame{Body: &pb.ClientFrame_Send{Send: s}})
}
