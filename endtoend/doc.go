// Package endtoend holds the end-to-end tests of Parley: they build the real
// `parley` binary once, run `parley serve` as a subprocess on real loopback
// sockets and a real data directory, and drive it with the real device
// commands (`register`, `send`, `recv`, `chat`, `history`, `safety`,
// `admin`), asserting only what a user or an operator could observe: command
// output, exit codes, bytes on the wire and bytes on disk.
//
// It owns the tests and their harness (node start/stop/kill, command runner,
// a recording TCP proxy). It must not reach into the node's or the SDK's
// internals — only the binary's documented interface, the public SDK and the
// transport package as a hostile client — and it must not change code under
// test: a failure caused by server/ or client/ is written up in BUGS.md.
//
// Run with `go test -race ./endtoend/` (about a minute on two cores);
// `-short` shrinks message counts but skips nothing. docs/testing.md
// describes every suite of the repository.
package endtoend
