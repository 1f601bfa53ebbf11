package server_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
	"github.com/parley-im/parley/store/pebble"
	"github.com/parley-im/parley/transport"
)

// registerMany registers n devices in parallel and returns their
// connections (handle prefix + index).
func registerMany(b testing.TB, n *servertest.Node, prefix string, count int) []*servertest.RawConn {
	conns := make([]*servertest.RawConn, count)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, count)
	for i := range count {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := servertest.DialTCP(ctx, n.TCPAddr().String(), n.ServerKey(), servertest.NewKey())
			if err == nil {
				err = c.Register(fmt.Sprintf("%s%d", prefix, i), "", 0, 0)
			}
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return conns
}

// benchWindow is how many Sends one sender keeps unanswered: a chatty
// device typing back-to-back, not a bulk loader.
const benchWindow = 8

// BenchmarkSendDeliverAck measures messages through the node with every
// device online: Send → durable → SendAck → Deliver → DeliveryAck →
// DELIVERED receipt → receipt ack. devices/2 senders each send back-to-back
// to their own recipient with benchWindow sends in flight; recipients and
// senders acknowledge one burst of deliveries with one DeliveryAck, as the
// SDK does. Reported: delivered msgs/s; CPU µs per message (getrusage of
// the whole process, so the clients' share is included); entries per fsync
// and unsynced commits from the store's counters.
func BenchmarkSendDeliverAck(b *testing.B) {
	for _, devices := range []int{2, 1000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			n := servertest.Start(b, server.Config{})
			st := server.StoreOf(n.Node).(*pebble.Store)
			pairs := devices / 2
			senders := registerMany(b, n, "snd", pairs)
			receivers := registerMany(b, n, "rcv", pairs)
			for _, c := range receivers {
				c.Expect(b, "QueueDrained", func(f *pb.ServerFrame) bool { return f.GetQueueDrained() != nil })
			}
			per := make([]int, pairs)
			for i := range b.N {
				per[i%pairs]++
			}
			st0, cpu0 := st.Stats(), cpuTime()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := range pairs {
				if per[p] == 0 {
					continue
				}
				wg.Add(2)
				go func() { defer wg.Done(); runSender(b, senders[p], fmt.Sprintf("rcv%d", p), per[p]) }()
				go func() { defer wg.Done(); runReceiver(b, receivers[p], per[p]) }()
			}
			wg.Wait()
			el := time.Since(start)
			b.StopTimer()
			st1, cpu1 := st.Stats(), cpuTime()
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
			b.ReportMetric(float64((cpu1-cpu0)/time.Microsecond)/float64(b.N), "cpu-µs/msg")
			if syncs := st1.Syncs - st0.Syncs; syncs > 0 {
				b.ReportMetric(float64(st1.Entries-st0.Entries)/float64(syncs), "entries/fsync")
				b.ReportMetric(float64(syncs)/float64(b.N), "fsyncs/msg")
			}
			b.ReportMetric(float64(st1.Unsynced-st0.Unsynced)/float64(b.N), "unsynced/msg")
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// frames reads c on a goroutine so the caller can take whatever has
// arrived as one burst.
func frames(b testing.TB, c *servertest.RawConn, want func() bool) <-chan *pb.ServerFrame {
	ch := make(chan *pb.ServerFrame, 256)
	go func() {
		defer close(ch)
		for {
			f, err := c.Read()
			if err != nil {
				if !want() {
					return // done: the node or the test closed the connection
				}
				b.Errorf("read: %v", err)
				return
			}
			ch <- f
		}
	}()
	return ch
}

// burst returns the first frame and every frame already waiting behind it.
func burst(ch <-chan *pb.ServerFrame, out []*pb.ServerFrame) ([]*pb.ServerFrame, bool) {
	f, ok := <-ch
	if !ok {
		return out, false
	}
	out = append(out[:0], f)
	for {
		select {
		case f, ok := <-ch:
			if !ok {
				return out, true
			}
			out = append(out, f)
		default:
			return out, true
		}
	}
}

func runSender(b testing.TB, c *servertest.RawConn, to string, count int) {
	window := make(chan struct{}, benchWindow)
	var finished atomic.Bool
	done := make(chan struct{})
	go func() { // SendAcks free the window; receipts are acked per burst
		defer close(done)
		defer c.Close()
		in := frames(b, c, func() bool { return !finished.Load() })
		acks, receipts := 0, 0
		var fs []*pb.ServerFrame
		var seqs []uint64
		for acks < count || receipts < count {
			var ok bool
			if fs, ok = burst(in, fs); !ok {
				b.Errorf("sender: connection ended after %d acks, %d receipts", acks, receipts)
				return
			}
			seqs = seqs[:0]
			for _, f := range fs {
				switch {
				case f.GetSendAck() != nil:
					acks++
					<-window
				case f.GetDeliver() != nil:
					receipts += len(f.GetDeliver().GetReceipt().GetMessageIds())
					seqs = append(seqs, f.GetDeliver().Seq)
				case f.GetError() != nil:
					b.Errorf("send error: %v", f.GetError())
					return
				}
			}
			if len(seqs) > 0 {
				c.Write(ack(seqs...))
			}
		}
		finished.Store(true)
	}()
	body := make([]byte, 100)
	for i := range count {
		window <- struct{}{}
		s := &pb.Send{MessageId: servertest.MessageID(), To: to, Ciphertexts: []*pb.OutgoingCiphertext{{User: to, DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: body}}}
		if err := c.Write(&pb.ClientFrame{Id: uint64(i + 1000), Body: &pb.ClientFrame_Send{Send: s}}); err != nil {
			b.Error(err)
			return
		}
	}
	<-done
}

func runReceiver(b testing.TB, c *servertest.RawConn, count int) {
	var finished atomic.Bool
	defer c.Close()
	in := frames(b, c, func() bool { return !finished.Load() })
	got := 0
	var fs []*pb.ServerFrame
	var seqs []uint64
	for got < count {
		var ok bool
		if fs, ok = burst(in, fs); !ok {
			b.Errorf("receiver: connection ended after %d", got)
			return
		}
		seqs = seqs[:0]
		for _, f := range fs {
			if d := f.GetDeliver(); d != nil {
				got++
				seqs = append(seqs, d.Seq)
			}
		}
		if len(seqs) > 0 {
			c.Write(ack(seqs...))
		}
	}
	finished.Store(true)
}

// BenchmarkIdleConnections measures node memory per idle authenticated
// connection. The client side runs in a child process (this test binary,
// TestIdleClientsHelper) so its memory and file descriptors are not the
// node's: PARLEY_IDLE_CONNS sets the count (default 10000).
// PARLEY_IDLE_HEAPPROFILE=file writes a heap profile of the idle node
// (every allocation sampled from the connect phase on).
func BenchmarkIdleConnections(b *testing.B) {
	count := 10000
	if v := os.Getenv("PARLEY_IDLE_CONNS"); v != "" {
		count, _ = strconv.Atoi(v)
	}
	profile := os.Getenv("PARLEY_IDLE_HEAPPROFILE")
	// Readers release their ciphers and hop after this long without a
	// frame; PARLEY_IDLE_RELEASE longer than the connect phase makes the
	// "connected" figure a clean before-release one.
	release := 3 * time.Second
	if v := os.Getenv("PARLEY_IDLE_RELEASE"); v != "" {
		release, _ = time.ParseDuration(v)
	}
	n := servertest.Start(b, server.Config{IdleTimeout: time.Hour, IdleRelease: release})
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.timeout=30m")
	cmd.Env = append(os.Environ(), fmt.Sprintf("PARLEY_IDLE_HELPER=%s,%s,%d", n.TCPAddr(), n.ServerKey(), count))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	waitLine := func(want string) {
		for lines.Scan() {
			if strings.HasPrefix(lines.Text(), want) {
				return
			}
		}
		b.Fatalf("helper ended before %q: %v", want, lines.Err())
	}
	waitLine("registered") // every device registered, all disconnected
	for n.Stats().Connections > 0 {
		time.Sleep(10 * time.Millisecond)
	}
	before := memNow()
	if profile != "" {
		runtime.MemProfileRate = 1
	}
	stdin.Write([]byte("connect\n"))
	start := time.Now()
	waitLine("connected")
	conTime := time.Since(start)
	for n.Stats().Sessions < int64(count) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let each session park in ReadFrame
	fresh := memNow()
	// After IdleRelease without a frame every reader dropped its ciphers
	// and hopped to a new goroutine.
	time.Sleep(time.Until(start.Add(conTime + release + time.Second)))
	after := memNow()
	if profile != "" {
		writeHeapProfile(b, profile)
	}
	perConn := func(m runtime.MemStats) (heap, stack float64) {
		return float64(m.HeapAlloc-before.HeapAlloc) / float64(count), float64(m.StackInuse-before.StackInuse) / float64(count)
	}
	fheap, fstack := perConn(fresh)
	heap, stack := perConn(after)
	b.ReportMetric(fheap+fstack, "connected-B/conn")
	b.ReportMetric(heap, "heap-B/conn")
	b.ReportMetric(stack, "stack-B/conn")
	b.ReportMetric(heap+stack, "node-B/conn")
	b.ReportMetric(float64(count)/conTime.Seconds(), "conns/s")
	b.Logf("%d idle authenticated connections: just connected heap %.0f + stack %.0f B/conn; after %v idle heap %.0f + stack %.0f B/conn; goroutines %d",
		count, fheap, fstack, release, heap, stack, runtime.NumGoroutine())
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

func memNow() runtime.MemStats {
	var m runtime.MemStats
	// Each GC halves the stack of a parked goroutine that uses under a
	// quarter of it; a long-idle connection sees many GCs, so do several.
	for range 6 {
		runtime.GC()
	}
	runtime.ReadMemStats(&m)
	return m
}

// TestIdleClientsHelper is the client side of BenchmarkIdleConnections; it
// does nothing unless PARLEY_IDLE_HELPER is set.
func TestIdleClientsHelper(t *testing.T) {
	spec := os.Getenv("PARLEY_IDLE_HELPER")
	if spec == "" {
		t.Skip("client half of BenchmarkIdleConnections")
	}
	parts := strings.Split(spec, ",")
	addr, count := parts[0], 0
	serverKey, err := transport.ParsePublicKey(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	count, _ = strconv.Atoi(parts[2])
	keys := make([]transport.StaticKey, count)
	conns := make([]*servertest.RawConn, count)
	parallel := func(f func(i int) error) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range count {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if err := f(i); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	dial := func(i int) (*servertest.RawConn, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return servertest.DialTCP(ctx, addr, serverKey, keys[i])
	}
	parallel(func(i int) error {
		keys[i] = servertest.NewKey()
		c, err := dial(i)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Register(fmt.Sprintf("idle%d", i), "", 0, 0)
	})
	fmt.Println("registered")
	in := bufio.NewScanner(os.Stdin)
	in.Scan()
	parallel(func(i int) error {
		c, err := dial(i)
		conns[i] = c
		return err
	})
	fmt.Println("connected")
	in.Scan() // hold until the parent closes stdin
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}
