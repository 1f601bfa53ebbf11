//go:build !linux

package park

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Lot is unavailable on this system: New fails and callers keep a
// goroutine per connection.
type Lot struct{}

// New returns an error wrapping errors.ErrUnsupported.
func New(Options) (*Lot, error) {
	return nil, fmt.Errorf("park: %w: needs Linux epoll", errors.ErrUnsupported)
}

// Park always fails.
func (*Lot) Park(Slot, syscall.RawConn, time.Time, func()) (Slot, error) { return 0, ErrClosed }

// Wake reports false: nothing is ever parked.
func (*Lot) Wake(Slot) bool { return false }

// Free does nothing.
func (*Lot) Free(Slot) {}

// Parked is zero.
func (*Lot) Parked() int { return 0 }

// Close does nothing.
func (*Lot) Close() error { return nil }
