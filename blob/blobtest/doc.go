// Package blobtest is the conformance suite for blob.Backend
// implementations: every store runs Run (and may run Benchmark) against a
// fresh instance. It owns only test logic; it must not reach into any
// store's internals, so a store that passes here is fit for the node.
package blobtest
