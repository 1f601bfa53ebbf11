package session

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

func TestDecodeClientFrame(t *testing.T) {
	ok, _ := proto.Marshal(&pb.ClientFrame{Id: 7, Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{ClientTimeMs: 1}}})
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"ping", ok, true},
		{"empty", nil, false},
		{"garbage", []byte{0xff, 0x01}, false},
		{"id only", []byte{0x08, 0x01}, false},
		{"oversized", make([]byte, protocol.MaxFrameSize+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := DecodeClientFrame(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("DecodeClientFrame = %v, %v", f, err)
			}
			if err != nil && !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
		})
	}
}

func FuzzDecodeClientFrame(f *testing.F) {
	for _, fr := range []*pb.ClientFrame{
		{Id: 1, Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}},
		{Id: 2, Body: &pb.ClientFrame_Send{Send: &pb.Send{MessageId: make([]byte, 16), To: "bob", Ciphertexts: []*pb.OutgoingCiphertext{{User: "bob", DeviceId: 1, Type: 2, Body: []byte("x")}}}}},
		{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: []uint64{1, 2, 3}}}},
	} {
		b, _ := proto.Marshal(fr)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeClientFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		if fr.Body == nil {
			t.Fatal("accepted a frame without body")
		}
		// What we accept must survive a round trip.
		out, err := proto.Marshal(fr)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		if _, err := DecodeClientFrame(out); err != nil && len(out) <= protocol.MaxFrameSize {
			t.Fatalf("re-decode: %v", err)
		}
	})
}
