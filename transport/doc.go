// Package transport owns Parley's encrypted channel between a device and a
// node: the Noise handshake (Noise_XX_25519_AESGCM_SHA256 on first contact,
// Noise_IK_25519_AESGCM_SHA256 once the client has pinned the node's key),
// the device and node static keys and their text forms, and the
// length-prefixed encrypted frames that follow the handshake.
//
// The package sees frames only as opaque byte slices: it must not decode
// protobuf, know about sessions, accounts or queues, or touch the store. The
// carrier underneath is any net.Conn (TCP, or a WebSocket adapted by package
// transport/ws), so the node and the SDK use the same code for both.
//
// # Wire format
//
// Every record on the wire — handshake messages and transport frames alike —
// is a 3-byte big-endian length followed by that many bytes. Three bytes are
// needed because a full frame (protocol.MaxFrameSize plaintext plus the
// 16-byte GCM tag) does not fit a 2-byte length.
//
// The client's first record starts with a pattern byte (PatternXX or
// PatternIK) followed by the first Noise message. The pattern byte is also
// part of the Noise prologue ("parley/1" followed by the pattern byte), so a
// changed byte makes the handshake fail instead of silently switching
// patterns. The server either answers with the next Noise message or, when it
// cannot accept the first record, with a 1-byte rejection record
// (rejectIKDecrypt, rejectUnsupported) and closes. docs/protocol.md
// ("## Transport") is the normative description.
//
// # Memory
//
// An idle Conn holds no read or write buffer: buffers come from size-classed
// sync.Pools while a frame is in flight and go back as soon as it is done
// (for ReadFrame: at the next ReadFrame call, i.e. before it blocks). The
// expanded AES-GCM state of each direction (about 0.8 KiB) is cached while
// the connection is busy; Conn.ReleaseCiphers drops it for idle connections
// and the next frame rebuilds it from the 32-byte key, so an idle Conn costs
// about 240 bytes of heap.
package transport
