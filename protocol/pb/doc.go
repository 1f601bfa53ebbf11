// Package pb holds the code protoc generates from parley.proto (the frames a
// device and a node exchange) and content.proto (what devices encrypt end to
// end). Run `go generate ./protocol/...` after editing a .proto file; never
// edit the .pb.go files by hand. Hand-written helpers live in package
// protocol, one level up.
package pb
