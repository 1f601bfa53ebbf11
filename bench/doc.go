// Package bench is the load generator behind `parley bench`: it drives a
// node over the real protocol (Noise IK handshakes, registered device keys,
// real frames) and measures what the node costs per connection, per
// handshake and per message, reading the node's side from /proc and from
// its admin API.
//
// The client here is deliberately not the SDK: an idle benchmark connection
// is a socket, a transport.Conn with its ciphers released and one slice
// slot — no goroutine, no buffer — so one worker process holds thousands.
// Connection-heavy runs spread over worker processes (the same binary
// re-executed, talking JSON lines over stdin/stdout) so each stays under
// the per-process open-file limit, and dial from many loopback source
// addresses (127.0.P.2 …) so ephemeral ports never run out.
//
// The node and the load generator share the machine's cores, so the
// client's own CPU per message (bench_cpu_us_per_msg) is kept small: the
// traffic frames are encoded and decoded with protowire into reused
// buffers (wire.go), open-loop Sends are written by one pacer goroutine
// per CPU rather than a timer per sender, and a closed-loop sender refills
// its window from its reader, in the same write as the DeliveryAck.
// --cpuprofile (Common.CPUProfile) profiles it.
//
// Every scenario is bounded in count and time and returns a Result: a
// human table plus one JSON line of snake_case figures with their units in
// the key names.
//
// The package owns no node code: it must not import server/session or
// store, and it reaches a node under load only through its listeners, its
// admin API, /metrics and /proc. Spawning a node means running the binary
// again as a child (`parley bench node`: server.New with the abuse limits
// off, see NodeConfig), so the node's CPU and memory are its own.
package bench
