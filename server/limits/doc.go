// Package limits holds the node's abuse limits that are not tied to one
// service: a generic token bucket keyed by whatever is being limited (a
// device address, a client IP). The node wires the buckets to the frames
// they guard (server/limit.go); the keys service keeps its own bucket for
// bundle fetches.
//
// It owns only counting. It must not know about frames, sessions or the
// store, and it never blocks: a refusal comes back with how long to wait.
package limits
