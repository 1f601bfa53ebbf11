package server

import (
	"fmt"
	"time"
)

// limitDefaults fills and checks the limit and push fields of Config.
func (c *Config) limitDefaults() error {
	defI := func(i *int, v int) {
		if *i == 0 {
			*i = v
		}
	}
	defI(&c.MaxConnections, 100000)
	defI(&c.SendRate, 3000)
	defI(&c.SendBurst, 500)
	defI(&c.RegisterRate, 10)
	defI(&c.MaxFanout, 5120) // a full default group (1,024 members) with every member on 5 devices
	defI(&c.MaxQueue, 10000)
	if c.PushWindow == 0 {
		c.PushWindow = 500 * time.Millisecond
	}
	switch {
	case c.PushWindow < 0:
		return fmt.Errorf("%w: push window must not be negative", ErrBadConfig)
	case c.PushURL != "" && !validPublicURL(c.PushURL):
		return fmt.Errorf("%w: push URL %q: want http(s)://host[:port]/path", ErrBadConfig, c.PushURL)
	case c.PushURL != "" && c.PushSecret == "":
		return fmt.Errorf("%w: push URL set without a push secret", ErrBadConfig)
	case c.MaxFanout > maxFanoutCap:
		return fmt.Errorf("%w: max fan-out %d exceeds %d", ErrBadConfig, c.MaxFanout, maxFanoutCap)
	}
	return nil
}

// maxFanoutCap is what one store batch may carry (pebble.MaxEnqueueEntries).
const maxFanoutCap = 10000

// limited reports whether a limit value is on (negative turns it off).
func limited(v int) bool { return v > 0 }
