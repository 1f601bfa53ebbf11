package bench

import "errors"

var (
	// ErrBadConfig reports a scenario configuration out of range.
	ErrBadConfig = errors.New("bench: bad configuration")
	// ErrWorker reports a worker process that failed or broke the
	// worker protocol.
	ErrWorker = errors.New("bench: worker failed")
	// ErrNode reports a node that refused or dropped the load.
	ErrNode = errors.New("bench: node error")
)
