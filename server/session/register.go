package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/keys"
	"github.com/parley-im/parley/store"
)

// handleRegister creates an account whose device 1 is this connection's
// key, stores the device's Signal keys and authenticates the session.
func handleRegister(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	if s.authed {
		return protocol.Errorf(pb.ErrorCode_ALREADY_REGISTERED, "this device already belongs to %s", s.addr.User)
	}
	r := f.GetRegister()
	if err := protocol.ValidateHandle(r.Handle); err != nil {
		return &protocol.Error{Code: pb.ErrorCode_INVALID_HANDLE, Reason: err.Error()}
	}
	invite := ""
	if s.env.Registration == "invite" {
		if r.InviteCode == "" {
			return protocol.Errorf(pb.ErrorCode_INVITE_REQUIRED, "this node needs an invite code to register")
		}
		invite = r.InviteCode
	}
	if err := keys.ValidateUpload(r.Keys, true); err != nil {
		return err
	}
	if err := checkFirstList(r); err != nil { // devicelist.go
		return err
	}
	now := s.env.Now()
	addr := protocol.Address{User: r.Handle, Device: 1}
	dev := store.Device{
		Address:        addr,
		NoiseKey:       s.conn.RemoteKey(),
		RegistrationID: r.RegistrationId,
		IdentityKey:    r.Keys.IdentityKey,
		CreatedAt:      now,
	}
	err := s.env.Store.CreateAccount(ctx, store.Account{Handle: r.Handle, CreatedAt: now}, dev, invite)
	switch {
	case errors.Is(err, store.ErrHandleTaken):
		return protocol.Errorf(pb.ErrorCode_HANDLE_TAKEN, "handle %q is taken", r.Handle)
	case errors.Is(err, store.ErrKeyRegistered):
		return protocol.Errorf(pb.ErrorCode_ALREADY_REGISTERED, "this device key already has an account")
	case errors.Is(err, store.ErrInviteInvalid):
		return protocol.Errorf(pb.ErrorCode_INVALID_INVITE, "invite code unknown, used, revoked or expired")
	case err != nil:
		return fmt.Errorf("register %s: %w", addr, err)
	}
	// The account exists from here on; if storing keys fails the device is
	// told INTERNAL and, once reconnected as a registered device, uploads
	// them again with UploadKeys.
	s.bind(addr)
	defer s.startDelivery(ctx)
	if _, err := s.env.Keys.Upload(ctx, addr, r.Keys, r.Keys.IdentityKey); err != nil {
		return err
	}
	if err := s.storeFirstList(ctx, r); err != nil {
		return err
	}
	s.env.Logger.Info("account registered", "device", addr.String())
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_Registered{Registered: &pb.Registered{User: addr.User, DeviceId: addr.Device}}})
}
