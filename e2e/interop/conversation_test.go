package interop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/parley-im/parley/e2e"
)

// wire is one 1:1 ciphertext as it travels: libsignal's message type (3
// PreKeySignalMessage, 2 SignalMessage) and the exact serialized bytes.
type wire struct {
	Type int
	Body []byte
}

// peer is one side of a 1:1 session, either implementation.
type peer interface {
	label() string
	address() e2e.Address
	encrypt(ctx context.Context, to e2e.Address, plaintext []byte) (wire, error)
	decrypt(ctx context.Context, from e2e.Address, w wire) ([]byte, error)
}

func (g *goDevice) label() string        { return "e2e" }
func (g *goDevice) address() e2e.Address { return g.addr }

func (g *goDevice) encrypt(ctx context.Context, to e2e.Address, pt []byte) (wire, error) {
	ct, err := e2e.Encrypt(ctx, g.cfg, g.store.Stores(), to, pt)
	if err != nil {
		return wire{}, err
	}
	return wire{Type: int(ct.Type), Body: ct.Body}, nil
}

func (g *goDevice) decrypt(ctx context.Context, from e2e.Address, w wire) ([]byte, error) {
	return e2e.Decrypt(ctx, g.cfg, g.store.Stores(), from, e2e.Ciphertext{Type: e2e.MessageType(w.Type), Body: w.Body})
}

func (d *jsDevice) label() string        { return "libsignal " + d.release }
func (d *jsDevice) address() e2e.Address { return d.addr }

func (d *jsDevice) encrypt(_ context.Context, to e2e.Address, pt []byte) (wire, error) {
	var r struct {
		Type int    `json:"type"`
		Body []byte `json:"body"`
	}
	err := d.call("encrypt", map[string]any{"address": jsAddr(to), "plaintext": b64(pt)}, &r)
	return wire{Type: r.Type, Body: r.Body}, err
}

func (d *jsDevice) decrypt(_ context.Context, from e2e.Address, w wire) ([]byte, error) {
	var r struct {
		Plaintext []byte `json:"plaintext"`
	}
	err := d.call("decrypt", map[string]any{"address": jsAddr(from), "type": w.Type, "body": b64(w.Body)}, &r)
	return r.Plaintext, err
}

// inFlight is a sent message the network has not delivered yet.
type inFlight struct {
	from, to  peer
	seq       int
	plaintext []byte
	w         wire
	dueRound  int
}

// conversationStats says what a conversation exercised, for the test log.
type conversationStats struct {
	sent, delivered, dropped, delayed, preKeyMsgs, ratchetSteps int
}

// converse runs a long conversation between an initiator that has already
// processed the responder's bundle and the responder. The network drops
// about 10% of messages for good, delays about 10% by one to three rounds
// (so they arrive after later chains, across DH ratchet steps) and shuffles
// the rest. Senders alternate each round, so every round is a DH ratchet
// step. Every delivered message must decrypt to what was sent; a replayed
// message must be rejected.
//
// wantVersion is the first byte every message must carry: 0x44 for PQXDH
// sessions, 0x34 for X3DH ones (message version << 4 | 4). Once per
// direction a copy with one flipped bit is delivered first and must be
// rejected without harming the session.
func converse(t *testing.T, ctx context.Context, rng *rand.Rand, initiator, responder peer, perDirection int, wantVersion byte) conversationStats {
	t.Helper()
	var st conversationStats
	sentBy := map[peer]int{}
	var delayed []inFlight
	var lastDelivered *inFlight
	tampered := map[peer]bool{}

	deliver := func(m inFlight) {
		if m.w.Body[0] != wantVersion {
			t.Fatalf("%s sent message #%d with version byte 0x%02x, want 0x%02x", m.from.label(), m.seq, m.w.Body[0], wantVersion)
		}
		if !tampered[m.to] && m.w.Type == 2 {
			tampered[m.to] = true
			bad := wire{Type: m.w.Type, Body: bytes.Clone(m.w.Body)}
			i := 1 + rng.IntN(len(bad.Body)-1)
			bad.Body[i] ^= 1 << rng.IntN(8)
			if _, err := m.to.decrypt(ctx, m.from.address(), bad); err == nil {
				t.Fatalf("%s accepted message #%d from %s with byte %d flipped", m.to.label(), m.seq, m.from.label(), i)
			}
		}
		pt, err := m.to.decrypt(ctx, m.from.address(), m.w)
		if err != nil {
			t.Fatalf("%s could not decrypt message #%d (type %d, %d bytes, first byte 0x%02x) from %s: %v",
				m.to.label(), m.seq, m.w.Type, len(m.w.Body), m.w.Body[0], m.from.label(), err)
		}
		if !bytes.Equal(pt, m.plaintext) {
			t.Fatalf("%s decrypted message #%d from %s to %q, want %q", m.to.label(), m.seq, m.from.label(), pt, m.plaintext)
		}
		st.delivered++
		if m.w.Type == 2 {
			c := m
			lastDelivered = &c
		}
	}

	for round := 0; sentBy[initiator] < perDirection || sentBy[responder] < perDirection; round++ {
		from, to := initiator, responder
		if round%2 == 1 {
			from, to = responder, initiator
		}
		if round > 0 {
			st.ratchetSteps++
		}
		n := 1 + rng.IntN(12)
		var now []inFlight
		for i := 0; i < n; i++ {
			seq := sentBy[from]
			sentBy[from]++
			pt := []byte(fmt.Sprintf("%s→%s #%d ", from.label(), to.label(), seq))
			pad := make([]byte, rng.IntN(400))
			for j := range pad {
				pad[j] = byte(rng.Uint32())
			}
			pt = append(pt, pad...)
			w, err := from.encrypt(ctx, to.address(), pt)
			if err != nil {
				t.Fatalf("%s could not encrypt message #%d to %s: %v", from.label(), seq, to.label(), err)
			}
			if w.Type == 3 {
				st.preKeyMsgs++
			}
			st.sent++
			m := inFlight{from: from, to: to, seq: seq, plaintext: pt, w: w}
			// The very first message always arrives, so the responder has a
			// session to answer from; after that the network may misbehave.
			switch p := rng.IntN(10); {
			case round == 0 && i == 0:
				now = append(now, m)
			case p == 0:
				st.dropped++
			case p == 1:
				m.dueRound = round + 1 + rng.IntN(3)
				delayed = append(delayed, m)
				st.delayed++
			default:
				now = append(now, m)
			}
		}
		// The first message goes first in round 0; everything else is shuffled.
		start := 0
		if round == 0 {
			start = 1
		}
		rng.Shuffle(len(now)-start, func(i, j int) { now[start+i], now[start+j] = now[start+j], now[start+i] })
		for _, m := range now {
			deliver(m)
		}
		var keep []inFlight
		for _, m := range delayed {
			if m.dueRound <= round {
				deliver(m)
			} else {
				keep = append(keep, m)
			}
		}
		delayed = keep
	}
	rng.Shuffle(len(delayed), func(i, j int) { delayed[i], delayed[j] = delayed[j], delayed[i] })
	for _, m := range delayed {
		deliver(m)
	}

	if lastDelivered == nil {
		t.Fatal("no SignalMessage was delivered")
	}
	m := *lastDelivered
	if _, err := m.to.decrypt(ctx, m.from.address(), m.w); err == nil {
		t.Errorf("%s accepted a replay of message #%d from %s", m.to.label(), m.seq, m.from.label())
	} else if _, isGo := m.to.(*goDevice); isGo && !errors.Is(err, e2e.ErrDuplicateMessage) {
		t.Errorf("e2e rejected a replay with %v, want ErrDuplicateMessage", err)
	}
	return st
}
