package bench

import (
	"context"
	"testing"
	"time"
)

func TestOfflineAndStorm(t *testing.T) {
	_, common := startNode(t, NodeConfig("", nil))
	tests := []struct {
		name      string
		run       func(context.Context) (*Result, error)
		delivered float64
		rateKey   string
	}{
		{"offline", func(ctx context.Context) (*Result, error) {
			return Offline(ctx, OfflineConfig{Common: common, Devices: 5, Messages: 100})
		}, 500, "drain_msgs_per_s"},
		{"storm", func(ctx context.Context) (*Result, error) {
			return Storm(ctx, StormConfig{Common: common, N: 100, PerDevice: 2})
		}, 200, "handshakes_per_s"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			r, err := tc.run(ctx)
			if err != nil {
				t.Fatalf("%v\n%s", err, r.JSON())
			}
			t.Logf("%s", r.JSON())
			m := decodeLast(t, r)
			if m["exactly_once"] != true || m["complete"] != true {
				t.Errorf("exactly_once %v complete %v", m["exactly_once"], m["complete"])
			}
			if got := num(t, m, "delivered"); got != tc.delivered {
				t.Errorf("delivered = %v, want %v", got, tc.delivered)
			}
			if num(t, m, "duplicates") != 0 || num(t, m, "missing") != 0 {
				t.Errorf("duplicates %v missing %v", m["duplicates"], m["missing"])
			}
			if v := num(t, m, tc.rateKey); v <= 0 {
				t.Errorf("%s = %v", tc.rateKey, v)
			}
		})
	}
}
