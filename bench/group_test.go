package bench

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestGroup(t *testing.T) {
	_, common := startNode(t, NodeConfig("", nil))
	tests := []struct {
		name                    string
		size, senders, messages int
		rate                    int
	}{
		{"8 members, 2 senders, max", 8, 2, 20, 0},
		{"8 members, 1 sender, paced", 8, 1, 20, 200},
		// Over 256 members the group is built with GroupCreate plus a
		// GroupUpdate (256 users per request).
		{"260 members, 1 sender", 260, 1, 2, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			r, err := Group(ctx, GroupConfig{Common: common, Size: tc.size, Senders: tc.senders, Messages: tc.messages, Rate: tc.rate})
			if err != nil {
				t.Fatalf("%v\n%s", err, r.JSON())
			}
			m := decodeLast(t, r)
			t.Logf("%s", r.JSON())
			if m["scenario"] != "group" || m["exactly_once"] != true {
				t.Errorf("scenario %v exactly_once %v", m["scenario"], m["exactly_once"])
			}
			sends := float64(tc.senders * tc.messages)
			fanout := sends * float64(tc.size-1)
			want := map[string]float64{
				"size": float64(tc.size), "sent": sends, "acked": sends,
				"fanout_expected": fanout, "delivered": fanout, "receipt_ids": fanout,
				"missing": 0, "duplicates": 0, "foreign": 0, "send_errors": 0,
			}
			for k, v := range want {
				if got := num(t, m, k); got != v {
					t.Errorf("%s = %v, want %v", k, got, v)
				}
			}
			for _, k := range []string{
				"group_sends_per_s", "delivered_msgs_per_s",
				"first_tick_p50_ms", "first_tick_p99_ms",
				"fanout_latency_p50_ms", "fanout_latency_p99_ms", "fanout_latency_max_ms",
				"last_member_latency_p50_ms", "last_member_latency_p99_ms",
				"node_cpu_us_per_delivery", "node_cpu_us_per_group_send",
			} {
				if num(t, m, k) <= 0 {
					t.Errorf("%s = %v, want > 0", k, m[k])
				}
			}
			// The last member is never faster than the median member.
			if num(t, m, "last_member_latency_p99_ms") < num(t, m, "fanout_latency_p50_ms") {
				t.Errorf("last member p99 %v < fan-out p50 %v", m["last_member_latency_p99_ms"], m["fanout_latency_p50_ms"])
			}
		})
	}
}

func TestGroupBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  GroupConfig
	}{
		{"one member", GroupConfig{Size: 1}},
		{"over the node's group size", GroupConfig{Size: 1025}},
		{"more senders than members", GroupConfig{Size: 4, Senders: 5}},
		{"too many deliveries", GroupConfig{Size: 1024, Senders: 1024, Messages: 100}},
		{"huge ciphertext", GroupConfig{Size: 4, Bytes: 17 << 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Group(context.Background(), tc.cfg); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("Group(%+v) = %v, want ErrBadConfig", tc.cfg, err)
			}
		})
	}
}
