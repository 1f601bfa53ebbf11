// Package pebblekv is the on-disk storage.Storage of the CLI and other
// native apps: one Pebble database in one directory, every batch synced.
// Only one process may open a directory at a time; a second one gets
// ErrLocked. It must not import the SDK core (the core imports nothing of
// it, so the wasm build stays free of Pebble).
package pebblekv
