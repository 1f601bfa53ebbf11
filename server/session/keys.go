package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

func handleUploadKeys(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	dev, err := s.env.Store.Device(ctx, s.addr)
	if err != nil {
		return fmt.Errorf("upload keys: %w", err)
	}
	if err := s.uploadDeviceList(ctx, f.GetUploadKeys().GetDeviceList(), dev); err != nil { // devicelist.go
		return err
	}
	c, err := s.env.Keys.Upload(ctx, s.addr, f.GetUploadKeys(), dev.IdentityKey)
	if err != nil {
		return err
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_KeysUploaded{KeysUploaded: &pb.KeysUploaded{PreKeys: uint32(c.PreKeys), KemPreKeys: uint32(c.KEMPreKeys)}}})
}

func handleFetchBundles(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	fb := f.GetFetchBundles()
	b, err := s.env.Keys.Fetch(ctx, s.addr, fb.User, fb.DeviceIds)
	if err != nil {
		return err
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_Bundles{Bundles: b}})
}

func handleKeyCount(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	c, err := s.env.Keys.Count(ctx, s.addr)
	if err != nil {
		return err
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_KeyCount{KeyCount: &pb.KeyCount{PreKeys: uint32(c.PreKeys), KemPreKeys: uint32(c.KEMPreKeys)}}})
}

func handleDeviceList(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	user := f.GetDeviceList().User
	dl, err := deviceList(ctx, s.env.Store, user)
	if err != nil {
		return err
	}
	withSigned(ctx, s.env.Store, dl)
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_DeviceList{DeviceList: dl}})
}

// deviceList is a user's enabled devices; NOT_FOUND for unknown users.
func deviceList(ctx context.Context, st store.Store, user string) (*pb.DeviceList, error) {
	if protocol.ValidateHandle(user) != nil {
		return nil, protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no user %q", user)
	}
	ids, err := st.ActiveDeviceIDs(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no user %q", user)
	}
	if err != nil {
		return nil, fmt.Errorf("devices of %s: %w", user, err)
	}
	// ids is the store's shared slice: the list is only read (and sent).
	return &pb.DeviceList{User: user, DeviceIds: ids}, nil
}
