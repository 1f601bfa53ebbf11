package session

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

var unmarshal = proto.UnmarshalOptions{DiscardUnknown: true}

// DecodeClientFrame decodes one decrypted frame. It refuses oversized
// input, undecodable protobuf and frames whose body is missing or unknown
// (a newer client's frame this node does not know), always wrapping
// ErrBadFrame; it never panics. The returned frame does not alias b.
func DecodeClientFrame(b []byte) (*pb.ClientFrame, error) {
	if len(b) > protocol.MaxFrameSize {
		return nil, fmt.Errorf("%w: %d bytes exceeds %d", ErrBadFrame, len(b), protocol.MaxFrameSize)
	}
	if f, ok := decodeHot(b); ok { // fastdecode.go
		return f, nil
	}
	return decodeWithProto(b)
}

// decodeWithProto is DecodeClientFrame through proto.Unmarshal, for every
// frame decodeHot leaves alone.
func decodeWithProto(b []byte) (*pb.ClientFrame, error) {
	f := new(pb.ClientFrame)
	if err := unmarshal.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadFrame, err)
	}
	if f.Body == nil {
		return nil, fmt.Errorf("%w: missing or unknown body", ErrBadFrame)
	}
	return f, nil
}
