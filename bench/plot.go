package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// PlotPoint is one msgs run as the plot sees it.
type PlotPoint struct {
	Offered   float64 // msgs/s; for a max run, its delivered rate
	Max       bool    // the run was --rate max
	Delivered float64 // delivered_msgs_per_s
	P99       float64 // latency_p99_ms
	P50       float64 // latency_p50_ms
}

// ReadPlotPoints reads `parley bench msgs` output (any text; only lines
// that are JSON objects with "scenario":"msgs" count), at most 10,000
// points, sorted by offered load.
func ReadPlotPoints(in io.Reader) ([]PlotPoint, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var pts []PlotPoint
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["scenario"] != "msgs" {
			continue
		}
		p := PlotPoint{}
		p.Delivered, _ = m["delivered_msgs_per_s"].(float64)
		p.P99, _ = m["latency_p99_ms"].(float64)
		p.P50, _ = m["latency_p50_ms"].(float64)
		switch o := m["offered_msgs_per_s"].(type) {
		case float64:
			p.Offered = o
		case string:
			p.Offered, p.Max = p.Delivered, true
		}
		if p.Offered <= 0 {
			continue
		}
		if len(pts) == 10_000 {
			return nil, fmt.Errorf("%w: more than 10,000 points", ErrBadConfig)
		}
		pts = append(pts, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bench: plot input: %w", err)
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("%w: no msgs results in the input", ErrBadConfig)
	}
	sort.SliceStable(pts, func(i, j int) bool { return pts[i].Offered < pts[j].Offered })
	return pts, nil
}

// WritePlot draws two panels as SVG: delivered msgs/s against offered
// load (with the ideal y = x), and p50/p99 delivery latency against
// offered load. title goes on top.
func WritePlot(w io.Writer, title string, pts []PlotPoint) error {
	const W, H, pw, ph, ml, mt = 960, 420, 360, 300, 80, 60
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", W, H, W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="24" font-size="15" text-anchor="middle">%s</text>`+"\n", W/2, html.EscapeString(title))
	xmax := 0.0
	ymax1, ymax2 := 0.0, 0.0
	for _, p := range pts {
		xmax = math.Max(xmax, p.Offered)
		ymax1 = math.Max(ymax1, p.Delivered)
		ymax2 = math.Max(ymax2, math.Max(p.P99, p.P50))
	}
	xmax, ymax1, ymax2 = niceCeil(xmax), niceCeil(math.Max(ymax1, xmax)), niceCeil(ymax2)
	panel := func(x0 int, ylabel string, ymax float64, series []plotSeries) {
		sx := func(v float64) float64 { return float64(x0) + v/xmax*pw }
		sy := func(v float64) float64 { return float64(mt+ph) - v/ymax*ph }
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", x0, mt, pw, ph)
		for i := 0; i <= 5; i++ {
			xv, yv := xmax*float64(i)/5, ymax*float64(i)/5
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/><text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", sx(xv), mt, sx(xv), mt+ph, sx(xv), mt+ph+16, short(xv))
			fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n", x0, sy(yv), x0+pw, sy(yv), x0-6, sy(yv)+4, short(yv))
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">offered load (msgs/s)</text>`+"\n", x0+pw/2, mt+ph+36)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" transform="rotate(-90 %d %d)">%s</text>`+"\n", x0-55, mt+ph/2, x0-55, mt+ph/2, html.EscapeString(ylabel))
		for si, s := range series {
			var path strings.Builder
			for i, p := range pts {
				v := s.y(p)
				if i == 0 {
					fmt.Fprintf(&path, "M%.1f,%.1f", sx(p.Offered), sy(v))
				} else {
					fmt.Fprintf(&path, " L%.1f,%.1f", sx(p.Offered), sy(v))
				}
			}
			fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", path.String(), s.color)
			for _, p := range pts {
				r := 3.5
				if p.Max {
					r = 6
				}
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"><title>offered %s%s: %s %.1f</title></circle>`+"\n", sx(p.Offered), sy(s.y(p)), r, s.color, short(p.Offered), maxTag(p.Max), s.name, s.y(p))
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", x0+10, mt+16+16*si, s.color, html.EscapeString(s.name))
		}
	}
	// Ideal line: delivered = offered.
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%.1f" y2="%.1f" stroke="#bbb" stroke-dasharray="4 4"/>`+"\n", ml, mt+ph, float64(ml)+pw*math.Min(1, ymax1/xmax), float64(mt+ph)-ph*math.Min(1, xmax/ymax1))
	panel(ml, "delivered msgs/s", ymax1, []plotSeries{{"delivered msgs/s", "#1f77b4", func(p PlotPoint) float64 { return p.Delivered }}})
	panel(ml+pw+140, "delivery latency (ms)", ymax2, []plotSeries{
		{"p99 latency ms", "#d62728", func(p PlotPoint) float64 { return p.P99 }},
		{"p50 latency ms", "#2ca02c", func(p PlotPoint) float64 { return p.P50 }},
	})
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">large dots: --rate max (plotted at the rate it reached)</text>`+"\n", ml, H-12)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type plotSeries struct {
	name  string
	color string
	y     func(PlotPoint) float64
}

func maxTag(m bool) string {
	if m {
		return " (max)"
	}
	return ""
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64) string {
	switch {
	case v >= 1e6:
		return trimZero(fmt.Sprintf("%.1fM", v/1e6))
	case v >= 1e3:
		return trimZero(fmt.Sprintf("%.1fk", v/1e3))
	case v >= 10 || v == 0:
		return fmt.Sprintf("%.0f", v)
	}
	return trimZero(fmt.Sprintf("%.2f", v))
}

func trimZero(s string) string { return strings.Replace(s, ".0", "", 1) }
