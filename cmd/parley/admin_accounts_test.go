package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/admin"
	"github.com/parley-im/parley/server/servertest"
)

func TestAdminAccountCommands(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	servertest.Register(t, n, "alice")
	adm := func(args ...string) (int, string) {
		return parley(t, append([]string{"admin", "--data", n.Config.DataDir}, args...)...)
	}
	code, out := adm("accounts", "list", "--limit", "5")
	var list []admin.AccountSummary
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Handle != "alice" {
		t.Fatalf("accounts list: %d %q", code, out)
	}
	if code, _ := adm("accounts", "disable", "alice"); code != 0 {
		t.Fatalf("disable: %d", code)
	}
	code, out = adm("accounts", "show", "alice")
	var d admin.AccountDetail
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil || !d.Disabled || len(d.Devices) != 1 {
		t.Fatalf("accounts show: %d %q", code, out)
	}
	if code, _ := adm("accounts", "show", "nobody"); code != 1 {
		t.Fatalf("show unknown: exit %d, want 1", code)
	}
	dir := filepath.Join(t.TempDir(), "bk")
	if code, out := adm("backup", dir); code != 0 || strings.TrimSpace(out) != dir {
		t.Fatalf("backup: %d %q", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "MANIFEST-000001")); err != nil {
		if m, _ := filepath.Glob(filepath.Join(dir, "MANIFEST-*")); len(m) == 0 {
			t.Fatalf("backup dir has no manifest: %v", err)
		}
	}
	if code, _ := adm("devices", "remove", "alice", "1"); code != 0 {
		t.Fatalf("devices remove: %d", code)
	}
	if code, _ := adm("accounts", "delete", "alice"); code != 0 {
		t.Fatalf("accounts delete: %d", code)
	}
	if code, _ := adm("accounts", "frobnicate", "alice"); code != 2 {
		t.Fatalf("bad subcommand: exit %d, want 2", code)
	}
}
