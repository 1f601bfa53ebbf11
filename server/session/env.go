package session

import (
	"context"
	"log/slog"
	"time"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server/keys"
	"github.com/parley-im/parley/server/park"
	"github.com/parley-im/parley/server/router"
	"github.com/parley-im/parley/store"
)

// Env is what every session of a node shares. The node builds it once;
// it is never modified after the first session starts.
type Env struct {
	Store  store.Store
	Router *router.Router
	Keys   *keys.Service
	Logger *slog.Logger
	Now    func() time.Time

	// Registration is "open" or "invite".
	Registration string
	// QueueTTL is how long a queued entry waits for its device.
	QueueTTL time.Duration
	// IdleTimeout closes a connection that sent no frame for this long.
	IdleTimeout time.Duration
	// IdleRelease is how long a connection may go without a frame before
	// its reader drops the cipher state and restarts on a fresh, small
	// stack (resumable carriers only, see Session.Serve). Zero disables it.
	IdleRelease time.Duration
	// Parker, if set, holds connections idle past IdleRelease without a
	// goroutine (Carrier.Raw only): the node's parking lot.
	Parker *park.Lot
	// WriteTimeout bounds one write, so a device that stops reading cannot
	// pin a pump forever.
	WriteTimeout time.Duration
	// DeliveryWindow is the most Deliver frames unacknowledged at once.
	DeliveryWindow int
	// Media grants upload slots (media.go); nil refuses them.
	Media MediaSlots
	// Social serves linking, groups, presence and typing (social.go); nil
	// refuses them.
	Social *Social

	// Wrap, if set, wraps every frame handler (after the built-in checks):
	// the hook for metrics and for tests.
	Wrap func(Handler) Handler
	// OnPanic is called after a panic in a handler or pump was recovered.
	OnPanic func()
	// OnAuth and OnClose track authenticated sessions for node stats; OnAuth
	// also lets the node drop what it kept only for unauthenticated
	// sessions (the client IP, for the registration limit).
	OnAuth  func(*Session)
	OnClose func()
}

// Handler handles one frame of one type. It returns nil after writing its
// reply, a *protocol.Error to answer with Error (the connection stays), or
// another error: a goodbye closes the connection, anything else is logged
// and answered with INTERNAL.
type Handler func(ctx context.Context, s *Session, f *pb.ClientFrame) error
