package client_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/client"
	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// proxy sits between devices and the node's HTTP port. It counts the bytes
// devices send and can cut the first connection that passes cutUp bytes
// upstream or cutDown bytes downstream: a dropped connection mid-transfer.
type proxy struct {
	ln             net.Listener
	target         atomic.Pointer[string] // set once the node runs; connections before are refused
	up             atomic.Int64
	cutUp, cutDown atomic.Int64 // 0: never; reset to 0 once used
	cuts           atomic.Int64
}

func startProxy(t testing.TB) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *proxy) serve(c net.Conn) {
	target := p.target.Load()
	if target == nil {
		c.Close()
		return
	}
	s, err := net.Dial("tcp", *target)
	if err != nil {
		c.Close()
		return
	}
	var once sync.Once
	kill := func() { once.Do(func() { c.Close(); s.Close() }) }
	pipe := func(dst, src net.Conn, count *atomic.Int64, cut *atomic.Int64) {
		defer kill()
		buf := make([]byte, 32<<10)
		var n int64
		for {
			k, err := src.Read(buf)
			if k > 0 {
				n += int64(k)
				if count != nil {
					count.Add(int64(k))
				}
				if c := cut.Load(); c > 0 && n >= c && cut.CompareAndSwap(c, 0) {
					p.cuts.Add(1)
					return
				}
				if _, werr := dst.Write(buf[:k]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pipe(s, c, &p.up, &p.cutUp)
	pipe(c, s, nil, &p.cutDown)
}

// mediaNode runs a node whose public URL is the proxy.
func mediaNode(t testing.TB, cfg server.Config) (*servertest.Node, *proxy) {
	p := startProxy(t)
	cfg.PublicURL = "http://" + p.ln.Addr().String()
	n := servertest.Start(t, cfg)
	target := n.HTTPAddr().String()
	p.target.Store(&target)
	return n, p
}

// writeFile writes n pseudo-random bytes with a plaintext marker in them.
func writeFile(t testing.TB, dir, name string, n int64) (string, [32]byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(&fastGen{}, n)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return p, sum
}

// marker appears in every generated file, so the test can check the node
// never stores plaintext.
const marker = "PARLEY-PLAINTEXT-MARKER"

// fastGen yields a cheap non-repeating stream (xorshift) with the marker
// every 4 KiB.
type fastGen struct {
	x   uint64
	pos int64
}

func (g *fastGen) Read(p []byte) (int, error) {
	if g.x == 0 {
		g.x = 88172645463325252
	}
	for i := range p {
		if off := int(g.pos % 4096); off < len(marker) {
			p[i] = marker[off]
		} else {
			if g.pos%8 == 0 {
				g.x ^= g.x << 13
				g.x ^= g.x >> 7
				g.x ^= g.x << 17
			}
			p[i] = byte(g.x >> (8 * (g.pos % 8)))
		}
		g.pos++
	}
	return len(p), nil
}

func fileSum(t testing.TB, p string) [32]byte {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// blobFiles lists the finished blobs in a node's filesystem store.
func blobFiles(t testing.TB, n *servertest.Node) []string {
	var out []string
	root := filepath.Join(n.Config.DataDir, "blobs", "b")
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func pair(t testing.TB, n *servertest.Node) (alice, bob *device) {
	alice, bob = memDevice(t, n), memDevice(t, n)
	register(t, alice, "alice")
	register(t, bob, "bob")
	return alice, bob
}

func nextAttachment(t testing.TB, d *device) client.Message {
	t.Helper()
	m := d.nextMessage(t)
	if m.Attachment == nil {
		t.Fatalf("message %s carries no attachment (text %q)", m.ID, m.Text)
	}
	return m
}

func TestSendFileRoundTrip(t *testing.T) {
	n, p := mediaNode(t, server.Config{})
	alice, bob := pair(t, n)
	ctx := ctxT(t)
	src, sum := writeFile(t, t.TempDir(), "holiday.bin", 5<<20)
	var last atomic.Int64
	id, err := alice.SendFile(ctx, "bob", src, client.FileOptions{Caption: "look", MIME: "application/x-test", Progress: func(sent, total int64) { last.Store(sent) }})
	if err != nil {
		t.Fatalf("SendFile: %v", err)
	}
	m := nextAttachment(t, bob)
	a := m.Attachment
	if m.ID != id || a.FileName != "holiday.bin" || a.Size != 5<<20 || a.MIME != "application/x-test" || a.Caption != "look" || m.Text != "look" {
		t.Fatalf("attachment %+v (id %s, want %s)", *a, m.ID, id)
	}
	if !strings.HasPrefix(a.URL, "http://"+p.ln.Addr().String()+"/media/v1/blobs/") {
		t.Fatalf("URL %q not on the node's public URL", a.URL)
	}
	if last.Load() != a.CiphertextSize {
		t.Errorf("progress ended at %d, want %d", last.Load(), a.CiphertextSize)
	}
	dir := t.TempDir()
	path, err := bob.DownloadAttachment(ctx, m, dir)
	if err != nil {
		t.Fatalf("DownloadAttachment: %v", err)
	}
	if path != filepath.Join(dir, "holiday.bin") || fileSum(t, path) != sum {
		t.Fatalf("downloaded %s: contents differ from the sent file", path)
	}
	// A second download does not overwrite the first.
	path2, err := bob.DownloadAttachment(ctx, m, dir)
	if err != nil || path2 != filepath.Join(dir, "holiday (1).bin") {
		t.Fatalf("second download: %q %v", path2, err)
	}
	// History on both sides records the file; bob's knows where it is.
	hb, err := bob.History(ctx, "alice", 0)
	if err != nil || len(hb) != 1 || hb[0].Attachment == nil || hb[0].Attachment.Path != path2 {
		t.Fatalf("bob's history: %+v %v", hb, err)
	}
	ha, err := alice.History(ctx, "bob", 0)
	if err != nil || len(ha) != 1 || ha[0].Attachment == nil || ha[0].Attachment.Path != src || ha[0].Status < client.StatusSent {
		t.Fatalf("alice's history: %+v %v", ha, err)
	}
	// The node stored one blob, and no plaintext.
	files := blobFiles(t, n)
	if len(files) != 1 {
		t.Fatalf("node holds %d blobs, want 1", len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(marker)) || int64(len(b)) != a.CiphertextSize {
		t.Fatalf("stored blob: %d bytes, marker present: %v", len(b), bytes.Contains(b, []byte(marker)))
	}
}

func TestTamperedBlobRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, path string)
	}{
		{"one byte flipped", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var b [1]byte
			f.ReadAt(b[:], 100_000)
			b[0] ^= 0x01
			if _, err := f.WriteAt(b[:], 100_000); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 200_000); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, _ := mediaNode(t, server.Config{})
			alice, bob := pair(t, n)
			ctx := ctxT(t)
			src, _ := writeFile(t, t.TempDir(), "doc.pdf", 300_000)
			if _, err := alice.SendFile(ctx, "bob", src, client.FileOptions{}); err != nil {
				t.Fatal(err)
			}
			m := nextAttachment(t, bob)
			files := blobFiles(t, n)
			if len(files) != 1 {
				t.Fatalf("%d blobs", len(files))
			}
			os.Chmod(files[0], 0o600)
			tc.break_(t, files[0])
			dir := t.TempDir()
			_, err := bob.DownloadAttachment(ctx, m, dir)
			if !errors.Is(err, client.ErrAttachmentCorrupt) {
				t.Fatalf("download of a broken blob: %v, want ErrAttachmentCorrupt", err)
			}
			left, _ := os.ReadDir(dir)
			if len(left) != 0 {
				t.Fatalf("files left behind: %v", left)
			}
		})
	}
}

// The connection drops after 1 MiB of a 4 MiB upload; the SDK asks the node
// where it stopped and sends only the rest.
func TestUploadResumesAfterDrop(t *testing.T) {
	n, p := mediaNode(t, server.Config{})
	alice, bob := pair(t, n)
	ctx := ctxT(t)
	const size = 4 << 20
	src, sum := writeFile(t, t.TempDir(), "big.bin", size)
	p.cutUp.Store(1 << 20)
	if _, err := alice.SendFile(ctx, "bob", src, client.FileOptions{}); err != nil {
		t.Fatalf("SendFile with a dropped connection: %v", err)
	}
	if p.cuts.Load() != 1 {
		t.Fatalf("proxy cut %d connections, want 1", p.cuts.Load())
	}
	if up := p.up.Load(); up >= 2*size {
		t.Fatalf("devices sent %d bytes for a %d-byte file: the upload restarted instead of resuming", up, size)
	} else {
		t.Logf("sent %d bytes for %d (%.2fx)", up, size, float64(up)/size)
	}
	m := nextAttachment(t, bob)
	// And a download cut midway resumes with Range.
	p.cutDown.Store(2 << 20)
	path, err := bob.DownloadAttachment(ctx, m, t.TempDir())
	if err != nil {
		t.Fatalf("download with a dropped connection: %v", err)
	}
	if p.cuts.Load() != 2 || fileSum(t, path) != sum {
		t.Fatalf("cuts %d; contents equal %v", p.cuts.Load(), fileSum(t, path) == sum)
	}
}

func TestFileOverCapRefused(t *testing.T) {
	n, p := mediaNode(t, server.Config{MediaMaxSize: 1 << 20})
	alice, _ := pair(t, n)
	src, _ := writeFile(t, t.TempDir(), "big.bin", 2<<20)
	_, err := alice.SendFile(ctxT(t), "bob", src, client.FileOptions{})
	if !errors.Is(err, client.ErrFileTooLarge) {
		t.Fatalf("SendFile over the cap: %v, want ErrFileTooLarge", err)
	}
	if p.up.Load() != 0 {
		t.Fatalf("%d bytes sent to the node for a refused file", p.up.Load())
	}
	up, _ := os.ReadDir(filepath.Join(n.Config.DataDir, "blobs", "up"))
	if len(up) != 0 || len(blobFiles(t, n)) != 0 {
		t.Fatalf("node stored something: uploads %v", up)
	}
}

// 128 MiB up and down through the node in this process: the heap must not
// grow with the file (the bound is an eighth of the file size).
func TestLargeFileConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("128 MiB transfer (5-40 s); runs in the normal suite")
	}
	const size = 128 << 20
	n, _ := mediaNode(t, server.Config{MediaMaxSize: 256 << 20})
	alice, bob := pair(t, n)
	// A transfer this size under -race on a busy 2-core CI machine needs
	// more than the usual 30 s; the deadline only guards against a hang.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	src, sum := writeFile(t, dir, "video.bin", size)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	}()
	t0 := time.Now()
	if _, err := alice.SendFile(ctx, "bob", src, client.FileOptions{TempDir: dir}); err != nil {
		t.Fatal(err)
	}
	up := time.Since(t0)
	m := nextAttachment(t, bob)
	t1 := time.Now()
	path, err := bob.DownloadAttachment(ctx, m, dir)
	if err != nil {
		t.Fatal(err)
	}
	down := time.Since(t1)
	close(stop)
	wg.Wait()
	if fileSum(t, path) != sum {
		t.Fatal("128 MiB file differs after the round trip")
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("128 MiB: encrypt+upload %v (%.0f MB/s), download+decrypt %v (%.0f MB/s), heap growth %.1f MiB",
		up.Round(time.Millisecond), size/up.Seconds()/1e6, down.Round(time.Millisecond), size/down.Seconds()/1e6, float64(growth)/(1<<20))
	if growth > size/8 {
		t.Fatalf("heap grew by %d MiB during a %d MiB transfer", growth>>20, size>>20)
	}
}
