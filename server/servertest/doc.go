// Package servertest starts real Parley nodes in-process (real Pebble store
// in a temporary directory, real listeners on 127.0.0.1:0) and speaks raw
// frames to them over real Noise connections. Tests of the node and the
// load generator (`parley bench`) share it, so RawConn has error-returning
// methods usable without a *testing.T and thin Must* helpers for tests.
//
// It owns no node state: it only drives a node through its public API and
// the wire protocol. It must not be imported by non-test node code.
package servertest
