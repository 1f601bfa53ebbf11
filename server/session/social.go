package session

import (
	"context"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/presence"
)

// Social is what linking, groups, presence and typing share across the
// node's sessions. The node builds it once (Env.Social).
type Social struct {
	Links    *Links
	Presence *presence.Registry
	// MaxCompanions bounds an account's linked devices besides device 1.
	MaxCompanions int
	// MaxGroupSize bounds a group's members, creator included.
	MaxGroupSize int
	// TypingRate and TypingBurst limit ephemeral sends per device.
	TypingRate  float64
	TypingBurst int
}

// maxPushes bounds the ephemeral frames (presence, typing) waiting for a
// session's pump; beyond it new ones are dropped: they are best-effort and
// a device that does not read should not grow the node's memory.
const maxPushes = 64

// mailbox is what other goroutines leave for a session besides nudges:
// ephemeral frames for the pump, and the account a pending link was
// approved for. Allocated on first use, guarded by Session.mu.
type mailbox struct {
	pushes [][]byte
	linked *protocol.Address
}

// socialState is the reader's own state for these features, allocated on
// first use, so an idle session without them pays one nil pointer.
type socialState struct {
	sub      *presence.Sub
	linkCode string
	typing   bucket
	contacts map[string]bool // peers already recorded as contacts
}

func (s *Session) soc() *socialState {
	if s.social == nil {
		s.social = &socialState{}
	}
	return s.social
}

func (s *Session) mailboxLocked() *mailbox {
	if s.mail == nil {
		s.mail = &mailbox{}
	}
	return s.mail
}

// push hands an ephemeral frame to the session's pump without blocking the
// caller (another session's reader, usually).
func (s *Session) push(f *pb.ServerFrame) {
	b, err := marshalFrame(f)
	if err != nil {
		s.env.Logger.Error("push", "err", err)
		return
	}
	s.mu.Lock()
	m := s.mailboxLocked()
	if len(m.pushes) >= maxPushes || s.closed {
		s.mu.Unlock()
		return
	}
	m.pushes = append(m.pushes, b)
	s.mu.Unlock()
	s.kick()
}

// takePushesLocked is the pump's share of the mailbox. mu must be held.
func (s *Session) takePushesLocked() [][]byte {
	if s.mail == nil || len(s.mail.pushes) == 0 {
		return nil
	}
	p := s.mail.pushes
	s.mail.pushes = nil
	return p
}

// socialOnline runs when the session becomes authenticated.
func (s *Session) socialOnline(ctx context.Context) {
	soc := s.env.Social
	if soc == nil || soc.Presence == nil {
		return
	}
	// Every authenticated session is counted online (bind calls this), so
	// socialClose goes by s.authed: an idle session then keeps no
	// socialState at all.
	if first, subs := soc.Presence.Connect(s.addr.User); first {
		s.announce(ctx, s.addr.User, true, 0, subs)
	}
}

// socialClose runs once when the session ends: its link code and
// subscriptions die with it, and its user may go offline.
func (s *Session) socialClose() {
	soc, st := s.env.Social, s.social
	if soc == nil {
		return
	}
	if st != nil && st.linkCode != "" && soc.Links != nil {
		soc.Links.drop(st.linkCode, s)
	}
	if soc.Presence == nil {
		return
	}
	if st != nil && st.sub != nil {
		soc.Presence.Unsubscribe(st.sub)
	}
	if !s.authed { // socialOnline ran at bind for every authenticated session
		return
	}
	// Last seen is written before the user can be seen offline: a snapshot
	// taken between the two would otherwise say offline, last seen never.
	// Another device may still be online; its own close writes again.
	ctx := context.Background()
	now := s.env.Now()
	if err := s.env.Store.SetLastSeen(ctx, s.addr.User, now); err != nil {
		s.env.Logger.Warn("last seen", "user", s.addr.User, "err", err)
	}
	if last, subs := soc.Presence.Disconnect(s.addr.User); last {
		s.announce(ctx, s.addr.User, false, now.UnixMilli(), subs)
	}
}

// bucket is a token bucket owned by one goroutine.
type bucket struct {
	tokens float64
	last   time.Time
}

// take spends one token, refilled at rate per second up to burst; it
// returns how long to wait when none is left.
func (b *bucket) take(now time.Time, rate float64, burst int) (bool, time.Duration) {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / rate * float64(time.Second))
}
