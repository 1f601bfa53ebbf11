// Package interop proves that package e2e speaks the Signal protocol as
// Signal's own libsignal does: its tests drive @signalapp/libsignal-client
// (a Node process running harness/device.js) as the peer of an e2e device and
// check that each side decrypts the other's messages, group messages and
// safety numbers.
//
// It owns only that test and its Node harness; it has no non-test code and
// must not be imported. It must not change package e2e: wire-format
// differences found here are written to MISMATCHES.md. DECISION.md records
// which libsignal releases are pinned and why.
//
// Run it with
//
//	npm ci --prefix e2e/interop/harness && go test ./e2e/interop/
//
// Without node on PATH or without harness/node_modules the tests skip and
// say which command installs what is missing.
package interop
