package session

import (
	"context"
	"errors"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/media"
)

// MediaSlots grants media upload slots: the node's media service.
type MediaSlots interface {
	Grant(size int64) (*pb.UploadSlot, error)
}

var hUploadSlot = needID(needAuth(handleUploadSlot))

// handleUploadSlot answers UploadSlotRequest. The size cap is enforced
// here, before the device sends a single byte over HTTP.
func handleUploadSlot(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	if s.env.Media == nil {
		return protocol.Errorf(pb.ErrorCode_INTERNAL, "media uploads are not available on this node")
	}
	slot, err := s.env.Media.Grant(f.GetUploadSlot().GetSize())
	switch {
	case errors.Is(err, media.ErrTooLarge):
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "%v", err)
	case errors.Is(err, media.ErrInvalidSize):
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "%v", err)
	case err != nil:
		return err
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_UploadSlot{UploadSlot: slot}})
}
