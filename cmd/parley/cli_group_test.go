package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"rsc.io/qr"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

func TestGroupCommands(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	t.Setenv("PARLEY_SERVER", n.TCPAddr().String())
	dir := t.TempDir()
	as := func(u string, args ...string) (int, string) {
		return parley(t, append([]string{"--home", filepath.Join(dir, u)}, args...)...)
	}
	for _, u := range []string{"alice", "bob", "carol"} {
		if code, _ := as(u, "register", u); code != 0 {
			t.Fatalf("register %s: %d", u, code)
		}
	}
	if code, out := as("alice", "group", "create", "family", "--members", "bob,carol"); code != 0 || !strings.Contains(out, "alice (admin)") {
		t.Fatalf("group create: %d %q", code, out)
	}
	if code, _ := as("alice", "group", "create", "family", "--members", "bob"); code != 1 {
		t.Fatalf("second group with the same name: exit %d, want 1", code)
	}
	if code, out := as("alice", "send", "--group", "family", "dinner", "at", "8?"); code != 0 || !strings.Contains(out, "✓ sent") {
		t.Fatalf("send --group: %d %q", code, out)
	}
	if code, out := as("bob", "recv"); code != 0 || !strings.Contains(out, `#family: alice created the group "family"`) || !strings.Contains(out, "#family alice: dinner at 8?") {
		t.Fatalf("bob's recv: %d %q", code, out)
	}
	if code, _ := as("alice", "group", "remove", "family", "carol"); code != 0 {
		t.Fatalf("group remove: %d", code)
	}
	code, out := as("carol", "recv", "--json", "--read")
	if code != 0 {
		t.Fatalf("carol's recv: %d", code)
	}
	var types []string
	var msgID string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m struct {
			ID    string
			Text  string
			Group *struct{ ID, Name string }
			Event *struct{ Type, Actor, Text string }
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.Group == nil || m.Group.Name != "family" {
			t.Fatalf("carol's line %q: %v", line, err)
		}
		if m.Event != nil {
			types = append(types, m.Event.Type)
		} else {
			types = append(types, "text:"+m.Text)
			msgID = m.ID
		}
	}
	if strings.Join(types, ",") != "created,text:dinner at 8?,removed" {
		t.Fatalf("carol saw %v", types)
	}
	as("alice", "recv") // collect receipts
	code, out = as("alice", "info", msgID)
	if code != 0 || !regexp.MustCompile(`(?m)^carol\s+\d\d:\d\d\s+\d\d:\d\d$`).MatchString(out) || !regexp.MustCompile(`(?m)^bob\s+\d\d:\d\d\s+-$`).MatchString(out) {
		t.Fatalf("info: %d %q", code, out)
	}
	if code, out := as("carol", "send", "--group", "family", "hi?"); code != 1 {
		t.Fatalf("removed member sending: %d %q", code, out)
	}
	if code, out := as("bob", "group", "list"); code != 0 || !strings.Contains(out, "family") || !strings.Contains(out, "2 members") {
		t.Fatalf("group list: %d %q", code, out)
	}
	if code, out := as("bob", "privacy", "last-seen", "nobody"); code != 0 || !strings.Contains(out, "nobody") {
		t.Fatalf("privacy: %d %q", code, out)
	}
	if code, out := as("alice", "device", "list"); code != 0 || !strings.Contains(out, "version 1") || !strings.Contains(out, "← this device") {
		t.Fatalf("device list: %d %q", code, out)
	}
}

// The terminal QR code has the quiet zone and two modules per cell.
func TestRenderQR(t *testing.T) {
	q, err := qr.Encode("K7QD-9M2P", qr.M)
	if err != nil {
		t.Fatal(err)
	}
	rows := strings.Split(strings.TrimSuffix(renderQR(q), "\n"), "\n")
	if want := (q.Size + 8 + 1) / 2; len(rows) != want {
		t.Fatalf("%d rows, want %d", len(rows), want)
	}
	for _, r := range rows {
		if utf8.RuneCountInString(r) != q.Size+8 {
			t.Fatalf("row of %d cells, want %d", utf8.RuneCountInString(r), q.Size+8)
		}
	}
	if rows[0] != strings.Repeat("█", q.Size+8) {
		t.Fatalf("first row is not quiet zone: %q", rows[0])
	}
}
