// Package server is a Parley node: server.New(cfg) wires the store (Pebble
// in cfg.DataDir), the node's Noise key, the router, the keys service and
// the admin API, binds the listeners, and node.Run serves until its context
// ends, under a suture supervisor tree.
//
// Where a frame goes:
//
//	listen.go        TCP accept loop → Noise handshake (transport) → session
//	http.go          /healthz, /readyz, /ws (WebSocket carrier → same session)
//	session/         the per-connection actor: one handler per frame type
//	router/          device address → live session; nudges
//	keys/            prekey upload, bundle fetch + rate limit, low-stock notices
//	admin/           admin HTTP API (invites, stats) on its own listener
//	expiry.go        supervised service deleting expired queue entries
//	ops.go           metrics, limits (Env.Wrap), frame counting, queue gauges
//	opsstore.go      store wrapper: queue figures and push notices on writes
//	operator.go      admin account/device/backup operations on the live node
//	metrics/ push/ limits/  Prometheus registry, push webhook, token buckets
//	servertest/      in-process node and raw frame client for tests and bench
//
// This package owns the wiring, the listeners, the node's key file and admin
// token, node-wide counters, and graceful shutdown. It must not decode
// frames or hold per-device state itself: that belongs to the session
// package and the store.
package server
