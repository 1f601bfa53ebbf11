// Package protocol is Parley's wire protocol as code: the version, the frame
// limits, device addresses, handle rules and typed protocol errors. Both the
// node (server/...) and the SDK (client/...) import it; it must never import
// either of them, nor anything OS-specific, so the SDK still builds for wasm.
//
// # Protocol flow
//
//  1. The device opens TCP (or a WebSocket at /ws) and runs a Noise handshake
//     (package transport). Its Noise static key is its device key.
//  2. The node sends Welcome: whether that key belongs to an account.
//  3. An unknown device may only send Register (with its Signal keys); a
//     known one may send anything else. Each request carries a non-zero id
//     that the reply echoes.
//  4. Send puts one ciphertext per recipient device into durable queues and
//     is answered with SendAck (first tick) only once they are on disk.
//  5. The node pushes Deliver frames from the device's queue in order, then
//     QueueDrained once the backlog is out; the device answers DeliveryAck,
//     which deletes the entries and sends a DELIVERED receipt back to the
//     sender (second tick). Read receipts are end-to-end encrypted Content.
//  6. Either side may close; the node says Goodbye with a reason first.
//
// # Versions
//
//	1 (2026-11-29): first version: registration, keys, one-to-one messages,
//	  delivery receipts.
package protocol
