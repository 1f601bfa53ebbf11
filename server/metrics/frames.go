package metrics

import (
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/parley-im/parley/protocol/pb"
)

// FrameKinds names ServerFrame bodies by field number, so an outgoing frame
// can be counted from its first bytes without decoding it.
type FrameKinds struct {
	names map[protowire.Number]string
}

// NewFrameKinds reads the ServerFrame oneof from the generated descriptor.
func NewFrameKinds() *FrameKinds {
	k := &FrameKinds{names: make(map[protowire.Number]string)}
	fields := (&pb.ServerFrame{}).ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil {
			k.names[protowire.Number(fd.Number())] = string(fd.Name())
		}
	}
	return k
}

// Of names the body of a marshalled ServerFrame: the first field that is a
// oneof member ("unknown" if none is found in a few fields). reply_to comes
// first when set, so at most two tags are read.
func (k *FrameKinds) Of(b []byte) string {
	for range 3 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "unknown"
		}
		if name, ok := k.names[num]; ok {
			return name
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return "unknown"
		}
		b = b[n+m:]
	}
	return "unknown"
}

// ClientKind names the body of a decoded ClientFrame.
func ClientKind(f *pb.ClientFrame) string {
	m := f.ProtoReflect()
	od := m.Descriptor().Oneofs().ByName("body")
	if od == nil {
		return "unknown"
	}
	if fd := m.WhichOneof(od); fd != nil {
		return string(fd.Name())
	}
	return "unknown"
}
