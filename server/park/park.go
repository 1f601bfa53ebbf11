package park

import (
	"errors"
	"time"
)

// Slot is a caller's place in the lot, allocated by its first Park and
// kept across parkings until Free, so that only its owner can wake what is
// parked in it. The zero Slot means none.
type Slot uint32

// ticket names one parking: a slot and the slot's parking count. Events
// and the deadline sweep carry tickets, so a stale one is recognised.
type ticket uint64

// ErrClosed is returned by Park once the lot is closed.
var ErrClosed = errors.New("park: lot closed")

// Options tune the lot's clocks.
type Options struct {
	// Resolution is how often deadlines are checked: a parking ends at most
	// this much after its deadline. Default 1 s.
	Resolution time.Duration
	// Recheck is how often a parked socket is checked for having been
	// closed by someone who did not call Wake. Default 1 min.
	Recheck time.Duration
}

func (o Options) withDefaults() Options {
	if o.Resolution <= 0 {
		o.Resolution = time.Second
	}
	if o.Recheck <= 0 {
		o.Recheck = time.Minute
	}
	o.Recheck = max(o.Recheck, o.Resolution)
	return o
}

func mkTicket(idx, gen uint32) ticket { return ticket(uint64(idx)<<32 | uint64(gen)) }

func (t ticket) split() (idx, gen uint32) { return uint32(t >> 32), uint32(t) }
