package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/flynn/noise"
	"github.com/parley-im/parley/protocol"
)

// streamConn is a net.Conn over an arbitrary reader and writer, for feeding
// exact (tampered, truncated) byte streams to a Conn.
type streamConn struct {
	r      io.Reader
	w      io.Writer
	closed bool
	writes int
}

func (s *streamConn) Read(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	return s.r.Read(p)
}

func (s *streamConn) Write(p []byte) (int, error) {
	if s.closed {
		return 0, net.ErrClosed
	}
	s.writes++
	return s.w.Write(p)
}
func (s *streamConn) Close() error                     { s.closed = true; return nil }
func (s *streamConn) LocalAddr() net.Addr              { return nil }
func (s *streamConn) RemoteAddr() net.Addr             { return nil }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// keyedPair returns a sender whose frames land in wire and a function that
// makes a fresh receiver reading a given byte stream, both keyed alike as
// after one handshake.
func keyedPair(t testing.TB) (sender *Conn, wire *bytes.Buffer, receiver func(stream []byte) (*Conn, *streamConn)) {
	t.Helper()
	var key [32]byte
	copy(key[:], "0123456789abcdef0123456789abcdef")
	cs := func() *noise.CipherState { return noise.UnsafeNewCipherState(suite, key, 0) }
	wire = new(bytes.Buffer)
	sender = newConn(&streamConn{w: wire}, PublicKey{}, cs(), cs())
	receiver = func(stream []byte) (*Conn, *streamConn) {
		sc := &streamConn{r: bytes.NewReader(stream), w: io.Discard}
		return newConn(sc, PublicKey{}, cs(), cs()), sc
	}
	return sender, wire, receiver
}

func TestFrameRoundTripTCP(t *testing.T) {
	c, s := connPair(t)
	sizes := []int{0, 1, 100, 4096, protocol.MaxFrameSize}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			p := bytes.Repeat([]byte{byte(n)}, n)
			errc := make(chan error, 1)
			go func() { errc <- c.WriteFrame(p) }()
			got, err := s.ReadFrame()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, p) {
				t.Fatalf("got %d bytes, want %d", len(got), len(p))
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestWriteFrameTooLargeKeepsConn(t *testing.T) {
	c, s := connPair(t)
	if err := c.WriteFrame(make([]byte, protocol.MaxFrameSize+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteFrame(oversized) = %v, want ErrFrameTooLarge", err)
	}
	if err := c.WriteFrames([][]byte{{1}, make([]byte, protocol.MaxFrameSize+1)}); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("WriteFrames(oversized) = %v, want ErrFrameTooLarge", err)
	}
	exchange(t, c, s) // nothing was sent, the nonces still line up
}

func TestReadFrameBadStreams(t *testing.T) {
	sender, wire, receiver := keyedPair(t)
	if err := sender.WriteFrames([][]byte{[]byte("first frame"), []byte("second frame")}); err != nil {
		t.Fatal(err)
	}
	good := bytes.Clone(wire.Bytes())
	first := good[:headerSize+len("first frame")+tagSize]
	flip := func(i int) []byte { b := bytes.Clone(good); b[i] ^= 0x01; return b }

	tests := []struct {
		name   string
		stream []byte
		ok     int // frames that must read fine before the error
		want   error
	}{
		{"intact", good, 2, io.EOF},
		{"tampered ciphertext", flip(headerSize + 3), 0, ErrDecrypt},
		{"tampered tag", flip(len(first) - 1), 0, ErrDecrypt},
		{"tampered second frame", flip(len(first) + headerSize), 1, ErrDecrypt},
		{"length changed", flip(2), 0, ErrDecrypt},
		{"truncated body", good[:len(first)-5], 0, io.ErrUnexpectedEOF},
		{"truncated header", good[:2], 0, io.ErrUnexpectedEOF},
		{"replayed frame", append(bytes.Clone(first), first...), 1, ErrDecrypt},
		{"reordered frames", append(bytes.Clone(good[len(first):]), first...), 0, ErrDecrypt},
		{"shorter than tag", []byte{0, 0, 15}, 0, ErrDecrypt},
		{"oversized length", []byte{0xff, 0xff, 0xff}, 0, ErrFrameTooLarge},
		{"one over the limit", header(maxCiphertext + 1), 0, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, sc := receiver(tt.stream)
			for i := 0; i < tt.ok; i++ {
				if _, err := r.ReadFrame(); err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
			}
			_, err := r.ReadFrame()
			if !errors.Is(err, tt.want) {
				t.Fatalf("ReadFrame = %v, want %v", err, tt.want)
			}
			if tt.want == io.EOF {
				return
			}
			if !sc.closed {
				t.Error("carrier not closed after a fatal frame error")
			}
			if _, err2 := r.ReadFrame(); !errors.Is(err2, tt.want) {
				t.Errorf("second ReadFrame = %v, want the same sticky error", err2)
			}
		})
	}
}

// An oversized header is refused before the body is read or allocated.
func TestOversizedHeaderNoAllocation(t *testing.T) {
	// MemStats counts the whole process, and other goroutines (the race
	// runtime, finished tests' leftovers) can allocate during the call. Noise
	// only adds bytes, so the least of a few tries is the refusal's own cost.
	least := uint64(1 << 62)
	for range 5 {
		_, _, receiver := keyedPair(t)
		body := bytes.NewReader(make([]byte, 1<<20))
		stream := io.MultiReader(bytes.NewReader([]byte{0xff, 0xff, 0xff}), body)
		sc := &streamConn{r: stream, w: io.Discard}
		r, _ := receiver(nil)
		r.nc = sc

		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := r.ReadFrame()
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("ReadFrame = %v, want ErrFrameTooLarge", err)
		}
		if body.Len() != 1<<20 {
			t.Fatalf("read %d body bytes after the refused header", 1<<20-body.Len())
		}
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	if least > 2048 {
		t.Errorf("allocated %d bytes for a refused frame", least)
	}
}

func TestWriteFramesCoalesces(t *testing.T) {
	sender, wire, receiver := keyedPair(t)
	sc := sender.nc.(*streamConn)
	var frames [][]byte
	for i := range 100 {
		frames = append(frames, []byte(fmt.Sprintf("frame %d", i)))
	}
	if err := sender.WriteFrames(frames); err != nil {
		t.Fatal(err)
	}
	if sc.writes != 1 {
		t.Errorf("100 small frames took %d Writes, want 1", sc.writes)
	}
	// Large frames are split so no Write exceeds MaxRecordSize.
	big := make([]byte, protocol.MaxFrameSize)
	sc.writes = 0
	wire2 := new(bytes.Buffer)
	sc.w = &maxWriter{w: wire2, t: t}
	if err := sender.WriteFrames([][]byte{big, {1}, big, {2}}); err != nil {
		t.Fatal(err)
	}
	if sc.writes != 4 {
		t.Errorf("got %d Writes, want 4 (a full frame never shares a Write)", sc.writes)
	}
	r, _ := receiver(append(bytes.Clone(wire.Bytes()), wire2.Bytes()...))
	for i, want := range append(frames, big, []byte{1}, big, []byte{2}) {
		got, err := r.ReadFrame()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("frame %d: %d bytes, %v", i, len(got), err)
		}
	}
}

func header(n int) []byte {
	b := make([]byte, headerSize)
	putHeader(b, n)
	return b
}

type maxWriter struct {
	w io.Writer
	t *testing.T
}

func (m *maxWriter) Write(p []byte) (int, error) {
	if len(p) > MaxRecordSize {
		m.t.Errorf("Write of %d bytes exceeds MaxRecordSize %d", len(p), MaxRecordSize)
	}
	return m.w.Write(p)
}

func TestConcurrentWriteFrame(t *testing.T) {
	c, s := connPair(t)
	const writers, each = 32, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var err error
				if i%5 == 0 {
					err = c.WriteFrames([][]byte{{byte(w), byte(i)}, {byte(w), byte(i + 1)}})
				} else {
					err = c.WriteFrame([]byte{byte(w), byte(i)})
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	total := writers * (each + each/5)
	for range total {
		f, err := s.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != 2 || int(f[0]) >= writers {
			t.Fatalf("garbled frame %x", f)
		}
		w, i := int(f[0]), int(f[1])
		if i < next[w] {
			t.Fatalf("writer %d: frame %d after %d", w, i, next[w])
		}
		next[w] = i
	}
	wg.Wait()
}

func TestNonceExhaustion(t *testing.T) {
	sender, _, _ := keyedPair(t)
	sender.tx.n = noise.MaxNonce
	if err := sender.WriteFrame([]byte("last")); err != nil {
		t.Fatalf("frame with the last nonce: %v", err)
	}
	if err := sender.WriteFrame([]byte("one more")); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("WriteFrame after the last nonce = %v, want ErrNonceExhausted", err)
	}

	r, _ := keyedPairReceiverAt(t, noise.MaxNonce+1)
	if _, err := r.ReadFrame(); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("ReadFrame after the last nonce = %v, want ErrNonceExhausted", err)
	}
}

func keyedPairReceiverAt(t *testing.T, n uint64) (*Conn, *streamConn) {
	sender, wire, receiver := keyedPair(t)
	if err := sender.WriteFrame([]byte("x")); err != nil {
		t.Fatal(err)
	}
	r, sc := receiver(wire.Bytes())
	r.rx.n = n
	return r, sc
}

func TestIdleReadDeadlineKeepsConn(t *testing.T) {
	c, s := connPair(t)
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := s.ReadFrame(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadFrame = %v, want deadline exceeded", err)
	}
	s.SetReadDeadline(time.Time{})
	exchange(t, c, s)
}

func TestCloseUnblocksReadFrame(t *testing.T) {
	c, s := connPair(t)
	errc := make(chan error, 1)
	go func() { _, err := s.ReadFrame(); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("ReadFrame after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame still blocked after Close")
	}
	if err := s.WriteFrame([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteFrame after Close = %v, want ErrClosed", err)
	}
	// The peer sees the end of the stream.
	if _, err := c.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("peer ReadFrame = %v, want EOF", err)
	}
	if err := c.WriteFrame([]byte("x")); err == nil {
		// The first write to a closed TCP peer may still succeed; the next
		// one must fail.
		time.Sleep(20 * time.Millisecond)
		if err := c.WriteFrame([]byte("x")); err == nil {
			t.Error("WriteFrame to a closed peer keeps succeeding")
		}
	}
}

func TestConnSize(t *testing.T) {
	t.Logf("unsafe.Sizeof(Conn{}) = %d bytes", connSize)
	if connSize > 256 {
		t.Errorf("Conn is %d bytes; keep it small (issue 6: ≤ 2 KiB per idle connection all in)", connSize)
	}
}

// ReleaseCiphers may run at any time, from any goroutine, without breaking
// the stream.
func TestReleaseCiphersConcurrent(t *testing.T) {
	c, s := connPair(t)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				c.ReleaseCiphers()
				s.ReleaseCiphers()
				runtime.Gosched()
			}
		}
	}()
	defer close(stop)
	go func() {
		for i := range 500 {
			if err := c.WriteFrame([]byte{byte(i), byte(i >> 8)}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i := range 500 {
		f, err := s.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != 2 || int(f[0])|int(f[1])<<8 != i {
			t.Fatalf("frame %d = %x", i, f)
		}
	}
	if s.rx.gcm.Load() == nil && s.rx.n == 0 {
		t.Fatal("no frame was read")
	}
}

// TestReadAheadChunks: frames read ahead are returned whole and in order
// however the stream is cut into reads, including records split in their
// header or body across reads and records larger than the read-ahead
// buffer.
func TestReadAheadChunks(t *testing.T) {
	sender, wire, receiver := keyedPair(t)
	var frames [][]byte
	for i, n := range []int{0, 1, 2, 100, 5000, readAheadSize, readAheadSize + 1, 3, protocol.MaxFrameSize, 7, 20000, 1} {
		frames = append(frames, bytes.Repeat([]byte{byte(i + 1)}, n))
	}
	if err := sender.WriteFrames(frames); err != nil {
		t.Fatal(err)
	}
	stream := wire.Bytes()
	for _, chunk := range []int{1, 2, 3, 17, 100, 4096, 1 << 20} {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			r, sc := receiver(stream)
			sc.r = &chunkReader{r: bytes.NewReader(stream), n: chunk}
			for i, want := range frames {
				got, err := r.ReadFrame()
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("frame %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
				}
			}
			if _, err := r.ReadFrame(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the last frame: %v, want EOF", err)
			}
			if r.ahead != nil {
				t.Fatal("a drained Conn still holds a read-ahead buffer")
			}
		})
	}
}

// TestReadAheadTruncated: a stream that ends inside a record read ahead
// fails with ErrUnexpectedEOF, not with a partial frame.
func TestReadAheadTruncated(t *testing.T) {
	sender, wire, receiver := keyedPair(t)
	if err := sender.WriteFrames([][]byte{[]byte("one"), []byte("two")}); err != nil {
		t.Fatal(err)
	}
	stream := wire.Bytes()
	for cut := len(stream) - 1; cut > headerSize+tagSize+3; cut -= 5 {
		r, _ := receiver(stream[:cut])
		if got, err := r.ReadFrame(); err != nil || string(got) != "one" {
			t.Fatalf("cut %d: first frame %q, %v", cut, got, err)
		}
		if got, err := r.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut %d: second frame %q, %v; want ErrUnexpectedEOF", cut, got, err)
		}
	}
}

// chunkReader returns at most n bytes per Read.
type chunkReader struct {
	r io.Reader
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.n {
		p = p[:c.n]
	}
	return c.r.Read(p)
}

// TestWriteLastFrame: nothing written after the last frame reaches the
// wire, whoever writes it.
func TestWriteLastFrame(t *testing.T) {
	sender, wire, receiver := keyedPair(t)
	if err := sender.WriteLastFrame([]byte("goodbye")); err != nil {
		t.Fatal(err)
	}
	if err := sender.WriteFrame([]byte("late")); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteFrame after the last frame = %v, want ErrClosed", err)
	}
	if err := sender.WriteFrames([][]byte{[]byte("late")}); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteFrames after the last frame = %v, want ErrClosed", err)
	}
	r, _ := receiver(wire.Bytes())
	if got, err := r.ReadFrame(); err != nil || string(got) != "goodbye" {
		t.Fatalf("first frame %q, %v", got, err)
	}
	if got, err := r.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Fatalf("a frame after the last one: %q, %v", got, err)
	}
}

// TestBufferedCountsReadAhead: a reader that batches work until the
// stream runs dry (as the load generator batches acks) must see frames the
// transport already read ahead.
func TestBufferedCountsReadAhead(t *testing.T) {
	sender, wire, receiver := keyedPair(t)
	if err := sender.WriteFrames([][]byte{[]byte("a"), []byte("bb"), []byte("ccc")}); err != nil {
		t.Fatal(err)
	}
	r, _ := receiver(wire.Bytes())
	for i := range 3 {
		if _, err := r.ReadFrame(); err != nil {
			t.Fatal(err)
		}
		left := 2 - i // frames still waiting
		if got := r.Buffered(); (got > 0) != (left > 0) {
			t.Fatalf("after frame %d: Buffered() = %d with %d frames waiting", i, got, left)
		}
	}
}

// TestDeadlineMidFrameKeepsConn: a read deadline that fires after part of
// a record arrived (header only, or header and part of the body) does not
// break the stream: the next ReadFrame continues the record.
func TestDeadlineMidFrameKeepsConn(t *testing.T) {
	sender, wire, _ := keyedPair(t)
	if err := sender.WriteFrames([][]byte{[]byte("first frame"), []byte("second")}); err != nil {
		t.Fatal(err)
	}
	stream := bytes.Clone(wire.Bytes())
	for _, cut := range []int{1, headerSize, headerSize + 5, len(stream) - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			cc, sc := tcpPair(t)
			var key [32]byte
			copy(key[:], "0123456789abcdef0123456789abcdef")
			r := newConn(sc, PublicKey{}, noise.UnsafeNewCipherState(suite, key, 0), noise.UnsafeNewCipherState(suite, key, 0))
			if _, err := cc.Write(stream[:cut]); err != nil {
				t.Fatal(err)
			}
			var got []string
			deadline := time.Now().Add(100 * time.Millisecond)
			for len(got) < 2 {
				_ = r.SetReadDeadline(deadline)
				f, err := r.ReadFrame()
				if errors.Is(err, os.ErrDeadlineExceeded) {
					// The writer was slow: send the rest, and no more deadline.
					if _, err := cc.Write(stream[cut:]); err != nil {
						t.Fatal(err)
					}
					deadline = time.Time{}
					continue
				}
				if err != nil {
					t.Fatalf("after %d frames: %v", len(got), err)
				}
				got = append(got, string(f))
			}
			if got[0] != "first frame" || got[1] != "second" {
				t.Fatalf("frames %q", got)
			}
		})
	}
}
