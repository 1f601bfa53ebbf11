// Package admin is the node's operator API: HTTP + JSON on the admin
// listener, every request authenticated with the bearer token the node keeps
// in its data directory. Endpoints (v1): POST/GET /v1/invites,
// DELETE /v1/invites/{code}, GET /v1/stats. Client is the matching Go client
// that `parley admin` uses.
//
// It owns the admin HTTP surface and invite-code generation. It must not
// touch sessions, queues or keys directly: it reads node figures through the
// Stats function it is given and changes state only through store.Invites.
package admin
