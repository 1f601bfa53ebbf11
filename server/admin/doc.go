// Package admin is the node's operator API: HTTP + JSON on the admin
// listener, every request authenticated with the bearer token the node keeps
// in its data directory. Endpoints (v1): POST/GET /v1/invites,
// DELETE /v1/invites/{code}, GET /v1/stats, GET /v1/accounts,
// GET|DELETE /v1/accounts/{handle}, POST /v1/accounts/{handle}/disable|enable,
// DELETE /v1/accounts/{handle}/devices/{id}, POST /v1/backup, and Go's
// pprof under /debug/pprof/ (only here, behind the token). Client is the
// matching Go client that `parley admin` uses.
//
// It owns the admin HTTP surface and invite-code generation. It must not
// touch sessions, queues or keys directly: it reads node figures through the
// Stats function it is given and changes state only through store.Invites
// and the Operator the node gives it (operator.go).
package admin
