package blobtest

import (
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// genReader yields n deterministic pseudo-random bytes without holding
// them, so a test can stream far more than it could compare in memory.
type genReader struct {
	rng  *rand.ChaCha8
	left int64
}

func newGen(seed byte, n int64) *genReader {
	var s [32]byte
	s[0] = seed
	return &genReader{rng: rand.NewChaCha8(s), left: n}
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	n, _ := g.rng.Read(p)
	g.left -= int64(n)
	return n, nil
}

func genBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	_, _ = io.ReadFull(newGen(seed, int64(n)), b)
	return b
}

func genHash(seed byte, n int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, newGen(seed, n))
	var out [32]byte
	h.Sum(out[:0])
	return out
}

var errInjected = errors.New("blobtest: injected reader failure")

// failingReader yields n bytes of r, then fails: a client whose connection
// drops midway.
type failingReader struct {
	r    io.Reader
	left int64
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left == 0 {
		return 0, errInjected
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= int64(n)
	return n, err
}

// peakHeapGrowth runs fn while sampling the heap and reports the largest
// growth of in-use heap over the level before fn started.
func peakHeapGrowth(fn func()) int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapInuse)
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if g := int64(m.HeapInuse) - base; g > peak.Load() {
				peak.Store(g)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return peak.Load()
}
