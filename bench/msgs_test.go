package bench

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMsgs(t *testing.T) {
	_, common := startNode(t, NodeConfig("", nil))
	tests := []struct {
		name string
		rate int
	}{
		{"paced", 1000},
		{"max", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			r, err := Msgs(ctx, MsgsConfig{Common: common, Pairs: 20, Rate: tc.rate, Duration: 2 * time.Second})
			if err != nil {
				t.Fatalf("%v\n%s", err, r.JSON())
			}
			m := decodeLast(t, r)
			t.Logf("%s", r.JSON())
			if m["exactly_once"] != true {
				t.Errorf("exactly_once = %v", m["exactly_once"])
			}
			for _, k := range []string{"missing", "duplicates", "send_errors", "foreign", "unanswered"} {
				if v := num(t, m, k); v != 0 {
					t.Errorf("%s = %v, want 0", k, v)
				}
			}
			sent, delivered := num(t, m, "sent"), num(t, m, "delivered")
			if sent == 0 || delivered != sent || num(t, m, "acked") != sent {
				t.Errorf("sent %v acked %v delivered %v: want all equal and > 0", sent, m["acked"], delivered)
			}
			if tc.rate > 0 {
				// 1,000/s for 2 s: the schedule sends 2,000 (±1 per pair).
				if sent < 1980 || sent > 2020 {
					t.Errorf("sent = %v at 1,000/s for 2 s", sent)
				}
			}
			rate := num(t, m, "delivered_msgs_per_s")
			if rate <= 0 || rate > sent/2*1.01 {
				t.Errorf("delivered_msgs_per_s = %v for %v sent in 2 s", rate, sent)
			}
			p50, p99 := num(t, m, "latency_p50_ms"), num(t, m, "latency_p99_ms")
			if p50 <= 0 || p99 < p50 || p99 > 10_000 {
				t.Errorf("latency p50 %v p99 %v", p50, p99)
			}
			if ft := num(t, m, "first_tick_p50_ms"); ft <= 0 {
				t.Errorf("first_tick_p50_ms = %v", ft)
			}
			if num(t, m, "node_cpu_us_per_msg") <= 0 {
				t.Errorf("node_cpu_us_per_msg missing or zero")
			}
			// How short of CPU the run was: read from /proc and the node's
			// /metrics, so present whenever those are (they are here).
			for _, k := range []string{"node_cpu_wait_pct", "bench_cpu_wait_pct"} {
				if v := num(t, m, k); v < 0 {
					t.Errorf("%s = %v", k, v)
				}
			}
			s50, s90, s99 := num(t, m, "node_sched_latency_p50_ms"), num(t, m, "node_sched_latency_p90_ms"), num(t, m, "node_sched_latency_p99_ms")
			if s50 < 0 || s90 < s50 || s99 < s90 || s99 > 100 {
				t.Errorf("node sched latency p50 %v p90 %v p99 %v ms", s50, s90, s99)
			}
		})
	}
}

// A warm-up's messages must arrive exactly once like the others, but no
// rate counts them: 1,000/s for 1 s of warm-up and 2 s measured sends
// 3,000 and reports 1,000/s.
func TestMsgsWarmup(t *testing.T) {
	_, common := startNode(t, NodeConfig("", nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Msgs(ctx, MsgsConfig{Common: common, Pairs: 10, Rate: 1000, Duration: 2 * time.Second, Warmup: time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, r.JSON())
	}
	m := decodeLast(t, r)
	t.Logf("%s", r.JSON())
	if m["exactly_once"] != true || num(t, m, "warmup_s") != 1 {
		t.Fatalf("exactly_once %v warmup_s %v", m["exactly_once"], m["warmup_s"])
	}
	sent, delivered := num(t, m, "sent"), num(t, m, "delivered")
	if sent < 2970 || sent > 3030 || delivered != sent {
		t.Errorf("sent %v delivered %v: want 3,000 each (warm-up included)", sent, delivered)
	}
	if got := num(t, m, "sent_msgs_per_s"); got < 980 || got > 1020 {
		t.Errorf("sent_msgs_per_s = %v, want 1,000 (the warm-up left out)", got)
	}
	if got := num(t, m, "delivered_msgs_per_s") * num(t, m, "duration_s"); got > 0.75*delivered {
		t.Errorf("%v deliveries counted in the window of %v: the warm-up's are in it", got, delivered)
	}
}

func TestMsgsRefusesLongWarmup(t *testing.T) {
	_, err := Msgs(context.Background(), MsgsConfig{Pairs: 1, Warmup: 2 * time.Minute})
	if !errors.Is(err, ErrBadConfig) {
		t.Fatalf("warm-up of 2 min: %v, want ErrBadConfig", err)
	}
}
