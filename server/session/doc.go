// Package session is the per-connection actor: after the Noise handshake the
// node hands a Session the connection, and the Session's Run goroutine owns
// it until it closes. Run reads frames, decodes them, and dispatches each to
// one handler per frame type (handlers.go), with the checks every handler
// needs (a request id, an authenticated device) wrapped around it.
//
// # Ownership
//
// Two goroutines may act for a session, never more:
//
//   - Run (the reader): the only goroutine that reads the connection and runs
//     handlers. It owns key, addr and authed; addr and authed are written
//     once, before the pump can first start, and are read-only after that.
//   - the pump (pump.go): a short-lived goroutine started by kick when the
//     device's queue may hold something to send (a nudge from the router, an
//     ack that opened the window, the connect-time backlog, a pending
//     notice). At most one pump runs per session; it exits when the queue is
//     drained or the window is full. Fields it shares with the reader and with
//     other goroutines (the mailbox flags and the delivery window) are
//     guarded by mu.
//
// Other goroutines (the router, the keys service, the node at shutdown) reach
// a session only through Nudge, PrekeysLow and Kick, which set a flag under
// mu and start a pump or close the connection; they never block on the
// session. An idle session is therefore one goroutine parked in ReadFrame
// plus this struct: no buffer, no channel, no timer beyond the connection's
// read deadline.
//
// Writes to the connection may come from the reader (replies), the pump
// (Deliver, notices) and Kick (Goodbye); the transport's WriteFrame is safe
// for concurrent use, so no session lock is held while writing.
//
// A panic in a handler or a pump is recovered, logged with the device
// address, counted through Env.OnPanic and ends only this session.
//
// The package must not accept connections, own listeners, or know about
// other sessions except through the router.
package session
