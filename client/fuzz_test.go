package client

import (
	"testing"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/protocol/pb"
)

// Seeds live in testdata/fuzz/<FuzzName>; these add valid records so the
// fuzzer starts from the real shapes.

func FuzzDecodeAccount(f *testing.F) {
	f.Add(mustMarshal(&localpb.Account{User: "alice", DeviceId: 1, Registered: true, NoiseKey: []byte("parley-secret:x"), IdentityPrivate: make([]byte, 32)}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if a, err := decodeAccount(b); err == nil && len(a.IdentityPrivate) != 32 {
			t.Fatal("accepted an account without a 32-byte identity")
		}
	})
}

func FuzzDecodeServerPin(f *testing.F) {
	f.Add(mustMarshal(&localpb.ServerPin{Key: make([]byte, 32), Addr: "127.0.0.1:5222"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := decodeServerPin(b); err == nil && len(p.Key) != 32 {
			t.Fatal("accepted a pin of the wrong size")
		}
	})
}

func FuzzDecodeDevices(f *testing.F) {
	f.Add(mustMarshal(&localpb.Devices{DeviceIds: []uint32{1, 2, 3}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		if d, err := decodeDevices(b); err == nil {
			for _, id := range d.DeviceIds {
				if id == 0 {
					t.Fatal("accepted device 0")
				}
			}
		}
	})
}

func FuzzDecodeHistoryItem(f *testing.F) {
	f.Add(mustMarshal(&localpb.HistoryItem{MessageId: make([]byte, 16), Peer: "bob", Text: "hi", Status: localpb.Status_READ}))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHistoryItem(b)
		if err != nil {
			return
		}
		it := historyFromRecord(h)
		if it.Status < StatusUnknown || it.Status > StatusFailed {
			t.Fatalf("status %d out of range", it.Status)
		}
		// A decoded item must re-encode (what status updates do).
		if _, err := decodeHistoryItem(mustMarshal(h)); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func FuzzDecodeContent(f *testing.F) {
	f.Add(mustMarshal(&pb.Content{Body: &pb.Content_Text{Text: &pb.Text{Body: "hello"}}, SentAtMs: 1}))
	f.Add(mustMarshal(&pb.Content{Body: &pb.Content_ReadReceipt{ReadReceipt: &pb.ReadReceipt{MessageIds: [][]byte{make([]byte, 16)}}}, SyncTo: "bob"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeContent(b)
		if err != nil {
			return
		}
		if len(c.GetText().GetBody()) > MaxTextSize {
			t.Fatal("accepted an oversized text")
		}
		for _, id := range c.GetReadReceipt().GetMessageIds() {
			if len(id) != 16 {
				t.Fatal("accepted a short receipt id")
			}
		}
	})
}
