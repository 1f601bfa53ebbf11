// Package signalpb holds the protobuf messages of package e2e: the libsignal
// wire messages (wire.proto) and Parley's local storage records
// (storage.proto, senderkey.proto). Generated code is committed; regenerate
// with `go generate ./...` (needs protoc and protoc-gen-go on PATH).
// It must not contain logic: parsing rules and bounds live in package e2e.
package signalpb

//go:generate sh -c "protoc --proto_path=. --go_out=. --go_opt=paths=source_relative *.proto"
