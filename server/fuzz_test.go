package server_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
	"github.com/parley-im/parley/transport"
)

// fuzzHarness feeds arbitrary bytes as the body of one frame type to a live
// session of a real node, then checks the node still serves and the store
// invariants hold: alice and bob still resolve by key, bob's seeded message
// is still queued and every queued entry decodes, in seq order.
type fuzzHarness struct {
	n          *servertest.Node
	aliceKey   transport.StaticKey
	bobKey     transport.StaticKey
	c          *servertest.RawConn
	registered bool
}

func newFuzzHarness(f *testing.F, registered bool) *fuzzHarness {
	n := servertest.Start(f, server.Config{FetchRate: 1 << 20})
	h := &fuzzHarness{n: n, aliceKey: servertest.NewKey(), bobKey: servertest.NewKey(), registered: registered}
	a := servertest.Dial(f, n, h.aliceKey)
	if err := a.Register("alice", "", 30, 20); err != nil {
		f.Fatal(err)
	}
	b := servertest.Dial(f, n, h.bobKey)
	if err := b.Register("bob", "", 30, 20); err != nil {
		f.Fatal(err)
	}
	b.Close()
	if r, err := a.SendTo("bob", []uint32{1}, []byte("seeded")); err != nil || r.GetSendAck() == nil {
		f.Fatalf("seed message: %v %v", r, err)
	}
	h.c = a
	if !registered {
		h.c = servertest.Dial(f, n, servertest.NewKey())
	}
	return h
}

func (h *fuzzHarness) conn(t *testing.T) *servertest.RawConn {
	if h.c != nil {
		return h.c
	}
	key := servertest.NewKey()
	if h.registered {
		key = h.aliceKey
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := servertest.DialTCP(ctx, h.n.TCPAddr().String(), h.n.ServerKey(), key)
	if err != nil {
		t.Fatalf("node stopped accepting: %v", err)
	}
	h.c = c
	return c
}

func (h *fuzzHarness) run(t *testing.T, field protowire.Number, body []byte) {
	c := h.conn(t)
	raw := protowire.AppendTag(nil, 1, protowire.VarintType)
	raw = protowire.AppendVarint(raw, 1)
	raw = protowire.AppendTag(raw, field, protowire.BytesType)
	raw = protowire.AppendBytes(raw, body)
	if err := c.WriteRaw(raw); err != nil {
		c.Close()
		h.c = nil
		return
	}
	// Wait for the answer (or the goodbye), then prove the session or node
	// still works with a ping.
	c.Timeout = 5 * time.Second
	// DeliveryAck has no reply; the ping below is answered after it.
	for field != 14 {
		r, err := c.Next()
		if err != nil || r.GetGoodbye() != nil {
			c.Close()
			h.c = nil
			break
		}
		if r.ReplyTo == 1 {
			break
		}
	}
	// The session (or, if it said Goodbye, a fresh one) must answer a ping.
	for attempt := 0; ; attempt++ {
		c = h.conn(t)
		r, err := c.Call(ping())
		if err == nil && r.GetPong() != nil {
			break
		}
		c.Close()
		h.c = nil
		if attempt == 1 {
			t.Fatalf("ping on a fresh connection after fuzz input: %v %v", r, err)
		}
	}
	h.checkStore(t)
}

func (h *fuzzHarness) checkStore(t *testing.T) {
	ctx := context.Background()
	st := server.StoreOf(h.n.Node)
	for user, k := range map[string]transport.StaticKey{"alice": h.aliceKey, "bob": h.bobKey} {
		d, err := st.DeviceByKey(ctx, k.Public())
		if err != nil || d.Address != (protocol.Address{User: user, Device: 1}) {
			t.Fatalf("device of %s: %v %v", user, d.Address, err)
		}
	}
	bob := protocol.Address{User: "bob", Device: 1}
	es, err := st.ReadQueue(ctx, bob, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	seeded := false
	for i, e := range es {
		if i > 0 && e.Seq <= es[i-1].Seq {
			t.Fatalf("queue out of order: %d after %d", e.Seq, es[i-1].Seq)
		}
		var d pb.Deliver
		if err := proto.Unmarshal(e.Payload, &d); err != nil {
			t.Fatalf("queued entry %d undecodable: %v", e.Seq, err)
		}
		if string(d.GetEnvelope().GetBody()) == "seeded" {
			seeded = true
		}
	}
	if !seeded {
		t.Fatal("bob's seeded message is gone")
	}
}

var writeSeeds = flag.Bool("write-seeds", false, "write each Fuzz target's f.Add seeds to testdata/fuzz")

// seed adds msgs as seeds and, with -write-seeds, stores them as the
// target's seed corpus in testdata/fuzz so they are kept with the code.
func seed(f *testing.F, msgs ...proto.Message) {
	for i, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if *writeSeeds {
			dir := filepath.Join("testdata", "fuzz", f.Name())
			if err := os.MkdirAll(dir, 0o755); err != nil {
				f.Fatal(err)
			}
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(body), 0o644); err != nil {
				f.Fatal(err)
			}
		}
	}
}

func FuzzRegister(f *testing.F) {
	seed(f, &pb.Register{Handle: "zed", Keys: servertest.FakeKeys(1, 1, 1)}, &pb.Register{Handle: "x"})
	h := newFuzzHarness(f, false)
	f.Fuzz(func(t *testing.T, b []byte) { h.run(t, 10, b) })
}

func FuzzUploadKeys(f *testing.F) {
	k := servertest.FakeKeys(2, 1, 900)
	k.IdentityKey = nil
	seed(f, k, &pb.UploadKeys{})
	h := newFuzzHarness(f, true)
	f.Fuzz(func(t *testing.T, b []byte) { h.run(t, 11, b) })
}

func FuzzFetchBundles(f *testing.F) {
	seed(f, &pb.FetchBundles{User: "bob"}, &pb.FetchBundles{User: "bob", DeviceIds: []uint32{1, 2}})
	h := newFuzzHarness(f, true)
	f.Fuzz(func(t *testing.T, b []byte) { h.run(t, 12, b) })
}

func FuzzSend(f *testing.F) {
	seed(f, &pb.Send{MessageId: make([]byte, 16), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{{User: "bob", DeviceId: 1, Type: 2, Body: []byte("x")}}},
		&pb.Send{To: "alice"})
	h := newFuzzHarness(f, true)
	f.Fuzz(func(t *testing.T, b []byte) { h.run(t, 13, b) })
}

func FuzzDeliveryAck(f *testing.F) {
	seed(f, &pb.DeliveryAck{Seqs: []uint64{1, 2, 1 << 60}})
	h := newFuzzHarness(f, true)
	f.Fuzz(func(t *testing.T, b []byte) { h.run(t, 14, b) })
}

func FuzzPing(f *testing.F) {
	seed(f, &pb.Ping{ClientTimeMs: 5})
	h := newFuzzHarness(f, false)
	f.Fuzz(func(t *testing.T, b []byte) { h.run(t, 15, b) })
}

func FuzzKeyCount(f *testing.F) {
	seed(f, &pb.KeyCountRequest{})
	h := newFuzzHarness(f, true)
	f.Fuzz(func(t *testing.T, b []byte) { h.run(t, 16, b) })
}

func FuzzDeviceList(f *testing.F) {
	seed(f, &pb.DeviceListRequest{User: "bob"}, &pb.DeviceListRequest{User: "NO"})
	h := newFuzzHarness(f, true)
	f.Fuzz(func(t *testing.T, b []byte) { h.run(t, 17, b) })
}
