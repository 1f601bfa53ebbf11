package server

import "errors"

// ErrBadConfig is wrapped by New when a Config field is invalid.
var ErrBadConfig = errors.New("server: bad config")
