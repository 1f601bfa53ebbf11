// Package memkv is an in-memory storage.Storage: for tests and for the wasm
// build until the browser gets a persistent store. It keeps a sorted slice
// of keys; it must not touch the file system.
package memkv
