// Package session is the per-connection actor: after the Noise handshake the
// node hands a Session the connection, and the Session's Run goroutine owns
// it until it closes. Run reads frames, decodes them, and dispatches each to
// one handler per frame type (handlers.go), with the checks every handler
// needs (a request id, an authenticated device) wrapped around it.
//
// # Ownership
//
// Up to four goroutines act for a session, each with its own part:
//
//   - the reader: the only goroutine that reads the connection and runs
//     handlers. It owns key, addr and authed; addr and authed are written
//     once, before the pump can first start, and are read-only after that.
//     Serve runs the handshake's Welcome on the goroutine that accepted the
//     connection and then starts the reader on a fresh goroutine. After
//     Env.IdleRelease without a frame the reader drops the connection's
//     cipher state (TCP only) and hibernates: it parks the socket in the
//     node's parking lot (Env.Parker, package park: one epoll set for the
//     node) and its goroutine exits. The lot starts a fresh reader when the
//     socket is readable (a frame, or the peer closing), when the idle
//     timeout has passed, or when closeConn (Kick, Goodbye) wakes it; that
//     reader learns which by reading, so a frame, EOF and IDLE_TIMEOUT are
//     handled exactly as for a reader that never parked. Without a lot (not
//     Linux) the reader continues on another fresh goroutine instead, whose
//     stack is back at the minimum. Either way exactly one reader exists at
//     a time, and its own state (idle clock, released flag, socket) travels
//     with it as a value (in the lot's wake function while parked), not in
//     the Session.
//   - the pump (pump.go): a short-lived goroutine started by kick when the
//     device's queue may hold something to send (a nudge from the router, an
//     ack that opened the window, the connect-time backlog, a pending
//     notice). At most one pump runs per session; it exits when the queue is
//     drained or the window is full, and writes each batch of Deliver
//     frames with one WriteFrames call.
//   - the acker (inflight.go): a short-lived goroutine that exists while
//     Sends are in flight. The reader validates a Send, hands its entries
//     to the store (EnqueueAsync, which fixes their queue order) and reads
//     on; the acker waits for the store in that same order, writes every
//     SendAck that is ready with one WriteFrames call and nudges the
//     targets. At most maxInflightSends are in flight; beyond that the
//     reader waits, which is the back-pressure on a device that sends
//     faster than the disk syncs.
//
// Fields shared between them (the mailbox flags, the delivery window, the
// in-flight Sends) are guarded by mu. Other goroutines (the router, the keys
// service, the node at shutdown) reach a session only through Nudge,
// PrekeysLow and Kick, which set a flag under mu and start a pump or close
// the connection; they never block on the session. When the session ends,
// the reader waits for the pump and the acker (workers) before calling the
// node's done callback. An idle TCP session is therefore this struct and a
// slot in the parking lot: no goroutine, no buffer, no channel, no timer of
// its own, no cipher state once IdleRelease has passed. Writes need no
// reader, so the pump delivers to a parked session. Whoever closes the
// connection of a possibly parked session should use closeConn, which wakes
// the reader to end the session; a bare conn.Close is noticed by the lot's
// periodic recheck (a minute) or the idle timeout instead.
//
// Writes to the connection may come from the reader (replies), the pump
// (Deliver, notices), the acker (SendAck) and Kick (Goodbye); the
// transport's WriteFrame is safe for concurrent use, so no session lock is
// held while writing. Consequently SendAck may follow replies to later
// requests; clients match replies by reply_to.
//
// A panic in a handler or a pump is recovered, logged with the device
// address, counted through Env.OnPanic and ends only this session.
//
// The package must not accept connections, own listeners, or know about
// other sessions except through the router.
package session
