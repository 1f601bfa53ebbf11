package bench

import (
	"encoding/xml"
	"strings"
	"testing"
)

func TestPlot(t *testing.T) {
	in := strings.Join([]string{
		"some table line",
		`{"scenario":"msgs","offered_msgs_per_s":5000,"delivered_msgs_per_s":4990,"latency_p50_ms":1.5,"latency_p99_ms":4}`,
		`{"scenario":"conns","handshakes_per_s":100}`,
		`{"scenario":"msgs","offered_msgs_per_s":1000,"delivered_msgs_per_s":1000,"latency_p50_ms":1,"latency_p99_ms":2}`,
		`{"scenario":"msgs","offered_msgs_per_s":"max","delivered_msgs_per_s":12000,"latency_p50_ms":20,"latency_p99_ms":80}`,
		`{not json`,
	}, "\n")
	pts, err := ReadPlotPoints(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 3 || pts[0].Offered != 1000 || pts[2].Offered != 12000 || !pts[2].Max {
		t.Fatalf("points = %+v", pts)
	}
	var out strings.Builder
	if err := WritePlot(&out, "msgs <sweep>", pts); err != nil {
		t.Fatal(err)
	}
	// The SVG must be well-formed XML with one dot per point and series.
	d := xml.NewDecoder(strings.NewReader(out.String()))
	circles := 0
	for {
		tok, err := d.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not well-formed: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			circles++
		}
	}
	if circles != 9 {
		t.Errorf("%d circles, want 9 (3 points × 3 series)", circles)
	}
	if _, err := ReadPlotPoints(strings.NewReader("nothing here\n")); err == nil {
		t.Error("empty input accepted")
	}
}

func TestNiceCeil(t *testing.T) {
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {1, 1}, {1.1, 2}, {3, 5}, {7, 10}, {12000, 20000}, {20000, 20000}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
