package bench

import "errors"

var (
	// ErrGroupsUnavailable is returned by Group: the node has no groups
	// until issue 4 lands, and a one-recipient fan-out would measure
	// something else.
	ErrGroupsUnavailable = errors.New("bench: group fan-out is not implemented yet; use go test ./server -bench GroupFanout")
	// ErrBadConfig reports a scenario configuration out of range.
	ErrBadConfig = errors.New("bench: bad configuration")
	// ErrWorker reports a worker process that failed or broke the
	// worker protocol.
	ErrWorker = errors.New("bench: worker failed")
	// ErrNode reports a node that refused or dropped the load.
	ErrNode = errors.New("bench: node error")
)
