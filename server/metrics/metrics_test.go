package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol/pb"
)

func TestFrameKinds(t *testing.T) {
	k := NewFrameKinds()
	tests := []struct {
		name  string
		frame *pb.ServerFrame
		want  string
	}{
		{"push", &pb.ServerFrame{Body: &pb.ServerFrame_QueueDrained{QueueDrained: &pb.QueueDrained{Delivered: 3}}}, "queue_drained"},
		{"reply", &pb.ServerFrame{ReplyTo: 77, Body: &pb.ServerFrame_SendAck{SendAck: &pb.SendAck{}}}, "send_ack"},
		{"goodbye", &pb.ServerFrame{Body: &pb.ServerFrame_Goodbye{Goodbye: &pb.Goodbye{Code: pb.ErrorCode_SHUTTING_DOWN}}}, "goodbye"},
		{"empty", &pb.ServerFrame{ReplyTo: 1}, "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := proto.Marshal(tt.frame)
			if err != nil {
				t.Fatal(err)
			}
			if got := k.Of(b); got != tt.want {
				t.Fatalf("Of = %q, want %q", got, tt.want)
			}
		})
	}
	if got := k.Of([]byte{0xff, 0xff, 0xff}); got != "unknown" {
		t.Fatalf("garbage named %q", got)
	}
}

func TestClientKind(t *testing.T) {
	f := &pb.ClientFrame{Id: 1, Body: &pb.ClientFrame_Ping{Ping: &pb.Ping{}}}
	if got := ClientKind(f); got != "ping" {
		t.Fatalf("ClientKind = %q", got)
	}
	if got := ClientKind(&pb.ClientFrame{}); got != "unknown" {
		t.Fatalf("empty frame named %q", got)
	}
}

func FuzzFrameKinds(f *testing.F) {
	k := NewFrameKinds()
	f.Add([]byte{0x08, 0x01, 0x7a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) { _ = k.Of(b) })
}

func TestHandlerExposesNamesOnOwnRegistry(t *testing.T) {
	a, b := New(), New() // two nodes in one process must not collide
	a.FramesIn.WithLabelValues("ping").Inc()
	b.Deliveries.Add(2)
	a.GaugeFunc("connections", "open connections", func() float64 { return 5 })
	body := scrape(t, a)
	for _, want := range []string{`parley_frames_in_total{type="ping"} 1`, "parley_connections 5", "parley_deliveries_total 0", "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestFrameCountersAreTheExportedSeries: the pre-resolved counters count
// into the same series a scrape shows, for known and unknown kinds alike.
func TestFrameCountersAreTheExportedSeries(t *testing.T) {
	m := New()
	m.FrameIn("send").Inc()
	m.FrameIn("send").Inc()
	m.FrameOut("send_ack").Add(3)
	m.FrameOut("unknown").Inc() // not a oneof name: resolved on the spot
	body := scrape(t, m)
	for _, want := range []string{`parley_frames_in_total{type="send"} 2`, `parley_frames_out_total{type="send_ack"} 3`, `parley_frames_out_total{type="unknown"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// scrape reads m's exposition through its HTTP handler, as Prometheus does.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
