package bench

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/transport"
)

// newDevices makes n devices with fresh keys and handles "b<tag>_<i>",
// unique per run (the handle rules allow 32 characters).
func newDevices(n int) ([]Device, error) {
	var tag [4]byte
	if _, err := rand.Read(tag[:]); err != nil {
		return nil, fmt.Errorf("bench: run tag: %w", err)
	}
	devs := make([]Device, n)
	for i := range devs {
		k, err := transport.GenerateStaticKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		devs[i] = Device{Handle: fmt.Sprintf("b%s_%d", hex.EncodeToString(tag[:]), i), Key: k}
	}
	return devs, nil
}

// phaseStats is the outcome of dialling (and maybe registering) many
// devices.
type phaseStats struct {
	OK       int        `json:"ok"`
	Failed   int        `json:"failed"`
	FirstErr string     `json:"first_err,omitempty"`
	Latency  *Histogram `json:"latency"` // per connection, dial to Welcome (or Registered)
	Elapsed  time.Duration
}

// dialAll connects every device with conc dialers from source block
// block. With register set it registers each device on its connection;
// with keep unset it closes each connection once done. conns[i] is nil for
// a device that failed.
func dialAll(ctx context.Context, t Target, devs []Device, ks *KeySet, conc, block int, register, keep, buffered bool) ([]*conn, phaseStats) {
	conns := make([]*conn, len(devs))
	st := phaseStats{Latency: new(Histogram)}
	var next atomic.Int64
	var failed atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for range max(1, min(conc, len(devs))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(devs) || ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				c, w, err := dial(ctx, t, devs[i], srcAddr(block, i), buffered)
				if err == nil {
					switch {
					case register && w.Registered:
						err = fmt.Errorf("%w: %s is already registered", ErrNode, devs[i].Handle)
					case register:
						err = c.register(devs[i].Handle, ks)
					case !w.Registered:
						err = fmt.Errorf("%w: %s is not registered on this node", ErrNode, devs[i].Handle)
					}
					if err != nil {
						c.close()
					}
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if st.FirstErr == "" {
						st.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				st.Latency.RecordSince(t0)
				if keep {
					if !buffered {
						// An idle bench connection keeps only its keys.
						c.tc.ReleaseCiphers()
					}
					conns[i] = c
				} else {
					c.close()
				}
			}
		}()
	}
	wg.Wait()
	st.Elapsed = time.Since(start)
	st.Failed = int(failed.Load())
	st.OK = len(devs) - st.Failed
	if ctx.Err() != nil {
		st.OK = int(st.Latency.Count())
		st.Failed = len(devs) - st.OK
	}
	return conns, st
}

// Device cache: "# parley bench devices for <server key>" then one
// "handle parley-secret:…" line per device. It lets repeated `conns` runs
// against one node skip registration.

const cacheHeader = "# parley bench devices for "

// loadCache returns the cached devices for server, or nil when the file is
// missing or belongs to another node.
func loadCache(path string, server transport.PublicKey) ([]Device, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bench: device cache: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() || sc.Text() != cacheHeader+server.String() {
		return nil, nil
	}
	var devs []Device
	for sc.Scan() {
		h, k, ok := strings.Cut(sc.Text(), " ")
		if !ok || len(h) > 32 {
			return nil, fmt.Errorf("%w: device cache %s: bad line %d", ErrBadConfig, path, len(devs)+2)
		}
		d := Device{Handle: h}
		if err := d.Key.UnmarshalText([]byte(k)); err != nil {
			return nil, fmt.Errorf("bench: device cache %s line %d: %w", path, len(devs)+2, err)
		}
		devs = append(devs, d)
	}
	return devs, sc.Err()
}

// saveCache writes devs for server (0600: the file holds private keys).
func saveCache(path string, server transport.PublicKey, devs []Device) error {
	var b strings.Builder
	b.WriteString(cacheHeader + server.String() + "\n")
	for _, d := range devs {
		k, err := d.Key.MarshalText()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %s\n", d.Handle, k)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("bench: device cache: %w", err)
	}
	return nil
}
