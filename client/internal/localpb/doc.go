// Package localpb holds the protobuf records the SDK stores on the device
// (account, pinned server key, device lists, history). Generated code is
// committed; regenerate with `go generate ./...`. No logic lives here: the
// client package owns bounds and parsing rules.
package localpb
