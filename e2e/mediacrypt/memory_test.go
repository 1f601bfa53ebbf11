package mediacrypt

import (
	"crypto/sha256"
	"io"
	"runtime"
	"testing"
)

// patternReader produces n bytes of a repeating pattern without holding
// them, so the test itself stays constant-memory.
type patternReader struct {
	left  int64
	block []byte
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if p.block == nil {
		p.block = pattern(32 << 10)
	}
	n := copy(b[:min(int64(len(b)), p.left)], p.block)
	p.left -= int64(n)
	return n, nil
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestConstantMemory streams 200 MB through encrypt → pipe → decrypt and
// checks that the live heap never grows by more than a few MB: memory use
// must not depend on file size.
func TestConstantMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 200 MB")
	}
	const total = 200 << 20
	const bound = 4 << 20
	key := testKey(8)
	base := liveHeap()

	pr, pw := io.Pipe()
	werr := make(chan error, 1)
	var wsum []byte
	go func() {
		w, err := NewWriter(pw, key, Options{})
		if err == nil {
			_, err = io.Copy(w, &patternReader{left: total})
		}
		if err == nil {
			err = w.Close()
			wsum = w.PlaintextSHA256()
		}
		pw.CloseWithError(err)
		werr <- err
	}()

	r, err := NewReader(pr, key)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	buf := make([]byte, 32<<10)
	var n, nextCheck int64
	var peak uint64
	for {
		m, err := r.Read(buf)
		h.Write(buf[:m])
		n += int64(m)
		if n >= nextCheck {
			peak = max(peak, liveHeap())
			nextCheck += 40 << 20
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", n, err)
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	peak = max(peak, liveHeap())
	if n != total {
		t.Fatalf("decrypted %d bytes, want %d", n, total)
	}
	if string(h.Sum(nil)) != string(wsum) {
		t.Fatal("plaintext hash differs after the round trip")
	}
	growth := int64(peak) - int64(base)
	t.Logf("live heap: base %d B, peak %d B, growth %d B", base, peak, growth)
	if growth > bound {
		t.Fatalf("live heap grew by %d bytes streaming %d bytes, want < %d", growth, total, bound)
	}
}
