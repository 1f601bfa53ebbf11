package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

var hSetPushToken = needID(needAuth(handleSetPushToken))

// handleSetPushToken stores (or clears) the device's push token for the
// push service, which reads it when the device has entries waiting and no
// session.
func handleSetPushToken(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	m := f.GetSetPushToken()
	switch {
	case len(m.Token) > store.MaxPushTokenLen:
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "push token over %d bytes", store.MaxPushTokenLen)
	case len(m.Platform) > store.MaxPushPlatformLen:
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "push platform over %d bytes", store.MaxPushPlatformLen)
	case m.Token != "" && m.Platform == "":
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "push token without a platform")
	}
	err := s.env.Store.SetPushToken(ctx, s.addr, store.PushToken{Token: m.Token, Platform: m.Platform, UpdatedAt: s.env.Now()})
	if errors.Is(err, store.ErrNotFound) {
		return protocol.Errorf(pb.ErrorCode_NOT_FOUND, "this device no longer exists")
	}
	if err != nil {
		return fmt.Errorf("set push token of %s: %w", s.addr, err)
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_Ok{Ok: &pb.Ok{}}})
}
