package server

import (
	"fmt"
	"time"

	"github.com/parley-im/parley/server/presence"
	"github.com/parley-im/parley/server/session"
)

// Typing limits per device: 5 notices a second, bursts of 10.
const (
	typingRate  = 5
	typingBurst = 10
)

func (c *Config) socialDefaults() error {
	if c.MaxCompanions == 0 {
		c.MaxCompanions = 4
	}
	if c.MaxGroupSize == 0 {
		c.MaxGroupSize = 1024
	}
	if c.LinkCodeTTL == 0 {
		c.LinkCodeTTL = 10 * time.Minute
	}
	if c.MaxCompanions < 0 || c.MaxGroupSize < 2 || c.LinkCodeTTL < 0 {
		return fmt.Errorf("%w: MaxCompanions, MaxGroupSize and LinkCodeTTL must be positive (group size at least 2)", ErrBadConfig)
	}
	return nil
}

// newSocial builds what linking, groups, presence and typing share.
func newSocial(cfg Config) *session.Social {
	return &session.Social{
		Links:         session.NewLinks(cfg.LinkCodeTTL, cfg.Now),
		Presence:      presence.New(),
		MaxCompanions: cfg.MaxCompanions,
		MaxGroupSize:  cfg.MaxGroupSize,
		TypingRate:    typingRate,
		TypingBurst:   typingBurst,
	}
}
