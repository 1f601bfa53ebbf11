package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/transport"
)

// Device is one bench device: a handle and its Noise static key.
type Device struct {
	Handle string
	Key    transport.StaticKey
}

// KeySet is the Signal key material every bench device registers with. It
// is made once per run with the real e2e code (an identity key, a signed
// prekey and a last-resort ML-KEM-1024 prekey, both signed) and reused by
// every device: the node checks only sizes and type bytes, and making a
// KEM key per device would spend the CPU we are measuring the node with.
type KeySet struct{ upload *pb.UploadKeys }

// NewKeySet generates the shared key material.
func NewKeySet() (*KeySet, error) {
	id, err := e2e.GenerateKeyPair(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("bench: identity key: %w", err)
	}
	spk, err := e2e.GenerateSignedPreKey(rand.Reader, id, 1)
	if err != nil {
		return nil, fmt.Errorf("bench: signed prekey: %w", err)
	}
	kem, err := e2e.GenerateKEMPreKey(rand.Reader, id, 1, true)
	if err != nil {
		return nil, fmt.Errorf("bench: KEM prekey: %w", err)
	}
	return &KeySet{upload: &pb.UploadKeys{
		IdentityKey:         id.Public.Bytes(),
		SignedPreKey:        &pb.SignedPreKey{Id: spk.ID, PublicKey: spk.KeyPair.Public.Bytes(), Signature: spk.Signature},
		LastResortKemPreKey: &pb.KEMPreKey{Id: kem.ID, PublicKey: kem.KeyPair.Public().Bytes(), Signature: kem.Signature},
	}}, nil
}

// srcAddr spreads connections over 127.0.block.2 … 127.0.block.251: a
// bound source port is unique per source address, so 250 addresses give
// millions of ports instead of one range of ~28,000.
func srcAddr(block, i int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, byte(block), byte(2+i%250))}
}

// Source-address blocks, one per phase, so a phase never meets the
// TIME_WAIT sockets of the one before.
const (
	blockRegister = 10
	blockHold     = 20
	blockTraffic  = 30
	blockDrain    = 40
)

// conn is a bench connection. A held one is parked (see park): the socket
// as a bare descriptor, the transport.Conn with its ciphers released, and
// this struct, ≈0.3 KiB of heap in all. Buffered ones (for traffic) add a
// read buffer so acknowledgements can be batched.
//
// An unbuffered conn is its own transport carrier (it implements net.Conn),
// which is what lets park swap the socket under the transport.Conn.
type conn struct {
	tc *transport.Conn
	nc *net.TCPConn  // nil while parked
	br *bufio.Reader // nil unless buffered
	fd int           // the socket while parked, else -1
}

// Request ids: Register is the only request before traffic starts; a Send
// carries sendIDFlag|stream<<32|seq (see traffic.go) so its reply names the
// message without a map.
const (
	registerID = 1
	pingID     = 2 // the node refuses a Ping without an id
	sendIDFlag = 1 << 62
)

// bufConn lets the transport read through a bufio.Reader.
type bufConn struct {
	*net.TCPConn
	r *bufio.Reader
}

func (b bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// dial connects dev to the node with IK and reads Welcome.
func dial(ctx context.Context, t Target, dev Device, src *net.TCPAddr, buffered bool) (*conn, *pb.Welcome, error) {
	d := net.Dialer{LocalAddr: src, Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", t.Addr)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: dial %s from %v: %w", t.Addr, src, err)
	}
	tcp := nc.(*net.TCPConn)
	c := &conn{nc: tcp, fd: -1}
	var carrier net.Conn = c
	if buffered {
		c.br = bufio.NewReaderSize(tcp, 16<<10)
		carrier = bufConn{tcp, c.br}
	}
	sk := t.ServerKey
	c.tc, err = transport.Client(ctx, carrier, transport.ClientConfig{Key: dev.Key, ServerKey: &sk})
	if err != nil {
		return nil, nil, fmt.Errorf("bench: handshake %s: %w", dev.Handle, err)
	}
	f, err := c.read(10 * time.Second)
	if err != nil {
		c.close()
		return nil, nil, err
	}
	w := f.GetWelcome()
	if w == nil {
		c.close()
		return nil, nil, fmt.Errorf("%w: first frame %T, want Welcome", ErrNode, f.Body)
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	// Park at once rather than after every device has dialled: the runtime
	// keeps a closed connection's poll descriptor for reuse and never gives
	// its memory back, so parking late would leave one per connection.
	if err := c.park(); err != nil {
		c.close()
		return nil, nil, err
	}
	return c, w, nil
}

func (c *conn) close() { c.tc.Close() }

// write sends one frame as is (the caller chooses f.Id); it is safe for
// concurrent use.
func (c *conn) write(f *pb.ClientFrame) (uint64, error) {
	b, err := proto.Marshal(f)
	if err != nil {
		return 0, fmt.Errorf("bench: marshal: %w", err)
	}
	if err := c.tc.WriteFrame(b); err != nil {
		return 0, err
	}
	return f.Id, nil
}

// writeFrames sends already encoded frames in as few writes as the
// transport can pack them into (one for a handful of small frames).
func (c *conn) writeFrames(frames [][]byte) error { return c.tc.WriteFrames(frames) }

// readRaw returns the next frame undecoded, valid until the next read, with
// whatever read deadline was set last.
func (c *conn) readRaw() ([]byte, error) { return c.tc.ReadFrame() }

// read returns the next frame; timeout 0 means no deadline.
func (c *conn) read(timeout time.Duration) (*pb.ServerFrame, error) {
	var dl time.Time
	if timeout > 0 {
		dl = time.Now().Add(timeout)
	}
	_ = c.tc.SetReadDeadline(dl)
	b, err := c.tc.ReadFrame()
	if err != nil {
		return nil, err
	}
	f := new(pb.ServerFrame)
	if err := proto.Unmarshal(b, f); err != nil {
		return nil, fmt.Errorf("%w: undecodable server frame: %w", ErrNode, err)
	}
	return f, nil
}

// buffered reports how many received bytes wait in the read buffer: zero
// means the next read would block, so it is time to flush an ack batch.
func (c *conn) buffered() int {
	if c.br == nil {
		return 0
	}
	return c.br.Buffered() + c.tc.Buffered() // the transport reads ahead too
}

// register registers dev's handle on c with ks and waits for Registered,
// skipping frames the node pushes meanwhile.
func (c *conn) register(handle string, ks *KeySet) error {
	// A registration is a 2 KiB write and a reply to wait for: the poller's
	// business, not a parked descriptor's.
	if err := c.unpark(); err != nil {
		return err
	}
	id, err := c.write(&pb.ClientFrame{Id: registerID, Body: &pb.ClientFrame_Register{Register: &pb.Register{
		Handle: handle, RegistrationId: 1, Keys: ks.upload,
	}}})
	if err != nil {
		return err
	}
	for {
		f, err := c.read(30 * time.Second)
		if err != nil {
			return fmt.Errorf("bench: register %s: %w", handle, err)
		}
		if f.ReplyTo != id {
			continue
		}
		if e := f.GetError(); e != nil {
			return fmt.Errorf("%w: register %s: %s: %s", ErrNode, handle, e.Code, e.Reason)
		}
		if f.GetRegistered() == nil {
			return fmt.Errorf("%w: register %s: got %T", ErrNode, handle, f.Body)
		}
		return nil
	}
}

// alive reports whether the node still holds the connection. It peeks
// without blocking; only while bytes wait does it read them (frames the
// node pushed while we idled, each already on the socket), and a Goodbye,
// EOF or error means dead. It never waits for the network.
func (c *conn) alive() bool {
	defer c.tc.ReleaseCiphers()
	if err := c.unpark(); err != nil {
		return false
	}
	for {
		// An expired read deadline would make rc.Read fail without peeking.
		_ = c.nc.SetReadDeadline(time.Time{})
		rc, err := c.nc.SyscallConn()
		if err != nil {
			return false
		}
		var n int
		var perr error
		var buf [1]byte
		if err := rc.Read(func(fd uintptr) bool {
			n, _, perr = syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			return true
		}); err != nil {
			return false
		}
		switch {
		case perr == syscall.EAGAIN:
			return true
		case perr != nil || n <= 0:
			return false
		}
		f, err := c.read(5 * time.Second)
		if err != nil || f.GetGoodbye() != nil {
			return false
		}
	}
}

// ping writes a Ping so the node's idle timeout does not close a held
// connection; the Pong waits in the socket until alive reads it.
func (c *conn) ping() error {
	_, err := c.write(&pb.ClientFrame{Id: pingID, Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{ClientTimeMs: time.Now().UnixMilli()}}})
	c.tc.ReleaseCiphers()
	return err
}

// park keeps the connection open as a bare descriptor and drops Go's
// network poller state for it (net.TCPConn, netFD, its addresses and the
// runtime's pollDesc: about 0.6 KiB of the 2.1 KiB a held connection
// cost). The socket stays open through a duplicate descriptor, so closing
// the TCPConn sends nothing to the node. A parked conn can still be pinged
// (write sends on the descriptor directly) and closed; reading or setting
// a deadline unparks it (a TCPConn again) first.
func (c *conn) park() error {
	if c.nc == nil || c.br != nil {
		return nil
	}
	c.releaseReadBuf()
	rc, err := c.nc.SyscallConn()
	if err != nil {
		return fmt.Errorf("bench: park: %w", err)
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if e != 0 {
			derr = e
			return
		}
		fd = int(r)
	}); err != nil {
		return fmt.Errorf("bench: park: %w", err)
	}
	if derr != nil {
		return fmt.Errorf("bench: park: dup: %w", derr)
	}
	_ = c.nc.Close()
	c.nc, c.fd = nil, fd
	return nil
}

// releaseReadBuf hands the buffer of the last frame read back to the
// transport's pool. A transport.Conn keeps it until its next ReadFrame
// (the frame aliases it), which for a held connection is never: 0.5 KiB
// pinned per connection. With a deadline in the past ReadFrame still reads
// what already waits in the socket (the node pushes PrekeysLow and
// QueueDrained after Welcome) and then fails before reading a byte, which
// returns the buffer and leaves the stream in sync; reading the waiting
// frames rebuilt the ciphers, so they are released again.
func (c *conn) releaseReadBuf() {
	if c.nc == nil {
		return
	}
	_ = c.nc.SetReadDeadline(time.Unix(1, 0))
	for {
		if _, err := c.tc.ReadFrame(); err != nil {
			break
		}
	}
	_ = c.nc.SetReadDeadline(time.Time{})
	c.tc.ReleaseCiphers()
}

// unparked is the TCPConn to read from, unparking first.
func (c *conn) unparked() (*net.TCPConn, error) {
	if err := c.unpark(); err != nil {
		return nil, err
	}
	if c.nc == nil {
		return nil, net.ErrClosed
	}
	return c.nc, nil
}

// unpark turns a parked descriptor back into a TCPConn.
func (c *conn) unpark() error {
	if c.nc != nil || c.fd < 0 {
		return nil
	}
	f := os.NewFile(uintptr(c.fd), "bench-conn")
	nc, err := net.FileConn(f) // duplicates the descriptor
	_ = f.Close()
	c.fd = -1
	if err != nil {
		return fmt.Errorf("bench: unpark: %w", err)
	}
	c.nc = nc.(*net.TCPConn)
	return nil
}

// Read implements net.Conn for the transport; reading unparks.
func (c *conn) Read(p []byte) (int, error) {
	nc, err := c.unparked()
	if err != nil {
		return 0, err
	}
	return nc.Read(p)
}

// Write implements net.Conn for the transport. While parked it writes to
// the descriptor without the poller: only pings (a few dozen bytes into an
// idle socket's empty send buffer) are written then, so a full buffer
// (EAGAIN) is reported as an error rather than waited for.
func (c *conn) Write(p []byte) (int, error) {
	if c.nc != nil {
		return c.nc.Write(p)
	}
	if c.fd < 0 {
		return 0, net.ErrClosed
	}
	n := 0
	for n < len(p) {
		k, err := syscall.Write(c.fd, p[n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("bench: write parked connection: %w", err)
		}
		n += k
	}
	return n, nil
}

// Close implements net.Conn.
func (c *conn) Close() error {
	if c.nc != nil {
		return c.nc.Close()
	}
	if c.fd < 0 {
		return nil
	}
	fd := c.fd
	c.fd = -1
	return syscall.Close(fd)
}

// LocalAddr implements net.Conn; nil while parked.
func (c *conn) LocalAddr() net.Addr {
	if c.nc == nil {
		return nil
	}
	return c.nc.LocalAddr()
}

// RemoteAddr implements net.Conn; nil while parked.
func (c *conn) RemoteAddr() net.Addr {
	if c.nc == nil {
		return nil
	}
	return c.nc.RemoteAddr()
}

// SetDeadline implements net.Conn. A deadline announces a read, so it
// unparks.
func (c *conn) SetDeadline(t time.Time) error {
	nc, err := c.unparked()
	if err != nil {
		return err
	}
	return nc.SetDeadline(t)
}

// SetReadDeadline implements net.Conn; it unparks.
func (c *conn) SetReadDeadline(t time.Time) error {
	nc, err := c.unparked()
	if err != nil {
		return err
	}
	return nc.SetReadDeadline(t)
}

// SetWriteDeadline implements net.Conn; a parked conn's writes (pings)
// have none.
func (c *conn) SetWriteDeadline(t time.Time) error {
	if c.nc == nil {
		return nil
	}
	return c.nc.SetWriteDeadline(t)
}
