package transport

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/internal/procfs"
)

// BenchmarkRelayFloor is the floor under the node's open-loop message
// relay on this machine: the frames of one message (Send in; Tick back and
// Deliver out; Ack in; Receipt out) relayed by a minimal process with no
// Noise, protobuf, storage or session state, so whatever CPU and latency it
// shows is the cost of loopback TCP, netpoll and cross-CPU wake-ups rather
// than of our code. Compare with `parley bench msgs --spawn-node` (issue 6).
//
// Wire: u32 length (type byte + body), type byte, body.
//
//	Send    to u32, msg u64, payload   client → relay
//	Tick    msg u64                    relay → sender
//	Deliver from u32, msg u64, payload relay → recipient
//	Ack     to u32, msg u64 …          recipient → relay, one per read batch
//	Receipt msg u64 …                  relay → sender, one per Ack
const (
	fSend byte = iota + 1
	fTick
	fDeliver
	fAck
	fReceipt
)

const (
	relayFloorEnv     = "PARLEY_RELAY_FLOOR_CHILD"
	relayFloorHopsEnv = "PARLEY_RELAY_FLOOR_HOPS" // "2": Delivers take the node's two hand-overs
	relayFloorWorkEnv = "PARLEY_RELAY_FLOOR_WORK" // CPU per Send, a time.Duration (BenchmarkRelayFloorWork)
	relayFloorPayload = 160                       // a sealed one-to-one text message
	relayFloorTick    = 200 * time.Microsecond    // as bench/msgs.go's pacer
)

// The relay must be its own process, as the node is: in one process the
// Go scheduler could hand a frame to a spinning P of the same runtime and
// the CPU of both ends would be indistinguishable. An init (rather than a
// do-nothing Test) keeps `go test` counts honest; it acts only in the
// re-executed child.
func init() {
	if os.Getenv(relayFloorEnv) != "1" {
		return
	}
	if err := runRelay(); err != nil {
		fmt.Fprintln(os.Stderr, "relayfloor child:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

type relayConn struct {
	nc net.Conn
	mu sync.Mutex // one writer at a time: the conn's own reader and its peer's
}

// write sends one frame in one Write, like the node's per-frame writes.
func (c *relayConn) write(b []byte) {
	c.mu.Lock()
	_, _ = c.nc.Write(b) // a dead peer shows up as the client's delivery check failing
	c.mu.Unlock()
}

// runRelay serves until stdin closes, so a parent that dies takes it along.
func runRelay() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Println(ln.Addr())
	var mu sync.RWMutex
	conns := map[uint32]*relayConn{}
	lookup := func(id uint32) *relayConn { mu.RLock(); defer mu.RUnlock(); return conns[id] }
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	work, _ := time.ParseDuration(os.Getenv(relayFloorWorkEnv)) // unset: 0
	burn := calibrateBurn(work)
	// With hops, a Deliver takes the node's path instead of being written
	// by the reader: one writer goroutine for all connections (the store's
	// committer), which starts a goroutine per delivery to write it (the
	// recipient's pump).
	var deliveries chan delivery
	if os.Getenv(relayFloorHopsEnv) == "2" {
		deliveries = make(chan delivery, 4096)
		go func() {
			for d := range deliveries {
				go d.dst.write(d.frame)
			}
		}()
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		go func() {
			defer nc.Close()
			var hello [4]byte
			if _, err := io.ReadFull(nc, hello[:]); err != nil {
				return
			}
			id, c := binary.BigEndian.Uint32(hello[:]), &relayConn{nc: nc}
			mu.Lock()
			conns[id] = c
			mu.Unlock()
			// Setup only: the client starts pacing once every conn is known.
			if _, err := nc.Write([]byte{1}); err != nil {
				return
			}
			br := bufio.NewReaderSize(nc, 64<<10)
			var in, out []byte
			for {
				if in, err = readFrame(br, in); err != nil {
					return
				}
				switch body := in[1:]; in[0] {
				case fSend:
					burn()
					msg := body[4:12]
					c.write(frameOf(&out, fTick, msg))
					if dst := lookup(binary.BigEndian.Uint32(body)); dst != nil {
						binary.BigEndian.PutUint32(body, id) // to → from
						if deliveries != nil {
							var own []byte
							deliveries <- delivery{dst, frameOf(&own, fDeliver, body)}
							continue
						}
						dst.write(frameOf(&out, fDeliver, body))
					}
				case fAck:
					if dst := lookup(binary.BigEndian.Uint32(body)); dst != nil {
						dst.write(frameOf(&out, fReceipt, body[4:]))
					}
				}
			}
		}()
	}
}

// calibrateBurn returns a function that spends about d of CPU (SHA-256
// over 1 KiB, as many times as d takes on this machine, measured before
// any load), standing for the work a real node does per message.
func calibrateBurn(d time.Duration) func() {
	if d <= 0 {
		return func() {}
	}
	var buf [1024]byte
	hash := func(times int) {
		for range times {
			sum := sha256.Sum256(buf[:])
			buf[0] = sum[0] // each hash depends on the last: not optimised away
		}
	}
	best := time.Duration(1 << 62)
	for range 5 {
		t0 := time.Now()
		hash(200)
		best = min(best, time.Since(t0)/200)
	}
	n := max(1, int(d/best))
	return func() { hash(n) }
}

// delivery is a Deliver frame on its way to its connection (hops=2).
type delivery struct {
	dst   *relayConn
	frame []byte
}

// readFrame reads one frame (type byte + body) into buf's storage.
func readFrame(br *bufio.Reader, buf []byte) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return buf, err
	}
	n := int(binary.BigEndian.Uint32(h[:]))
	if n < 1 || n > 1<<20 {
		return buf, fmt.Errorf("frame length %d", n)
	}
	buf = slices.Grow(buf[:0], n)[:n]
	_, err := io.ReadFull(br, buf)
	return buf, err
}

// frameOf encodes a frame into *out (reused) and returns it.
func frameOf(out *[]byte, typ byte, body []byte) []byte {
	b := binary.BigEndian.AppendUint32((*out)[:0], uint32(1+len(body)))
	b = append(append(b, typ), body...)
	*out = b
	return b
}

// hops=2 runs the same relay with the node's two hand-overs on the way to
// the recipient (reader → one writer goroutine → a goroutine per delivery
// that writes it), to see what those hand-overs cost in latency here.
func BenchmarkRelayFloor(b *testing.B) {
	for _, pairs := range []int{10, 100} {
		for _, rate := range []int{5000, 10000, 20000} {
			for _, hops := range []int{0, 2} {
				b.Run(fmt.Sprintf("pairs=%d/rate=%d/hops=%d", pairs, rate, hops), func(b *testing.B) {
					relayFloor(b, pairs, rate, hops)
				})
			}
		}
	}
}

// BenchmarkRelayFloorWork is the bare relay (hops=0) at 10 pairs × 20,000
// msgs/s with CPU work added to every Send, standing for what any real node
// must do per message on top of moving frames (the store's write, AES-GCM,
// decoding): how delivery latency grows with that work on these cores,
// with the load generator beside the relay as in `parley bench msgs`.
func BenchmarkRelayFloorWork(b *testing.B) {
	for _, work := range []time.Duration{0, 2 * time.Microsecond, 5 * time.Microsecond, 10 * time.Microsecond, 20 * time.Microsecond} {
		b.Run(fmt.Sprintf("work=%v", work), func(b *testing.B) {
			relayFloorWith(b, 10, 20000, 0, work)
		})
	}
}

func relayFloor(b *testing.B, pairs, rate, hops int) { relayFloorWith(b, pairs, rate, hops, 0) }

func relayFloorWith(b *testing.B, pairs, rate, hops int, work time.Duration) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), relayFloorEnv+"=1", fmt.Sprintf("%s=%d", relayFloorHopsEnv, hops),
		fmt.Sprintf("%s=%v", relayFloorWorkEnv, work))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start relay: %v", err)
	}
	defer func() { _ = stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("relay address: %v", err)
	}

	// Pair i: sender id 2i, recipient id 2i+1. Message g goes to pair g%pairs
	// and was due at start + g/rate.
	conns := make([]net.Conn, 2*pairs)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	for id := range conns {
		c, err := net.Dial("tcp", strings.TrimSpace(addr))
		if err != nil {
			b.Fatalf("dial relay: %v", err)
		}
		conns[id] = c
		var ok [1]byte
		if _, err := c.Write(binary.BigEndian.AppendUint32(nil, uint32(id))); err != nil {
			b.Fatalf("hello: %v", err)
		}
		if _, err := io.ReadFull(c, ok[:]); err != nil {
			b.Fatalf("hello reply: %v", err)
		}
	}

	n := b.N
	perMsg := float64(time.Second) / float64(rate)
	perPair := func(i int) int { return (n - i + pairs - 1) / pairs } // messages g < n with g%pairs == i
	start := time.Now().Add(20 * time.Millisecond)
	due := func(g int) time.Time { return start.Add(time.Duration(float64(g) * perMsg)) }

	var dups, strays atomic.Int64
	lats := make([][]time.Duration, pairs)
	lasts := make([]time.Time, pairs)
	var wg sync.WaitGroup
	for i := range pairs {
		wg.Add(2)
		go func() { // sender: count Ticks and Receipts until all came back
			defer wg.Done()
			br := bufio.NewReaderSize(conns[2*i], 64<<10)
			var in []byte
			var err error
			for ticks, receipts := 0, 0; ticks < perPair(i) || receipts < perPair(i); {
				if in, err = readFrame(br, in); err != nil {
					return
				}
				switch in[0] {
				case fTick:
					ticks++
				case fReceipt:
					receipts += (len(in) - 1) / 8
				}
			}
		}()
		go func() { // recipient: one Ack per read batch, as bench's clients do
			defer wg.Done()
			c := conns[2*i+1]
			br := bufio.NewReaderSize(c, 64<<10)
			seen := make([]bool, perPair(i))
			lat := make([]time.Duration, 0, perPair(i))
			var in, out []byte
			ack := binary.BigEndian.AppendUint32(nil, uint32(2*i))
			var now time.Time
			var err error
			for got := 0; got < perPair(i); {
				fresh := br.Buffered() == 0
				if in, err = readFrame(br, in); err != nil {
					return
				}
				if fresh { // frames that arrived in one read arrived together
					now = time.Now()
				}
				if in[0] != fDeliver || len(in) < 13 {
					strays.Add(1)
					continue
				}
				g := int(binary.BigEndian.Uint64(in[5:13]))
				if g%pairs != i || g >= n {
					strays.Add(1)
					continue
				}
				if seen[g/pairs] {
					dups.Add(1)
					continue
				}
				seen[g/pairs] = true
				got++
				lat = append(lat, now.Sub(due(g)))
				ack = binary.BigEndian.AppendUint64(ack, uint64(g))
				if br.Buffered() == 0 || got == perPair(i) {
					if _, err := c.Write(frameOf(&out, fAck, ack)); err != nil {
						return
					}
					ack = ack[:4]
				}
			}
			lats[i], lasts[i] = lat, now
		}()
	}

	relay0, err := procfs.ProcessCPU(cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	self0 := rusageCPU(b)
	b.ResetTimer()
	relayFloorPace(conns, pairs, n, start, due)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		for _, c := range conns {
			_ = c.Close() // unblocks the readers so the deferred cleanup can run
		}
		<-done
	}
	b.StopTimer()
	self1 := rusageCPU(b)
	relay1, err := procfs.ProcessCPU(cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}

	var all []time.Duration
	last := start
	for i := range pairs {
		all = append(all, lats[i]...)
		if lasts[i].After(last) {
			last = lasts[i]
		}
	}
	if len(all) != n || dups.Load() != 0 || strays.Load() != 0 {
		b.Fatalf("delivered %d of %d messages once; %d duplicates, %d strays", len(all), n, dups.Load(), strays.Load())
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return all[min(len(all)-1, int(p*float64(len(all))))].Seconds() * 1e3 }
	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }
	b.ReportMetric(us(relay1-relay0), "relay-cpu-µs/msg")
	b.ReportMetric(us(self1-self0), "client-cpu-µs/msg")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(0.999), "p99.9-ms")
	b.ReportMetric(float64(n)/last.Sub(start).Seconds(), "msgs/s")
	b.ReportMetric(0, "ns/op") // wall time per message is just 1/rate in open loop
}

// relayFloorPace is bench/msgs.go's open loop in miniature: one pacer per
// CPU wakes at most every relayFloorTick and writes every Send that has
// come due, those of one sender due together sharing one Write. Latency is
// measured from the due time, so the tick can only overstate it.
func relayFloorPace(conns []net.Conn, pairs, n int, start time.Time, due func(int) time.Time) {
	np := min(runtime.GOMAXPROCS(0), pairs)
	var wg sync.WaitGroup
	for j := range np {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, relayFloorPayload)
			batches := make([][]byte, pairs)
			var touched []int
			for g := 0; g < n; {
				if d := time.Until(due(g)); d > 0 {
					time.Sleep(max(d, relayFloorTick))
				}
				for now := time.Now(); g < n && !due(g).After(now); g++ {
					i := g % pairs
					if i%np != j {
						continue
					}
					if len(batches[i]) == 0 {
						touched = append(touched, i)
					}
					f := binary.BigEndian.AppendUint32(batches[i], uint32(1+4+8+len(payload)))
					f = binary.BigEndian.AppendUint32(append(f, fSend), uint32(2*i+1))
					batches[i] = append(binary.BigEndian.AppendUint64(f, uint64(g)), payload...)
				}
				for _, i := range touched {
					_, _ = conns[2*i].Write(batches[i]) // a failed write shows up as undelivered
					batches[i] = batches[i][:0]
				}
				touched = touched[:0]
			}
		}()
	}
	wg.Wait()
}

// rusageCPU is user+system CPU of this (the client) process.
func rusageCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
