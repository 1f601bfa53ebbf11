// Package storage defines the small ordered key-value store the SDK keeps a
// device's state in (keys, Signal sessions, history), so that the SDK core
// never touches files or databases itself and builds for GOOS=js/wasm.
// Implementations live in subpackages (memkv in memory, pebblekv on disk) and
// all pass the conformance suite in storagetest. It must not import the SDK,
// the server or anything OS-specific.
package storage
