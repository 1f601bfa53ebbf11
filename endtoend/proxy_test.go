package endtoend_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"testing"
)

// recordingProxy is a loopback TCP relay to a node that keeps a copy of
// every byte in both directions of every connection, so a test can look
// at exactly what a network observer would see.
type recordingProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	conns   []net.Conn      // guarded by mu: open connections, both sides
	streams []*bytes.Buffer // guarded by mu: one per direction per connection
	closed  bool            // guarded by mu
}

func newRecordingProxy(t *testing.T, target string) *recordingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &recordingProxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.acceptLoop()
	t.Cleanup(p.close)
	return p
}

func (p *recordingProxy) addr() string { return p.ln.Addr().String() }

func (p *recordingProxy) acceptLoop() {
	defer p.wg.Done()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		toNode, toDevice := &bytes.Buffer{}, &bytes.Buffer{}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			down.Close()
			up.Close()
			return
		}
		p.conns = append(p.conns, down, up)
		p.streams = append(p.streams, toNode, toDevice)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, down, toNode)
		go p.pipe(down, up, toDevice)
	}
}

// pipe copies src to dst, recording into rec (owned by this goroutine until
// close has waited for it). When one side ends, both connections close.
func (p *recordingProxy) pipe(dst, src net.Conn, rec *bytes.Buffer) {
	defer p.wg.Done()
	_, _ = io.Copy(io.MultiWriter(dst, rec), src)
	dst.Close()
	src.Close()
}

// close stops the relay and waits for every copier; idempotent.
func (p *recordingProxy) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	conns := p.conns
	p.mu.Unlock()
	p.ln.Close()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

// recorded stops the proxy and returns every recorded byte stream.
func (p *recordingProxy) recorded() [][]byte {
	p.close()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]byte, len(p.streams))
	for i, s := range p.streams {
		out[i] = s.Bytes()
	}
	return out
}
