package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// parley runs the binary's entry point in-process and returns its exit
// code and stdout. Tests using it must not run in parallel (stdout is
// swapped).
func parley(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	out := make(chan string)
	go func() {
		var b bytes.Buffer
		io.Copy(&b, r)
		out <- b.String()
	}()
	code := run(args)
	os.Stdout = old
	w.Close()
	return code, <-out
}

func TestDeviceCommands(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	t.Setenv("PARLEY_SERVER", n.TCPAddr().String())
	dir := t.TempDir()
	home := func(u string) string { return filepath.Join(dir, u) }
	as := func(u string, args ...string) (int, string) {
		return parley(t, append([]string{"--home", home(u)}, args...)...)
	}

	if code, out := as("alice", "register", "alice"); code != 0 || !strings.Contains(out, "registered alice (device 1)") {
		t.Fatalf("register alice: %d %q", code, out)
	}
	if code, _ := as("bob", "register", "bob"); code != 0 {
		t.Fatalf("register bob: %d", code)
	}
	if code, _ := as("mallory", "register", "alice"); code != 1 {
		t.Fatalf("register a taken handle: exit %d, want 1", code)
	}
	if code, out := as("alice", "send", "bob", "hello", "there"); code != 0 || !strings.Contains(out, "✓ sent") {
		t.Fatalf("send: %d %q", code, out)
	}
	if code, _ := as("alice", "send", "nobody", "hi"); code != 1 {
		t.Fatalf("send to unknown user: exit %d, want 1", code)
	}

	code, out := as("bob", "recv", "--json", "--read")
	if code != 0 {
		t.Fatalf("recv: exit %d", code)
	}
	var m struct {
		ID, From, Text, SentAt, ReceivedAt string
		FromDevice                         uint32 `json:"from_device"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &m) != nil || m.From != "alice" || m.Text != "hello there" || m.FromDevice != 1 || m.ID == "" {
		t.Fatalf("recv --json printed %q", out)
	}
	// A second recv shows nothing: the message was acknowledged and shown.
	if code, out := as("bob", "recv"); code != 0 || strings.TrimSpace(out) != "" {
		t.Fatalf("second recv: %d %q", code, out)
	}
	// Alice learns both later ticks.
	code, out = as("alice", "recv", "--json")
	if code != 0 || !strings.Contains(out, `"status":"delivered"`) || !strings.Contains(out, `"status":"read"`) || !strings.Contains(out, m.ID) {
		t.Fatalf("alice's recv: %d %q", code, out)
	}
	if code, out := as("alice", "history", "bob"); code != 0 || !strings.Contains(out, "you: hello there  ✓✓ read") {
		t.Fatalf("history: %d %q", code, out)
	}
	_, sa := as("alice", "safety", "bob")
	_, sb := as("bob", "safety", "alice")
	digits := func(s string) string {
		lines := strings.Split(s, "\n")
		if len(lines) < 5 {
			return ""
		}
		return strings.Join(lines[2:5], "\n")
	}
	if digits(sa) == "" || digits(sa) != digits(sb) || len(strings.Fields(digits(sa))) != 12 {
		t.Fatalf("safety numbers differ or malformed:\n%s\n---\n%s", sa, sb)
	}
	if code, out := as("alice", "whoami"); code != 0 || !strings.Contains(out, "user:          alice") || !strings.Contains(out, n.ServerKey().String()) {
		t.Fatalf("whoami: %d %q", code, out)
	}
	if code, _ := as("nobody", "send", "bob", "hi"); code != 1 {
		t.Fatalf("send from an unregistered home: exit %d, want 1", code)
	}
}
