// Package store defines what a Parley node keeps on disk: accounts and their
// devices, Signal prekeys, invites and the per-device message queues. It holds
// the interfaces, the shared types and the sentinel errors only; the
// implementations live in subpackages (pebble, the embedded default) and every
// implementation must pass the conformance suite in store/storetest.
//
// The store never sees plaintext: queue payloads are opaque bytes that the
// router built from ciphertext envelopes. It must not import the server, the
// SDK or the transport.
package store
