package client

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// Presence and typing are ephemeral: the node pushes presence to the
// connections that subscribed (a chat that is open), and typing notices go
// only to devices online at that moment (never stored, never queued,
// never acknowledged). Typing is sent in 1:1 chats only: in a group it
// would cost one pairwise Send per member per keystroke burst.

// Presence reports a subscribed user's state.
type Presence struct {
	User     string
	Online   bool
	LastSeen time.Time // zero when the user hides it (privacy) or is online
}

// Typing reports that a peer started (Composing) or stopped typing.
type Typing struct {
	User      string
	Device    uint32
	Composing bool
	At        time.Time
}

func (Presence) isEvent() {}
func (Typing) isEvent()   {}

// LastSeenPrivacy says who may see when this user was last online.
type LastSeenPrivacy int

const (
	LastSeenEveryone LastSeenPrivacy = iota
	LastSeenContacts                 // users this account messaged or shares a group with
	LastSeenNobody
)

// ParseLastSeenPrivacy reads "everyone", "contacts" or "nobody".
func ParseLastSeenPrivacy(s string) (LastSeenPrivacy, error) {
	switch s {
	case "everyone":
		return LastSeenEveryone, nil
	case "contacts":
		return LastSeenContacts, nil
	case "nobody":
		return LastSeenNobody, nil
	}
	return 0, fmt.Errorf("last-seen privacy %q: want everyone, contacts or nobody", s)
}

// maxPresenceSubscriptions bounds one PresenceSubscribe.
const maxPresenceSubscriptions = 256

// SubscribePresence replaces this connection's presence subscriptions
// (empty: none). The node answers with the current state of each user as
// Presence events and pushes every change while the connection lives;
// subscriptions end with the connection.
func (c *Client) SubscribePresence(ctx context.Context, users ...string) error {
	if len(users) > maxPresenceSubscriptions {
		return fmt.Errorf("presence: %d users, at most %d", len(users), maxPresenceSubscriptions)
	}
	for _, u := range users {
		if err := protocol.ValidateHandle(u); err != nil {
			return err
		}
	}
	cn, err := c.current()
	if err != nil {
		return err
	}
	_, err = cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_PresenceSubscribe{PresenceSubscribe: &pb.PresenceSubscribe{Users: users}}})
	if err != nil {
		return fmt.Errorf("presence subscribe: %w", err)
	}
	return nil
}

// SetLastSeenPrivacy sets who sees this user's last-seen time.
func (c *Client) SetLastSeenPrivacy(ctx context.Context, p LastSeenPrivacy) error {
	if p < LastSeenEveryone || p > LastSeenNobody {
		return fmt.Errorf("last-seen privacy %d: unknown", p)
	}
	cn, err := c.current()
	if err != nil {
		return err
	}
	_, err = cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_SetPrivacy{SetPrivacy: &pb.SetPrivacy{LastSeen: pb.LastSeenPrivacy(p)}}})
	if err != nil {
		return fmt.Errorf("set privacy: %w", err)
	}
	return nil
}

// SendTyping tells every online device of `to` that this user started
// (composing) or stopped typing. It is ephemeral: offline devices never
// see it. Callers should rate-limit (the CLI sends at most one notice per
// few seconds); the node also limits.
func (c *Client) SendTyping(ctx context.Context, to string, composing bool) error {
	if err := protocol.ValidateHandle(to); err != nil {
		return err
	}
	a, _, err := c.account()
	if err != nil {
		return err
	}
	if to == a.User {
		return ErrSelf
	}
	id, err := c.newMessageID()
	if err != nil {
		return err
	}
	content := &pb.Content{Body: &pb.Content_Typing{Typing: &pb.Typing{Composing: composing}}, SentAtMs: c.cfg.Now().UnixMilli()}
	return c.sendContentOpts(ctx, to, id, content, nil, sendOpts{ephemeral: true})
}

// presenceFromProto checks a pushed Presence.
func presenceFromProto(p *pb.Presence) (Presence, bool) {
	if protocol.ValidateHandle(p.GetUser()) != nil || p.GetLastSeenMs() < 0 {
		return Presence{}, false
	}
	return Presence{User: p.GetUser(), Online: p.GetOnline(), LastSeen: msTime(p.GetLastSeenMs())}, true
}

// pushQueue hands pushed presence to the application without blocking the
// read loop (which must keep reading replies). Presence is a snapshot, so
// when the application falls behind the oldest notices are dropped.
type pushQueue struct {
	mu      sync.Mutex
	pending []Event // guarded by mu
	running bool    // guarded by mu
}

// maxPendingPush bounds presence notices waiting for the application.
const maxPendingPush = 256

func (c *Client) pushEvent(ev Event) {
	q := &c.push
	q.mu.Lock()
	if len(q.pending) >= maxPendingPush {
		q.pending = q.pending[1:]
	}
	q.pending = append(q.pending, ev)
	if q.running {
		q.mu.Unlock()
		return
	}
	q.running = true
	q.mu.Unlock()
	go func() {
		for {
			q.mu.Lock()
			if len(q.pending) == 0 {
				q.running = false
				q.mu.Unlock()
				return
			}
			ev := q.pending[0]
			q.pending = q.pending[1:]
			q.mu.Unlock()
			c.emit(ev)
		}
	}()
}
