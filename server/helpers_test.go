package server_test

import (
	"google.golang.org/protobuf/proto"

	"testing"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/servertest"
)

func ping() *pb.ClientFrame {
	return &pb.ClientFrame{Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}}
}

func wantError(t *testing.T, f *pb.ServerFrame, code pb.ErrorCode) *pb.Error {
	t.Helper()
	e := f.GetError()
	if e == nil || e.Code != code {
		t.Fatalf("got %v, want Error %s", f, code)
	}
	return e
}

// wantGoodbye reads until Goodbye and checks its code, then that the
// connection is closed.
func wantGoodbye(t *testing.T, c *servertest.RawConn, code pb.ErrorCode) {
	t.Helper()
	f := c.Expect(t, "Goodbye", func(f *pb.ServerFrame) bool { return f.GetGoodbye() != nil })
	if g := f.GetGoodbye(); g.Code != code {
		t.Fatalf("Goodbye %s (%s), want %s", g.Code, g.Reason, code)
	}
	if f, err := c.Read(); err == nil {
		t.Fatalf("connection still open after Goodbye: read %v", f)
	}
}

func isDeliver(f *pb.ServerFrame) bool { return f.GetDeliver() != nil }

func ack(seqs ...uint64) *pb.ClientFrame {
	return &pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: seqs}}}
}

func protoMarshal(f *pb.ClientFrame) ([]byte, error) { return proto.Marshal(f) }
