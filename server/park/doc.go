// Package park is the node's parking lot for idle connections: the Go form
// of Erlang's hibernate. A session whose connection has been silent for a
// while hands the lot its socket (a syscall.RawConn), a deadline and a wake
// function, and its reader goroutine exits. The lot watches every parked
// socket from one goroutine (Linux epoll, level-triggered, one-shot) and
// calls wake exactly once, on the lot's goroutine, when
//
//   - the socket is readable (a frame arrived, or the peer closed or reset),
//   - the deadline passed (checked by a coarse sweep, not one timer each),
//   - the socket was closed by someone else (noticed by a periodic recheck;
//     callers that close a parked connection should call Wake themselves,
//     which is immediate),
//   - Wake is called with the parking's ticket, or the lot closes.
//
// Events carry a ticket (slot index and generation), never the file
// descriptor number, so a stale event for a closed and reused descriptor
// cannot wake a session that parked later. Every epoll_ctl on a socket runs
// inside RawConn.Control, which keeps the descriptor from being closed (and
// its number reused) while the call runs.
//
// The lot owns its epoll instance, its slot table and its goroutine. It
// never reads, writes or closes a parked socket, and it knows nothing of
// sessions: what wake does is the caller's business (a session starts a
// fresh reader goroutine, which reads through Go's own netpoller). On other
// systems than Linux, New returns an error wrapping errors.ErrUnsupported
// and callers keep a goroutine per connection.
package park
