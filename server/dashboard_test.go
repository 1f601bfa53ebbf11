package server_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// The Grafana dashboard only queries metrics a real node exports.
func TestDashboardUsesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Targets []struct{ Expr string } `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	n := servertest.Start(t, server.Config{PushURL: "http://127.0.0.1:1/push", PushSecret: "k"})
	_, metrics := httpGet(t, "http://"+n.HTTPAddr().String()+"/metrics", "")
	names := regexp.MustCompile(`\b(parley_[a-z_]+|process_[a-z_]+|go_[a-z_]+)\b`)
	used := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, name := range names.FindAllString(tg.Expr, -1) {
				used++
				base := strings.TrimSuffix(name, "_bucket")
				if !strings.Contains(metrics, "# TYPE "+base+" ") {
					t.Errorf("dashboard queries %s, which the node does not export", name)
				}
			}
		}
	}
	if used < 20 {
		t.Fatalf("only %d metric references in the dashboard", used)
	}
}
