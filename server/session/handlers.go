package session

import (
	"context"
	"errors"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

// The dispatch table: one handler per frame type, with its checks wrapped
// around it. Built once; never modified.
var (
	hRegister     = needID(handleRegister)
	hPing         = needID(handlePing)
	hUploadKeys   = needID(needAuth(handleUploadKeys))
	hFetchBundles = needID(needAuth(handleFetchBundles))
	hKeyCount     = needID(needAuth(handleKeyCount))
	hDeviceList   = needID(needAuth(handleDeviceList))
	hSend         = needID(needAuth(handleSend))
	// DeliveryAck has no reply, so it needs no id.
	hDeliveryAck = needAuth(handleDeliveryAck)
)

func route(f *pb.ClientFrame) Handler {
	switch f.Body.(type) {
	case *pb.ClientFrame_Register:
		return hRegister
	case *pb.ClientFrame_Ping:
		return hPing
	case *pb.ClientFrame_UploadKeys:
		return hUploadKeys
	case *pb.ClientFrame_FetchBundles:
		return hFetchBundles
	case *pb.ClientFrame_KeyCount:
		return hKeyCount
	case *pb.ClientFrame_DeviceList:
		return hDeviceList
	case *pb.ClientFrame_Send:
		return hSend
	case *pb.ClientFrame_DeliveryAck:
		return hDeliveryAck
	case *pb.ClientFrame_UploadSlot:
		return hUploadSlot // media.go
	case *pb.ClientFrame_SetPushToken:
		return hSetPushToken // push.go
	}
	return routeSocial(f) // link.go, group.go, presence.go
}

// routeSocial is the dispatch table of linking, groups and presence.
func routeSocial(f *pb.ClientFrame) Handler {
	switch f.Body.(type) {
	case *pb.ClientFrame_LinkStart:
		return hLinkStart
	case *pb.ClientFrame_LinkLookup:
		return hLinkLookup
	case *pb.ClientFrame_LinkApprove:
		return hLinkApprove
	case *pb.ClientFrame_RemoveDevice:
		return hRemoveDevice
	case *pb.ClientFrame_GroupCreate:
		return hGroupCreate
	case *pb.ClientFrame_GroupUpdate:
		return hGroupUpdate
	case *pb.ClientFrame_GroupGet:
		return hGroupGet
	case *pb.ClientFrame_GroupList:
		return hGroupList
	case *pb.ClientFrame_GroupSend:
		return hGroupSend
	case *pb.ClientFrame_PresenceSubscribe:
		return hPresenceSubscribe
	case *pb.ClientFrame_SetPrivacy:
		return hSetPrivacy
	}
	return nil
}

// needID refuses a request without an id: its reply could not be matched.
func needID(h Handler) Handler {
	return func(ctx context.Context, s *Session, f *pb.ClientFrame) error {
		if f.Id == 0 {
			return bye(pb.ErrorCode_BAD_FRAME, "request without id")
		}
		return h(ctx, s, f)
	}
}

// needAuth closes the connection of a device that has no account yet and
// sends anything but Register or Ping.
func needAuth(h Handler) Handler {
	return func(ctx context.Context, s *Session, f *pb.ClientFrame) error {
		if !s.authed && !s.adoptLink(ctx) {
			return bye(pb.ErrorCode_UNAUTHENTICATED, "register this device first")
		}
		return h(ctx, s, f)
	}
}

// dispatch runs f's handler and turns its result into a reply or a goodbye.
func (s *Session) dispatch(ctx context.Context, f *pb.ClientFrame) error {
	h := route(f)
	if h == nil {
		return bye(pb.ErrorCode_BAD_FRAME, "unknown body")
	}
	if s.env.Wrap != nil {
		h = s.env.Wrap(h)
	}
	err := h(ctx, s, f)
	if err == nil {
		return nil
	}
	var pe *protocol.Error
	var g *goodbye
	switch {
	case errors.As(err, &g), errors.Is(err, errClosed):
		return err
	case errors.As(err, &pe):
	default:
		s.env.Logger.Error("request failed", "device", s.addr.String(), "err", err)
		pe = protocol.Errorf(pb.ErrorCode_INTERNAL, "the node failed; retry later")
	}
	if f.Id == 0 {
		return nil // nobody to answer
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_Error{Error: pe.ToProto()}})
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

func handlePing(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_Pong{Pong: &pb.Pong{ServerTimeMs: s.env.Now().UnixMilli()}}})
}
