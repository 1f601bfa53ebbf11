package session

import (
	"errors"

	"github.com/parley-im/parley/protocol/pb"
)

// ErrBadFrame is wrapped by DecodeClientFrame for every frame it refuses.
var ErrBadFrame = errors.New("session: bad frame")

// goodbye is a handler result that ends the session: the node says Goodbye
// with code and reason, then closes. Errors that are the client's fault but
// keep the connection are *protocol.Error instead.
type goodbye struct {
	code   pb.ErrorCode
	reason string
}

func (g *goodbye) Error() string { return "session: goodbye " + g.code.String() + ": " + g.reason }

func bye(code pb.ErrorCode, reason string) error { return &goodbye{code: code, reason: reason} }

// errClosed ends a handler that found the session already closing (by Kick
// or a failed write): there is nobody left to answer.
var errClosed = errors.New("session: closed")
