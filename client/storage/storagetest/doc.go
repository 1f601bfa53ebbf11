// Package storagetest is the conformance suite every storage.Storage
// implementation must pass. It holds tests only; no implementation.
package storagetest
