package pebble

import "errors"

// ErrTooLarge is returned by Enqueue for a payload over Options.MaxPayload.
// The store's own sentinels (store.ErrNotFound, store.ErrClosed, …) are
// wrapped as documented in package store.
var ErrTooLarge = errors.New("pebble store: payload too large")

// ErrInvalid is returned for arguments no store could accept (empty handle,
// device id 0, nil entry, non-positive read limit, primary device not 1).
var ErrInvalid = errors.New("pebble store: invalid argument")
