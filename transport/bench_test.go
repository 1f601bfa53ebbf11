package transport

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/flynn/noise"
)

// cpuTime is the process's user+system CPU time. The machine is shared, so
// benchmarks report CPU per op next to wall time per op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, ops int) {
	b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(ops), "cpu-ns/op")
}

func benchHandshake(b *testing.B, pinned bool) {
	devKey, nodeKey := newKey(b), newKey(b)
	ccfg := ClientConfig{Key: devKey}
	if pinned {
		pub := nodeKey.Public()
		ccfg.ServerKey = &pub
	}
	scfg := ServerConfig{Key: nodeKey}
	ctx := context.Background()
	b.ReportAllocs()
	start, ops := cpuTime(), 0
	for b.Loop() {
		ops++
		a, s := net.Pipe()
		errc := make(chan error, 1)
		go func() {
			c, err := Server(ctx, s, scfg)
			if err == nil {
				c.Close()
			}
			errc <- err
		}()
		c, err := Client(ctx, a, ccfg)
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, start, ops)
}

// Both sides of a handshake per op, over net.Pipe (no syscalls).
func BenchmarkHandshakeXX(b *testing.B) { benchHandshake(b, false) }
func BenchmarkHandshakeIK(b *testing.B) { benchHandshake(b, true) }

// BenchmarkWriteReadFrame seals and opens one frame per op through an
// in-memory carrier: the transport's own cost without syscalls. "cached"
// is a busy connection; "released" calls ReleaseCiphers before every frame,
// the worst case of a node releasing ciphers of idle connections.
func BenchmarkWriteReadFrame(b *testing.B) {
	for _, size := range []int{100, 4096} {
		for _, release := range []bool{false, true} {
			name := fmt.Sprintf("%dB/cached", size)
			if release {
				name = fmt.Sprintf("%dB/released", size)
			}
			b.Run(name, func(b *testing.B) {
				var key [32]byte
				var wire bytes.Buffer
				nc := &streamConn{r: &wire, w: &wire}
				w, r := &Conn{nc: nc}, &Conn{nc: nc}
				w.tx.key, r.rx.key = key, key
				p := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				start, ops := cpuTime(), 0
				for b.Loop() {
					ops++
					if release {
						w.ReleaseCiphers()
						r.ReleaseCiphers()
					}
					if err := w.WriteFrame(p); err != nil {
						b.Fatal(err)
					}
					if _, err := r.ReadFrame(); err != nil {
						b.Fatal(err)
					}
				}
				reportCPU(b, start, ops)
			})
		}
	}
}

var idleConns = flag.Int("idleconns", 10000, "connections for BenchmarkIdleConnMemory")

// BenchmarkIdleConnMemory holds many established, idle connections and
// reports what they cost: the Conn itself (heap after the handshake,
// carrier excluded) and a goroutine parked in ReadFrame per server Conn, as
// the node's session does. Run with -benchtime=1x; it measures once.
func BenchmarkIdleConnMemory(b *testing.B) {
	b.Run("pipe", func(b *testing.B) { idleMemory(b, *idleConns, pipePair) })
	// Socketpairs use two descriptors per pair and this machine caps a
	// process at 20,000 files, so they are measured at a smaller count.
	b.Run("socketpair", func(b *testing.B) { idleMemory(b, min(*idleConns, 4000), socketPair) })
}

func pipePair(b *testing.B) (net.Conn, net.Conn) { return net.Pipe() }

func socketPair(b *testing.B) (net.Conn, net.Conn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	conn := func(fd int) net.Conn {
		f := os.NewFile(uintptr(fd), "socketpair")
		defer f.Close() // FileConn dups the descriptor
		c, err := net.FileConn(f)
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	return conn(fds[0]), conn(fds[1])
}

func liveHeap() (heap, stack uint64) {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse
}

func idleMemory(b *testing.B, n int, pair func(*testing.B) (net.Conn, net.Conn)) {
	for b.Loop() {
		devKey, nodeKey := newKey(b), newKey(b)
		carriers := make([][2]net.Conn, n)
		for i := range carriers {
			carriers[i][0], carriers[i][1] = pair(b)
		}
		clients := make([]*Conn, n)
		servers := make([]*Conn, n)
		heapCarriers, stackCarriers := liveHeap()

		for i := range carriers {
			ch := make(chan hsResult, 1)
			go func() {
				c, err := Server(context.Background(), carriers[i][1], ServerConfig{Key: nodeKey})
				if err == nil {
					// One frame each way, as after a login exchange.
					_, err = c.ReadFrame()
					if err == nil {
						err = c.WriteFrame([]byte("welcome"))
					}
				}
				ch <- hsResult{c, err}
			}()
			c, err := Client(context.Background(), carriers[i][0], ClientConfig{Key: devKey})
			if err != nil {
				b.Fatal(err)
			}
			if err := c.WriteFrame([]byte("hello")); err != nil {
				b.Fatal(err)
			}
			if _, err := c.ReadFrame(); err != nil {
				b.Fatal(err)
			}
			r := <-ch
			if r.err != nil {
				b.Fatal(r.err)
			}
			clients[i], servers[i] = c, r.c
		}

		// Park a reader per server Conn as the node's session does; this
		// also returns the buffer of the last frame read.
		done := make(chan struct{}, n)
		for _, s := range servers {
			go func() {
				_, _ = s.ReadFrame()
				done <- struct{}{}
			}()
		}
		for range 10 {
			runtime.Gosched()
		}
		heapCached, stack := liveHeap()
		for i := range servers {
			servers[i].ReleaseCiphers()
			clients[i].ReleaseCiphers()
		}
		heapReleased, _ := liveHeap()

		// Both ends of a pair are Conns, hence 2n; the parked goroutines
		// belong to the n server Conns only and are split out by stack.
		cached := float64(heapCached-heapCarriers) / float64(2*n)
		released := float64(heapReleased-heapCarriers) / float64(2*n)
		stackPer := float64(stack-stackCarriers) / float64(n)
		b.ReportMetric(cached, "heap-cached-B/conn")
		b.ReportMetric(released, "heap-released-B/conn")
		b.ReportMetric(stackPer, "reader-stack-B/conn")
		b.Logf("%d idle pairs (carrier excluded): Conn struct %d B; heap per Conn with ciphers cached %.0f B, after ReleaseCiphers %.0f B (incl. a parked reader goroutine's heap share); stack per parked ReadFrame %.0f B",
			n, connSize, cached, released, stackPer)

		for i := range servers {
			clients[i].Close()
			servers[i].Close()
		}
		for range servers {
			<-done
		}
	}
}

// BenchmarkX25519 is the floor under every handshake: one X25519 operation.
// "ladder" is our DH (one variable-base scalar multiplication), "keygen"
// our ephemeral key generation (fixed-base, precomputed tables), "ecdh" the
// standard library's ECDH with a prepared key (the same ladder: the
// reference), and "noise.DH25519" flynn/noise's DH, which costs two ladders
// because x/crypto builds a crypto/ecdh private key, public half included,
// on every call.
func BenchmarkX25519(b *testing.B) {
	k1, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	k2, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	priv, pub := k1.Bytes(), k2.PublicKey().Bytes()
	cases := []struct {
		name string
		op   func() error
	}{
		{"ladder", func() error { _, err := dh25519{}.DH(priv, pub); return err }},
		{"keygen", func() error { _, err := dh25519{}.GenerateKeypair(rand.Reader); return err }},
		{"ecdh", func() error { _, err := k1.ECDH(k2.PublicKey()); return err }},
		{"noise.DH25519", func() error { _, err := noise.DH25519.DH(priv, pub); return err }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			start, ops := cpuTime(), 0
			for b.Loop() {
				ops++
				if err := c.op(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start, ops)
		})
	}
}

// ikMessage1 returns n distinct IK first records (pattern byte included) a
// device would send to nodeKey.
func ikMessage1(b *testing.B, nodeKey StaticKey, n int) [][]byte {
	pub := nodeKey.Public()
	out := make([][]byte, n)
	for i := range out {
		hs, err := noise.NewHandshakeState(noise.Config{
			CipherSuite: suite, Pattern: noise.HandshakeIK, Initiator: true,
			Prologue: prologue(PatternIK), StaticKeypair: newKey(b).dhKey(), PeerStatic: pub[:],
		})
		if err != nil {
			b.Fatal(err)
		}
		if out[i], _, _, err = hs.WriteMessage([]byte{PatternIK}, nil); err != nil {
			b.Fatal(err)
		}
	}
	return out
}

// BenchmarkIKResponder is the node's CPU per handshake with nothing else:
// read IK message 1 (es, ss), write message 2 (ephemeral key, ee, se) and
// split. Its floor is four ladders and one keygen (BenchmarkX25519).
// "noise.DH25519" is the same with flynn/noise's DH, for comparison;
// "Server" is transport.Server on an in-memory carrier (records, deadlines
// and the Conn included), which is what the node runs per connection.
func BenchmarkIKResponder(b *testing.B) {
	nodeKey := newKey(b)
	msgs := ikMessage1(b, nodeKey, 64)
	respond := func(b *testing.B, cs noise.CipherSuite) {
		b.ReportAllocs()
		start, ops := cpuTime(), 0
		for b.Loop() {
			msg := msgs[ops%len(msgs)]
			ops++
			hs, err := noise.NewHandshakeState(noise.Config{
				CipherSuite: cs, Pattern: noise.HandshakeIK, Prologue: prologue(PatternIK), StaticKeypair: nodeKey.dhKey(),
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, _, _, err := hs.ReadMessage(nil, msg[1:]); err != nil {
				b.Fatal(err)
			}
			if _, cs1, _, err := hs.WriteMessage(nil, nil); err != nil || cs1 == nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, start, ops)
	}
	b.Run("dh25519", func(b *testing.B) { respond(b, suite) })
	b.Run("noise.DH25519", func(b *testing.B) {
		respond(b, noise.NewCipherSuite(noise.DH25519, noise.CipherAESGCM, noise.HashSHA256))
	})
	b.Run("Server", func(b *testing.B) {
		records := make([][]byte, len(msgs))
		for i, m := range msgs {
			records[i] = make([]byte, headerSize+len(m))
			putHeader(records[i], len(m))
			copy(records[i][headerSize:], m)
		}
		cfg := ServerConfig{Key: nodeKey}
		ctx := context.Background()
		b.ReportAllocs()
		start, ops := cpuTime(), 0
		for b.Loop() {
			rec := records[ops%len(records)]
			ops++
			if _, err := Server(ctx, &streamConn{r: bytes.NewReader(rec), w: io.Discard}, cfg); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, start, ops)
	})
}
