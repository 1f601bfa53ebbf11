// Package client is the Parley SDK: what a device runs. It registers the
// device (Noise device key, Signal identity and prekeys), connects to a node
// over the Noise transport, sends end-to-end-encrypted messages with
// per-device fan-out, receives and acknowledges them exactly once, tracks
// ticks (sent, delivered, read) and keeps the conversation history on the
// device, which is the source of truth.
//
// It also runs groups (Sender Keys distributed pairwise, one ciphertext
// per group send fanned out by the node, rotation on removal; group.go,
// group_send.go, group_recv.go), linked companion devices and the
// account's signed device list, which it verifies before encrypting to
// any device (link.go, devicelist.go), and presence and typing
// (presence.go).
//
// The core builds for GOOS=js/wasm: it reaches the outside world only
// through two interfaces, Storage (an ordered key-value store with atomic
// batches; see package storage and its memkv and pebblekv implementations)
// and Dialer (a net.Conn to the node: TCP natively, WebSocket in a browser).
// It must not import the server, Pebble, or os/file APIs.
//
// # Life of a message on the device
//
//	Send: encrypt for every device of the peer and every other own device,
//	      store the ratchet state and a PENDING history item in one batch,
//	      then send; SendAck → SENT (✓); DELIVERED receipt → ✓✓; an
//	      end-to-end ReadReceipt → READ. The same batch puts the message in
//	      the outbox (outbox.go): a send that ends without SendAck or a
//	      refusal goes again, same id, each time the device connects.
//	Receive: decrypt a Deliver, store the message, the new session state and
//	      its id in the seen-set in one batch, then acknowledge. A crash in
//	      between causes a redelivery that the seen-set drops.
//
// All state-changing work on Signal sessions and history is serialised by
// one mutex (Client.cryptoMu), so a batch never interleaves with another.
package client
