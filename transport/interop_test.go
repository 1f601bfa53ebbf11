package transport

// Independent check of the framing and handshake: one side is this package,
// the other is written directly on flynn/noise's HandshakeState and
// CipherState with the wire format as docs/protocol.md describes it
// (3-byte big-endian length, pattern byte, prologue "parley/1"+pattern,
// frames = AES-GCM ciphertext with Noise nonces and no associated data).

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/flynn/noise"
)

func rawWrite(w io.Writer, body []byte) error {
	buf := make([]byte, 3+len(body))
	buf[0], buf[1], buf[2] = byte(len(body)>>16), byte(len(body)>>8), byte(len(body))
	copy(buf[3:], body)
	_, err := w.Write(buf)
	return err
}

func rawRead(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[1:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(h[:]))
	_, err := io.ReadFull(r, buf)
	return buf, err
}

func rawKey(k StaticKey) noise.DHKey {
	return noise.DHKey{Private: k.priv[:], Public: k.pub[:]}
}

var rawSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashSHA256)

// rawServer answers one handshake and then echoes one frame upper-cased.
func rawServer(nc net.Conn, key StaticKey) (remote []byte, err error) {
	rec, err := rawRead(nc)
	if err != nil {
		return nil, err
	}
	cfg := noise.Config{CipherSuite: rawSuite, StaticKeypair: rawKey(key), Prologue: append([]byte("parley/1"), rec[0])}
	switch rec[0] {
	case 0x01:
		cfg.Pattern = noise.HandshakeXX
	case 0x02:
		cfg.Pattern = noise.HandshakeIK
	default:
		return nil, fmt.Errorf("pattern byte %x", rec[0])
	}
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, err
	}
	if _, _, _, err := hs.ReadMessage(nil, rec[1:]); err != nil {
		return nil, err
	}
	msg, c1, c2, err := hs.WriteMessage(nil, nil)
	if err != nil {
		return nil, err
	}
	if err := rawWrite(nc, msg); err != nil {
		return nil, err
	}
	if rec[0] == 0x01 {
		if rec, err = rawRead(nc); err != nil {
			return nil, err
		}
		if _, c1, c2, err = hs.ReadMessage(nil, rec); err != nil {
			return nil, err
		}
	}
	ct, err := rawRead(nc)
	if err != nil {
		return nil, err
	}
	pt, err := c1.Decrypt(nil, nil, ct)
	if err != nil {
		return nil, err
	}
	out, err := c2.Encrypt(nil, nil, bytes.ToUpper(pt))
	if err != nil {
		return nil, err
	}
	return hs.PeerStatic(), rawWrite(nc, out)
}

// rawClient runs one handshake and sends one frame, returning the reply.
func rawClient(nc net.Conn, key StaticKey, server *PublicKey, frame []byte) (serverKey, reply []byte, err error) {
	pattern := byte(0x01)
	cfg := noise.Config{CipherSuite: rawSuite, Pattern: noise.HandshakeXX, Initiator: true, StaticKeypair: rawKey(key)}
	if server != nil {
		pattern = 0x02
		cfg.Pattern = noise.HandshakeIK
		cfg.PeerStatic = server[:]
	}
	cfg.Prologue = append([]byte("parley/1"), pattern)
	hs, err := noise.NewHandshakeState(cfg)
	if err != nil {
		return nil, nil, err
	}
	msg, _, _, err := hs.WriteMessage([]byte{pattern}, nil)
	if err != nil {
		return nil, nil, err
	}
	if err := rawWrite(nc, msg); err != nil {
		return nil, nil, err
	}
	rec, err := rawRead(nc)
	if err != nil {
		return nil, nil, err
	}
	_, c1, c2, err := hs.ReadMessage(nil, rec)
	if err != nil {
		return nil, nil, err
	}
	if pattern == 0x01 {
		if msg, c1, c2, err = hs.WriteMessage(nil, nil); err != nil {
			return nil, nil, err
		}
		if err := rawWrite(nc, msg); err != nil {
			return nil, nil, err
		}
	}
	ct, err := c1.Encrypt(nil, nil, frame)
	if err != nil {
		return nil, nil, err
	}
	if err := rawWrite(nc, ct); err != nil {
		return nil, nil, err
	}
	if rec, err = rawRead(nc); err != nil {
		return nil, nil, err
	}
	reply, err = c2.Decrypt(nil, nil, rec)
	return hs.PeerStatic(), reply, err
}

func TestInteropOurClientRawServer(t *testing.T) {
	devKey, nodeKey := newKey(t), newKey(t)
	nodePub := nodeKey.Public()
	for _, pin := range []*PublicKey{nil, &nodePub} {
		t.Run(fmt.Sprint("pinned=", pin != nil), func(t *testing.T) {
			cc, sc := tcpPair(t)
			type res struct {
				remote []byte
				err    error
			}
			ch := make(chan res, 1)
			go func() { r, err := rawServer(sc, nodeKey); ch <- res{r, err} }()
			c, err := Client(context.Background(), cc, ClientConfig{Key: devKey, ServerKey: pin})
			if err != nil {
				t.Fatal(err)
			}
			if !c.ServerKey().Equal(nodePub) {
				t.Error("client learned the wrong server key")
			}
			if err := c.WriteFrame([]byte("hello noise")); err != nil {
				t.Fatal(err)
			}
			got, err := c.ReadFrame()
			if err != nil || string(got) != "HELLO NOISE" {
				t.Fatalf("reply %q, %v", got, err)
			}
			r := <-ch
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !bytes.Equal(r.remote, devKey.pub[:]) {
				t.Error("raw server saw the wrong device key")
			}
		})
	}
}

func TestInteropRawClientOurServer(t *testing.T) {
	devKey, nodeKey := newKey(t), newKey(t)
	nodePub := nodeKey.Public()
	for _, pin := range []*PublicKey{nil, &nodePub} {
		t.Run(fmt.Sprint("pinned=", pin != nil), func(t *testing.T) {
			cc, sc := tcpPair(t)
			type res struct {
				key, reply []byte
				err        error
			}
			ch := make(chan res, 1)
			go func() { k, r, err := rawClient(cc, devKey, pin, []byte("from raw")); ch <- res{k, r, err} }()
			s, err := Server(context.Background(), sc, ServerConfig{Key: nodeKey})
			if err != nil {
				t.Fatal(err)
			}
			if !s.RemoteKey().Equal(devKey.Public()) {
				t.Error("server saw the wrong device key")
			}
			got, err := s.ReadFrame()
			if err != nil || string(got) != "from raw" {
				t.Fatalf("ReadFrame = %q, %v", got, err)
			}
			if err := s.WriteFrame([]byte("from ours")); err != nil {
				t.Fatal(err)
			}
			r := <-ch
			if r.err != nil {
				t.Fatal(r.err)
			}
			if string(r.reply) != "from ours" || !bytes.Equal(r.key, nodePub[:]) {
				t.Errorf("raw client got %q from key %x", r.reply, r.key)
			}
		})
	}
}
