package server_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
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

// BenchmarkSendDeliverAck measures messages through the node: Send →
// durable → SendAck → Deliver → DeliveryAck → receipt → receipt ack, with
// senders pipelining up to 64 unacknowledged sends each.
func BenchmarkSendDeliverAck(b *testing.B) {
	for _, devices := range []int{2, 1000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			n := servertest.Start(b, server.Config{})
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
			b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
		})
	}
}

func runSender(b testing.TB, c *servertest.RawConn, to string, count int) {
	window := make(chan struct{}, 64)
	done := make(chan struct{})
	go func() { // reader: SendAcks free the window; receipts are acked
		defer close(done)
		acks, receipts := 0, 0
		for acks < count || receipts < count {
			f, err := c.Read()
			if err != nil {
				b.Errorf("sender read after %d acks, %d receipts: %v", acks, receipts, err)
				return
			}
			switch {
			case f.GetSendAck() != nil:
				acks++
				<-window
			case f.GetDeliver() != nil:
				receipts += len(f.GetDeliver().GetReceipt().GetMessageIds())
				c.Write(ack(f.GetDeliver().Seq))
			case f.GetError() != nil:
				b.Errorf("send error: %v", f.GetError())
				return
			}
		}
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
	got := 0
	for got < count {
		f, err := c.Read()
		if err != nil {
			b.Errorf("receiver after %d: %v", got, err)
			return
		}
		if d := f.GetDeliver(); d != nil {
			got++
			c.Write(ack(d.Seq))
		}
	}
}

// BenchmarkIdleConnections measures node memory per idle authenticated
// connection. The client side runs in a child process (this test binary,
// TestIdleClientsHelper) so its memory and file descriptors are not the
// node's: PARLEY_IDLE_CONNS sets the count (default 10000).
func BenchmarkIdleConnections(b *testing.B) {
	count := 10000
	if v := os.Getenv("PARLEY_IDLE_CONNS"); v != "" {
		count, _ = strconv.Atoi(v)
	}
	n := servertest.Start(b, server.Config{IdleTimeout: time.Hour})
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
	stdin.Write([]byte("connect\n"))
	start := time.Now()
	waitLine("connected")
	conTime := time.Since(start)
	for n.Stats().Sessions < int64(count) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let each session park in ReadFrame
	after := memNow()
	heap := float64(after.HeapAlloc-before.HeapAlloc) / float64(count)
	stack := float64(after.StackInuse-before.StackInuse) / float64(count)
	b.ReportMetric(heap, "heap-B/conn")
	b.ReportMetric(stack, "stack-B/conn")
	b.ReportMetric(heap+stack, "node-B/conn")
	b.ReportMetric(float64(count)/conTime.Seconds(), "conns/s")
	b.Logf("%d idle authenticated connections: heap %.0f B/conn, stacks %.0f B/conn, goroutines %d", count, heap, stack, runtime.NumGoroutine())
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
