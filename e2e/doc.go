// Package e2e implements Parley's end-to-end encryption: the Signal protocol
// family (PQXDH session start with ML-KEM-1024, the Double Ratchet, Sender
// Keys for groups, numeric safety numbers) and media encryption, on Go's
// standard crypto plus filippo.io/edwards25519 for XEdDSA.
//
// Wire formats follow libsignal's wherever they overlap (0x05-prefixed
// Curve25519 keys, XEdDSA signatures as libsignal computes them, the version
// byte, protobuf SignalMessage / PreKeySignalMessage with an 8-byte truncated
// HMAC-SHA256), so the package can be tested against
// @signalapp/libsignal-client. docs/crypto.md describes the protocol as
// implemented: every KDF info string, layout and bound.
//
// The package owns cryptographic state and its serialisation only. It must
// not touch the network, the file system or the server: persistence goes
// through the store interfaces (IdentityStore, SessionStore, PreKeyStore,
// SignedPreKeyStore, KEMPreKeyStore, SenderKeyStore) that callers implement,
// and randomness and time come from Config. It builds for GOOS=js/wasm
// without cgo.
//
// Flow of a 1:1 session:
//
//	Alice                                   Bob
//	  fetch PreKeyBundle from the server
//	  ProcessPreKeyBundle (PQXDH, Alice side)
//	  Encrypt → Ciphertext{PreKeyMessage}  ─▶ Decrypt (PQXDH, Bob side, then ratchet)
//	  Decrypt ◀─ Ciphertext{WhisperMessage} ─ Encrypt
//
// Alice keeps sending PreKeyMessages until the first reply arrives, so Bob
// can start the session from whichever message reaches him first.
package e2e
