// Package keys is the node's keys service: it validates and stores the
// Signal prekeys a device uploads, hands out bundles (one one-time prekey
// and one KEM prekey consumed per bundle, through store.Keys.TakeBundle),
// rate-limits bundle fetches per requesting device with a token bucket, and
// reports when a fetch left a device's stock under the low-water mark.
//
// It owns the fetch rate limiter and nothing else. It must not touch
// sessions, connections or queues; telling a device its stock is low is the
// caller's job (the Notify hook), so the service works the same whether the
// device is on this node or not.
package keys
