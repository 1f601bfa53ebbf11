package transport

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flynn/noise"
	"github.com/parley-im/parley/protocol"
)

const (
	headerSize = 3  // big-endian record length
	tagSize    = 16 // AES-GCM tag
	// maxCiphertext is the largest legal record body after the handshake.
	maxCiphertext = protocol.MaxFrameSize + tagSize
	// maxRecord is the largest single record on the wire, header included;
	// no Write is ever larger (the WebSocket read limit relies on it).
	maxRecord = headerSize + maxCiphertext
)

// MaxRecordSize is the largest record (and therefore the largest single
// Write) a Conn ever produces: a 3-byte header plus a full frame's
// ciphertext. Carriers that are message-oriented size their limits by it.
const MaxRecordSize = maxRecord

// Conn is an established Noise channel carrying frames. ReadFrame must be
// called from one goroutine at a time; WriteFrame and WriteFrames may be
// called concurrently with each other and with ReadFrame.
type Conn struct {
	nc     net.Conn
	remote PublicKey

	// Read side: used only by the goroutine in ReadFrame.
	rx   halfState
	rbuf *[]byte // the buffer lent to the last ReadFrame caller
	rerr error   // sticky: the stream is unusable
	hdr  [headerSize]byte
	// Bytes read past the last record: (*ahead)[aoff:aend]. Non-nil only
	// while it holds some, so an idle Conn holds no buffer.
	ahead      *[]byte
	aoff, aend int

	wmu  sync.Mutex
	tx   halfState // guarded by wmu
	werr error     // guarded by wmu; sticky
}

// halfState is one direction of the Noise transport: its key and nonce
// counter (taken from flynn/noise's CipherState after Split) and a cached
// AES-GCM instance. The cache (≈0.8 KiB retained: AES key schedule and
// GHASH table) is what an idle connection must not keep: ReleaseCiphers
// drops it and the next frame rebuilds it from the key, so an idle Conn
// holds 64 bytes per direction here. The construction follows Noise's AESGCM
// cipher: 96-bit nonce = 4 zero bytes || big-endian counter, no associated
// data; interop_test.go checks it against flynn/noise.
type halfState struct {
	key   [32]byte
	n     uint64
	nonce [12]byte                // kept here so sealing does not allocate it
	gcm   atomic.Pointer[aeadBox] // nil when released
}

type aeadBox struct{ cipher.AEAD }

func newConn(nc net.Conn, remote PublicKey, enc, dec *noise.CipherState) *Conn {
	c := &Conn{nc: nc, remote: remote}
	c.tx.key, c.tx.n = enc.UnsafeKey(), enc.Nonce()
	c.rx.key, c.rx.n = dec.UnsafeKey(), dec.Nonce()
	return c
}

// aead returns the cipher for the next frame and sets h.nonce. Only the
// direction's owner (the reader, or a writer holding wmu) calls it; the
// atomic is for ReleaseCiphers, which may run on any goroutine.
func (h *halfState) aead() (cipher.AEAD, error) {
	if h.n > noise.MaxNonce {
		return nil, ErrNonceExhausted
	}
	binary.BigEndian.PutUint64(h.nonce[4:], h.n)
	if b := h.gcm.Load(); b != nil {
		return b.AEAD, nil
	}
	block, err := aes.NewCipher(h.key[:])
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	h.gcm.Store(&aeadBox{g})
	return g, nil
}

// ReleaseCiphers drops the expanded AES-GCM state of both directions
// (about 1.6 KiB together, measured by BenchmarkIdleConnMemory); the next
// frame in each direction rebuilds it (a few µs of CPU and 1.3 KiB of
// short-lived garbage, see BenchmarkWriteReadFrame/…/released). The node calls it for connections that have been idle for a
// while so that idle connections cost only their keys; it is safe to call
// from any goroutine at any time.
func (c *Conn) ReleaseCiphers() {
	c.rx.gcm.Store(nil)
	c.tx.gcm.Store(nil)
}

// ReadFrame reads, authenticates and decrypts the next frame. The returned
// slice aliases a pooled buffer and is valid only until the next ReadFrame
// call. While it waits for the next length header the Conn holds no buffer.
//
// A frame longer than protocol.MaxFrameSize (ErrFrameTooLarge), a frame that
// fails authentication (ErrDecrypt), a truncated stream or any read error
// makes the Conn unusable and closes it. The only exception is an expired
// read deadline (an error matching os.ErrDeadlineExceeded): whatever part of
// the next record had arrived is kept, so ReadFrame may be called again and
// continues where it stopped. (A frame arriving just as an idle deadline
// fires must not cost the connection.)
func (c *Conn) ReadFrame() ([]byte, error) {
	if c.rbuf != nil {
		putBuf(c.rbuf)
		c.rbuf = nil
	}
	if c.rerr != nil {
		return nil, c.rerr
	}
	if c.ahead != nil {
		return c.readAhead()
	}
	// An idle connection parks inside readHeader. Keeping this function and
	// readHeader free of error formatting keeps their stack frames small, so
	// a parked reader fits in the 2 KiB minimum goroutine stack (the node
	// holds one per idle connection; see docs/benchmarks.md).
	n, err := c.readHeader()
	if err != nil {
		return nil, c.headerError(n, err)
	}
	return c.readBody()
}

// readHeader blocks until the next record's length header has arrived.
//
//go:noinline
func (c *Conn) readHeader() (int, error) {
	return io.ReadFull(c.nc, c.hdr[:])
}

//go:noinline
func (c *Conn) headerError(n int, err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		c.keepPartial(c.hdr[:n])
		return fmt.Errorf("transport: read frame: %w", err)
	}
	return c.failRead(fmt.Errorf("transport: read frame header: %w", err))
}

// keepPartial keeps the bytes of a record that a read deadline interrupted
// (header first), so the next ReadFrame continues the record. Nothing is
// kept, and no buffer held, when no byte had arrived.
func (c *Conn) keepPartial(parts ...[]byte) {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	if total == 0 {
		return
	}
	bp := getBuf(max(total, readAheadSize))
	off := 0
	for _, p := range parts {
		off += copy((*bp)[off:], p)
	}
	c.ahead, c.aoff, c.aend = bp, 0, total
}

// readBody reads and opens the record whose header is in c.hdr.
//
//go:noinline
func (c *Conn) readBody() ([]byte, error) {
	n := getHeader(c.hdr[:])
	if n > maxCiphertext {
		return nil, c.failRead(fmt.Errorf("%w: header announces %d bytes of plaintext, limit %d", ErrFrameTooLarge, n-tagSize, protocol.MaxFrameSize))
	}
	if n < tagSize {
		return nil, c.failRead(fmt.Errorf("%w: %d-byte record is shorter than the tag", ErrDecrypt, n))
	}
	// Read the body and whatever else has arrived, up to readAheadSize: a
	// busy device's frames come in bursts, and each one read on its own
	// costs a syscall for its header and another for its body.
	bp := getBuf(max(n, readAheadSize))
	buf := *bp
	m, err := io.ReadAtLeast(c.nc, buf, n)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			c.keepPartial(c.hdr[:], buf[:m])
			putBuf(bp)
			return nil, fmt.Errorf("transport: read frame body: %w", err)
		}
		putBuf(bp)
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, c.failRead(fmt.Errorf("transport: read frame body: %w", err))
	}
	pt, err := c.open(buf[:n])
	if err != nil {
		putBuf(bp)
		return nil, err
	}
	if m > n {
		c.ahead, c.aoff, c.aend = bp, n, m // pt aliases it too: kept until drained
	} else {
		c.rbuf = bp
	}
	return pt, nil
}

// Buffered is the number of bytes received and not yet returned by
// ReadFrame: when it is zero (and the carrier holds nothing either) the next
// ReadFrame waits for the network. Only the ReadFrame goroutine may call it.
func (c *Conn) Buffered() int { return c.aend - c.aoff }

// readAheadSize is how much one body read may take beyond its record.
const readAheadSize = 8 << 10

// readAhead returns the next record from the bytes read ahead, reading
// more first if they hold only part of it.
//
//go:noinline
func (c *Conn) readAhead() ([]byte, error) {
	if err := c.fill(headerSize); err != nil {
		return nil, err
	}
	buf := *c.ahead
	n := getHeader(buf[c.aoff:])
	if n > maxCiphertext {
		return nil, c.failRead(fmt.Errorf("%w: header announces %d bytes of plaintext, limit %d", ErrFrameTooLarge, n-tagSize, protocol.MaxFrameSize))
	}
	if n < tagSize {
		return nil, c.failRead(fmt.Errorf("%w: %d-byte record is shorter than the tag", ErrDecrypt, n))
	}
	if err := c.fill(headerSize + n); err != nil {
		return nil, err
	}
	buf = *c.ahead
	rec := buf[c.aoff+headerSize : c.aoff+headerSize+n]
	pt, err := c.open(rec)
	if err != nil {
		return nil, err
	}
	c.aoff += headerSize + n
	if c.aoff == c.aend { // drained: lend the buffer for pt, then release it
		c.rbuf, c.ahead = c.ahead, nil
	}
	return pt, nil
}

// fill makes sure at least need bytes are read ahead, moving them to a
// larger buffer when they would not fit. An expired read deadline keeps
// what arrived; any other read error ends the stream.
func (c *Conn) fill(need int) error {
	have := c.aend - c.aoff
	if have >= need {
		return nil
	}
	if len(*c.ahead)-c.aoff < need {
		nb := getBuf(max(need, readAheadSize))
		copy(*nb, (*c.ahead)[c.aoff:c.aend])
		putBuf(c.ahead)
		c.ahead, c.aoff, c.aend = nb, 0, have
	}
	m, err := io.ReadAtLeast(c.nc, (*c.ahead)[c.aend:], need-have)
	c.aend += m
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("transport: read frame: %w", err) // kept: the next call continues
	}
	if err != nil {
		putBuf(c.ahead)
		c.ahead, c.aoff, c.aend = nil, 0, 0
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return c.failRead(fmt.Errorf("transport: read frame: %w", err))
	}
	return nil
}

// open authenticates and decrypts one record body in place.
func (c *Conn) open(rec []byte) ([]byte, error) {
	g, err := c.rx.aead()
	if err != nil {
		return nil, c.failRead(fmt.Errorf("transport: read frame: %w", err))
	}
	pt, err := g.Open(rec[:0], c.rx.nonce[:], rec, nil)
	if err != nil {
		return nil, c.failRead(fmt.Errorf("%w: frame %d", ErrDecrypt, c.rx.n))
	}
	c.rx.n++
	return pt, nil
}

func (c *Conn) failRead(err error) error {
	if errors.Is(err, net.ErrClosed) {
		err = fmt.Errorf("%w: %w", ErrClosed, err)
	}
	c.rerr = err
	c.nc.Close()
	return err
}

// WriteFrame encrypts p (at most protocol.MaxFrameSize bytes) and sends it
// with one Write (one WebSocket message). It is safe for concurrent use. A
// too-large p is refused with ErrFrameTooLarge and leaves the Conn usable;
// a write error makes the Conn unusable.
func (c *Conn) WriteFrame(p []byte) error { return c.writeFrame(p, false) }

// WriteLastFrame writes p like WriteFrame and then refuses every later
// write with ErrClosed, so a goodbye is the last frame on the wire even when
// other goroutines are still writing (they would otherwise slip frames in
// between the goodbye and Close).
func (c *Conn) WriteLastFrame(p []byte) error { return c.writeFrame(p, true) }

func (c *Conn) writeFrame(p []byte, last bool) error {
	if len(p) > protocol.MaxFrameSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(p), protocol.MaxFrameSize)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	bp := getBuf(headerSize + len(p) + tagSize)
	defer putBuf(bp)
	out, err := c.sealLocked((*bp)[:0], p)
	if err == nil {
		err = c.flushLocked(out)
	}
	if last && c.werr == nil {
		c.werr = fmt.Errorf("transport: write after the last frame: %w", ErrClosed)
	}
	return err
}

// WriteFrames encrypts several frames and sends them with as few Writes as
// possible: frames are packed into Writes of at most MaxRecordSize bytes, so
// small frames share one syscall (one WebSocket message). Frames are sent in
// order and no other writer's frame is interleaved between them. If any
// frame is too large nothing is sent.
func (c *Conn) WriteFrames(ps [][]byte) error {
	for i, p := range ps {
		if len(p) > protocol.MaxFrameSize {
			return fmt.Errorf("%w: frame %d has %d bytes, limit %d", ErrFrameTooLarge, i, len(p), protocol.MaxFrameSize)
		}
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	for len(ps) > 0 {
		// Pack as many whole frames as fit one maxRecord-sized Write.
		total, k := 0, 0
		for k < len(ps) {
			size := headerSize + len(ps[k]) + tagSize
			if k > 0 && total+size > maxRecord {
				break
			}
			total += size
			k++
		}
		bp := getBuf(total)
		out := (*bp)[:0]
		var err error
		for _, p := range ps[:k] {
			if out, err = c.sealLocked(out, p); err != nil {
				break
			}
		}
		if err == nil {
			err = c.flushLocked(out)
		}
		putBuf(bp)
		if err != nil {
			return err
		}
		ps = ps[k:]
	}
	return nil
}

// sealLocked appends header and ciphertext of p to out.
func (c *Conn) sealLocked(out, p []byte) ([]byte, error) {
	g, err := c.tx.aead()
	if err != nil {
		c.werr = fmt.Errorf("transport: write frame: %w", err)
		return nil, c.werr
	}
	start := len(out)
	out = out[:start+headerSize]
	putHeader(out[start:], len(p)+tagSize)
	out = g.Seal(out, c.tx.nonce[:], p, nil)
	c.tx.n++
	return out, nil
}

func (c *Conn) flushLocked(b []byte) error {
	if _, err := c.nc.Write(b); err != nil {
		// Nonces were consumed and part of the record may be on the wire:
		// the stream cannot continue.
		if errors.Is(err, net.ErrClosed) {
			err = fmt.Errorf("%w: %w", ErrClosed, err)
		}
		c.werr = fmt.Errorf("transport: write frame: %w", err)
		c.nc.Close()
		return c.werr
	}
	return nil
}

// RemoteKey is the peer's Noise static key: the device key on the node, the
// node key on a client.
func (c *Conn) RemoteKey() PublicKey { return c.remote }

// ServerKey is RemoteKey, named for the client side: after an XX handshake
// the caller pins it (or checks it with CheckServerKey).
func (c *Conn) ServerKey() PublicKey { return c.remote }

// CheckServerKey compares the node's key with a pinned one and returns a
// *KeyChangedError (matching ErrServerKeyChanged) if they differ. A client
// that used XX while holding a pin calls it before sending anything.
func (c *Conn) CheckServerKey(pinned PublicKey) error {
	if c.remote.Equal(pinned) {
		return nil
	}
	return &KeyChangedError{Pinned: pinned, Presented: c.remote}
}

// Close closes the underlying connection. A ReadFrame or WriteFrame blocked
// on it returns an error.
func (c *Conn) Close() error { return c.nc.Close() }

// SetReadDeadline sets the deadline for ReadFrame (see ReadFrame for when a
// timeout leaves the Conn usable).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline for WriteFrame and WriteFrames; a
// timed-out write makes the Conn unusable.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// RemoteAddr is the carrier's remote address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr is the carrier's local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

func putHeader(b []byte, n int) {
	b[0], b[1], b[2] = byte(n>>16), byte(n>>8), byte(n)
}

func getHeader(b []byte) int { return int(b[0])<<16 | int(b[1])<<8 | int(b[2]) }
