package client_test

import (
	"testing"
)

// BenchmarkSendReceive measures one message SDK → node → SDK: encrypt,
// store locally, durable queue on the node (first tick), deliver, decrypt,
// store, acknowledge. Both devices keep their state in memory so the
// figure is the protocol path, not the device's disk.
func BenchmarkSendReceive(b *testing.B) {
	n := startNode(b)
	alice, bob := memDevice(b, n), memDevice(b, n)
	register(b, alice, "alice")
	register(b, bob, "bob")
	ctx := ctxT(b)
	// Start the session outside the timed loop.
	if _, err := alice.Send(ctx, "bob", "warm up"); err != nil {
		b.Fatal(err)
	}
	bob.nextMessage(b)
	alice.discardEvents()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := alice.Send(ctx, "bob", "benchmark message"); err != nil {
			b.Fatal(err)
		}
		bob.nextMessage(b)
	}
}
