package blobtest

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/parley-im/parley/blob"
)

// Benchmark measures streaming Put and full-blob Open throughput (MB/s via
// b.SetBytes) for 1 MiB and 32 MiB blobs.
func Benchmark(b *testing.B, newStore func(testing.TB) blob.Backend) {
	for _, size := range []int64{1 * mib, 32 * mib} {
		b.Run(fmt.Sprintf("Put/%dMiB", size/mib), func(b *testing.B) {
			s := newStore(b)
			b.SetBytes(size)
			for i := 0; b.Loop(); i++ {
				if err := s.Put(context.Background(), fmt.Sprintf("bench-%d", i), newGen(1, size), size); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("Open/%dMiB", size/mib), func(b *testing.B) {
			s := newStore(b)
			if err := s.Put(context.Background(), "bench", newGen(1, size), size); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(size)
			for b.Loop() {
				rc, _, err := s.Open(context.Background(), "bench", 0, -1)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
		})
	}
}
