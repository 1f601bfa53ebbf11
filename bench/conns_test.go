package bench

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

func TestConns(t *testing.T) {
	n, common := startNode(t, NodeConfig("", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cache := filepath.Join(t.TempDir(), "devices")
	cfg := ConnsConfig{Common: common, N: 200, PerWorker: 120, Hold: 300 * time.Millisecond, Cache: cache}
	r, err := Conns(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := r.Write(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], `{"scenario":"conns"`) {
		t.Fatalf("last line is not the JSON object:\n%s", out.String())
	}
	m := decodeLast(t, r)
	for key, want := range map[string]float64{"workers": 2, "registered": 200, "conns_open": 200, "conns_failed": 0, "conns_alive_at_end": 200, "node_sessions": 200} {
		if got := num(t, m, key); got != want {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if hs := num(t, m, "handshakes_per_s"); hs <= 0 {
		t.Errorf("handshakes_per_s = %v", hs)
	}
	if p := num(t, m, "handshake_p99_ms"); p <= 0 || p > 10_000 {
		t.Errorf("handshake_p99_ms = %v", p)
	}
	// At 200 connections the workers' RSS delta is dominated by page and GC
	// noise (seen from 2 KB to 17 KB per connection under -race), so this
	// test only checks the figure is reported; the lean-client figure comes
	// from `parley bench conns --n 19000` in docs/benchmarks.md.
	num(t, m, "bench_bytes_per_conn")
	num(t, m, "node_bytes_per_conn")
	num(t, m, "kernel_slab_bytes_per_conn_pair")
	t.Logf("%s", r.JSON())

	// A second run against the same node reuses the cached devices.
	if st := n.Stats(); st.Sessions != 0 {
		waitSessions(t, n.Stats, 0)
	}
	r2, err := Conns(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m2 := decodeLast(t, r2)
	if _, ok := m2["registered"]; ok {
		t.Errorf("second run registered again: %s", r2.JSON())
	}
	if got := num(t, m2, "conns_open"); got != 200 {
		t.Errorf("second run conns_open = %v", got)
	}
}

func waitSessions(t *testing.T, stats func() server.Stats, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for stats().Sessions != want {
		if time.Now().After(deadline) {
			t.Fatalf("node still has %d sessions, want %d", stats().Sessions, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialOneHeld starts a node and holds one registered connection to it, as
// conns does.
func dialOneHeld(t *testing.T) (*servertest.Node, *conn) {
	t.Helper()
	n, common := startNode(t, NodeConfig("", nil))
	ks, err := NewKeySet()
	if err != nil {
		t.Fatal(err)
	}
	devs, err := newDevices(1)
	if err != nil {
		t.Fatal(err)
	}
	conns, st := dialAll(context.Background(), common.Target, devs, ks, 1, blockRegister, true, true, false)
	if st.Failed > 0 {
		t.Fatal(st.FirstErr)
	}
	return n, conns[0]
}

// TestAliveAfterDeadline: a held connection whose read deadline passed
// long ago is still alive, and one the node closed is not.
func TestAliveAfterDeadline(t *testing.T) {
	n, c := dialOneHeld(t)
	_ = c.SetReadDeadline(time.Now().Add(-time.Hour))
	if !c.alive() {
		t.Fatal("open connection with an expired deadline reported dead")
	}
	n.Stop(t)
	deadline := time.Now().Add(10 * time.Second)
	for c.alive() {
		if time.Now().After(deadline) {
			t.Fatal("connection to a stopped node still alive")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestParkedConn: a parked connection (bare descriptor, no poller state)
// stays open on the node, its pings reach the node and are answered, it
// reads again once unparked, and it notices when the node goes away.
func TestParkedConn(t *testing.T) {
	n, c := dialOneHeld(t)
	defer c.close()
	if err := c.park(); err != nil {
		t.Fatal(err)
	}
	if c.nc != nil || c.fd < 0 {
		t.Fatalf("after park: nc %v, fd %d", c.nc, c.fd)
	}
	if err := c.ping(); err != nil {
		t.Fatalf("ping while parked: %v", err)
	}
	if err := c.unpark(); err != nil {
		t.Fatal(err)
	}
	// The node may push other frames first (PrekeysLow: bench devices
	// upload no one-time keys).
	for {
		f, err := c.read(10 * time.Second)
		if err != nil {
			t.Fatalf("reading the pong after unpark: %v", err)
		}
		if f.GetPong() != nil {
			break
		}
	}
	if err := c.park(); err != nil {
		t.Fatal(err)
	}
	waitSessions(t, n.Stats, 1)
	if !c.alive() {
		t.Fatal("parked connection to a running node reported dead")
	}
	if err := c.park(); err != nil {
		t.Fatal(err)
	}
	n.Stop(t)
	deadline := time.Now().Add(10 * time.Second)
	for c.alive() {
		if time.Now().After(deadline) {
			t.Fatal("parked connection to a stopped node still alive")
		}
		time.Sleep(20 * time.Millisecond)
		_ = c.park()
	}
}
