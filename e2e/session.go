package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"time"
)

// Default bounds. They match libsignal's MAX_MESSAGE_KEYS, MAX_RECEIVER_CHAINS
// and ARCHIVED_STATES_MAX_LENGTH.
const (
	DefaultMaxSkip    = 2000
	maxReceiverChains = 5
	maxArchivedStates = 40
	// maxMessageLen bounds a serialised Ciphertext body; Parley's frames are
	// 64 KiB, so 1 MiB leaves room while rejecting absurd input early.
	maxMessageLen = 1 << 20
)

// Config carries the injectable parts of the protocol. The zero value is
// ready to use: crypto/rand, time.Now, KEM required, MaxSkip 2000.
type Config struct {
	Rand io.Reader        // nil: crypto/rand.Reader
	Now  func() time.Time // nil: time.Now
	// AllowNoKEM lets sessions start without the ML-KEM part (plain X3DH,
	// message version 3), both when processing a bundle and when accepting a
	// prekey message. Only for interop with peers that lack KEM prekeys.
	AllowNoKEM bool
	// MaxSkip bounds how far ahead of its chain a message may be (and how
	// many skipped message keys a chain keeps). 0 means DefaultMaxSkip.
	MaxSkip int
}

func (c Config) rand() io.Reader {
	if c.Rand == nil {
		return rand.Reader
	}
	return c.Rand
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c Config) maxSkip() uint32 {
	if c.MaxSkip <= 0 {
		return DefaultMaxSkip
	}
	return uint32(c.MaxSkip)
}

// MessageType is the libsignal CiphertextMessageType of a Ciphertext.
type MessageType int

const (
	// WhisperMessage is a SignalMessage (libsignal type 2).
	WhisperMessage MessageType = 2
	// PreKeyMessage is a PreKeySignalMessage (libsignal type 3): sent until
	// the first reply arrives, it lets the receiver start the session.
	PreKeyMessage MessageType = 3
)

func (t MessageType) String() string {
	switch t {
	case WhisperMessage:
		return "whisper"
	case PreKeyMessage:
		return "prekey"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

// Ciphertext is one encrypted 1:1 message. Body is the exact libsignal wire
// serialisation of the message of that Type.
type Ciphertext struct {
	Type MessageType
	Body []byte
}

// HasSession reports whether a usable (current) session with remote exists.
func HasSession(ctx context.Context, s Stores, remote Address) (bool, error) {
	rec, err := s.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return false, fmt.Errorf("has session %s: %w", remote, err)
	}
	return rec != nil && rec.current != nil && rec.current.hasSender, nil
}
