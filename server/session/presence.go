package session

import (
	"bytes"
	"context"
	"fmt"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/presence"
)

var (
	hPresenceSubscribe = needID(needAuth(handlePresenceSubscribe))
	hSetPrivacy        = needID(needAuth(handleSetPrivacy))
)

func (s *Session) presence() (*presence.Registry, error) {
	if s.env.Social == nil || s.env.Social.Presence == nil {
		return nil, protocol.Errorf(pb.ErrorCode_INTERNAL, "presence is not available on this node")
	}
	return s.env.Social.Presence, nil
}

// handlePresenceSubscribe replaces the session's subscriptions, answers Ok
// and then pushes each subscribed user's current presence.
func handlePresenceSubscribe(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	reg, err := s.presence()
	if err != nil {
		return err
	}
	users := f.GetPresenceSubscribe().Users
	if len(users) > presence.MaxSubscriptions {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d presence subscriptions", presence.MaxSubscriptions)
	}
	var valid []string
	for _, u := range users {
		if protocol.ValidateHandle(u) == nil {
			valid = append(valid, u)
		}
	}
	st := s.soc()
	if st.sub == nil {
		st.sub = &presence.Sub{Viewer: s.addr.User, Push: func(target string, online bool, lastSeenMS int64) {
			// Runs on the goroutine of the target's session: only push.
			s.push(&pb.ServerFrame{Body: &pb.ServerFrame_Presence{Presence: &pb.Presence{User: target, Online: online, LastSeenMs: lastSeenMS}}})
		}}
	}
	reg.Subscribe(st.sub, valid)
	if err := s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_Ok{Ok: &pb.Ok{}}}); err != nil {
		return err
	}
	var frames [][]byte
	for _, u := range valid {
		if _, err := s.env.Store.Account(ctx, u); err != nil {
			continue // unknown users are skipped
		}
		p, err := presenceFor(ctx, s, s.addr.User, u, reg.Online(u))
		if err != nil {
			return err
		}
		b, err := marshalFrame(&pb.ServerFrame{Body: &pb.ServerFrame_Presence{Presence: p}})
		if err != nil {
			return err
		}
		frames = append(frames, b)
	}
	if len(frames) == 0 {
		return nil
	}
	s.setWriteDeadline()
	if err := s.conn.WriteFrames(frames); err != nil {
		return fmt.Errorf("session: write: %w", err)
	}
	return nil
}

// presenceFor is target's presence as viewer may see it.
func presenceFor(ctx context.Context, s *Session, viewer, target string, online bool) (*pb.Presence, error) {
	ok, err := visible(ctx, s, viewer, target)
	if err != nil {
		return nil, err
	}
	p := &pb.Presence{User: target}
	if !ok {
		return p, nil
	}
	p.Online = online
	if !online {
		ls, err := s.env.Store.LastSeen(ctx, target)
		if err != nil {
			return nil, fmt.Errorf("presence of %s: %w", target, err)
		}
		if !ls.IsZero() {
			p.LastSeenMs = ls.UnixMilli()
		}
	}
	return p, nil
}

// visible applies target's last-seen privacy setting to viewer.
func visible(ctx context.Context, s *Session, viewer, target string) (bool, error) {
	if viewer == target {
		return true, nil
	}
	setting, err := s.env.Store.Privacy(ctx, target)
	if err != nil {
		return false, fmt.Errorf("privacy of %s: %w", target, err)
	}
	switch pb.LastSeenPrivacy(setting) {
	case pb.LastSeenPrivacy_LAST_SEEN_EVERYONE:
		return true, nil
	case pb.LastSeenPrivacy_LAST_SEEN_CONTACTS:
		if c, err := s.env.Store.IsContact(ctx, target, viewer); err != nil || c {
			return c, err
		}
		return shareGroup(ctx, s, viewer, target)
	}
	return false, nil
}

func shareGroup(ctx context.Context, s *Session, a, b string) (bool, error) {
	ga, err := s.env.Store.UserGroups(ctx, a)
	if err != nil {
		return false, fmt.Errorf("groups of %s: %w", a, err)
	}
	if len(ga) == 0 {
		return false, nil
	}
	gb, err := s.env.Store.UserGroups(ctx, b)
	if err != nil {
		return false, fmt.Errorf("groups of %s: %w", b, err)
	}
	for _, x := range ga {
		for _, y := range gb {
			if bytes.Equal(x, y) {
				return true, nil
			}
		}
	}
	return false, nil
}

// announce tells user's subscribers that it went online or offline, each
// as its privacy setting allows: viewers who may not see it get nothing.
func (s *Session) announce(ctx context.Context, user string, online bool, lastSeenMS int64, subs []*presence.Sub) {
	for _, sub := range subs {
		ok, err := visible(ctx, s, sub.Viewer, user)
		if err != nil {
			s.env.Logger.Warn("presence", "user", user, "err", err)
			return
		}
		if ok {
			sub.Push(user, online, lastSeenMS)
		}
	}
}

// handleSetPrivacy stores the account's last-seen privacy setting.
func handleSetPrivacy(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	v := f.GetSetPrivacy().LastSeen
	if _, known := pb.LastSeenPrivacy_name[int32(v)]; !known {
		return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "unknown privacy setting %d", v)
	}
	if err := s.env.Store.SetPrivacy(ctx, s.addr.User, uint8(v)); err != nil {
		return fmt.Errorf("set privacy: %w", err)
	}
	return s.reply(f.Id, &pb.ServerFrame{Body: &pb.ServerFrame_Ok{Ok: &pb.Ok{}}})
}
