package transport

import (
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// processCPU is user+system CPU of the whole process (both ends of a
// loopback pair live in it).
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoopbackWrite is the floor under every frame: one small Write
// on a loopback TCP socket and the Read that takes it, without Noise,
// protobuf or the node (cpu-ns/op counts both ends and the kernel). A
// one-to-one message costs the node at least one of these in (Send) and
// one out (Deliver) unless frames of many messages share a syscall; the
// issue-6 notes in docs/benchmarks.md compare it with the node's CPU per
// message.
func BenchmarkLoopbackWrite(b *testing.B) {
	for _, size := range []int{200, 4096} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			done := make(chan error, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					done <- err
					return
				}
				defer c.Close()
				buf := make([]byte, size)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						done <- nil
						return
					}
				}
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			b.ResetTimer()
			start := processCPU(b)
			for range b.N {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			c.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
