package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parley-im/parley/server"
	"github.com/parley-im/parley/server/servertest"
)

// `send --group NAME --file PATH` reaches every member; recv saves the
// same bytes.
func TestSendGroupFile(t *testing.T) {
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
	if code, out := as("alice", "group", "create", "family", "--members", "bob,carol"); code != 0 {
		t.Fatalf("group create: %d %q", code, out)
	}
	want := bytes.Repeat([]byte("holiday photos "), 20000)
	src := filepath.Join(dir, "photos.bin")
	if err := os.WriteFile(src, want, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := as("alice", "send", "--group", "family", "--file", src, "--caption", "from the trip"); code != 0 || !strings.Contains(out, "✓ sent") {
		t.Fatalf("send --group --file: %d %q", code, out)
	}
	for _, u := range []string{"bob", "carol"} {
		dl := filepath.Join(dir, u+"-downloads")
		code, out := as(u, "recv", "--downloads", dl)
		if code != 0 || !strings.Contains(out, "#family alice:") || !strings.Contains(out, "from the trip") {
			t.Fatalf("%s's recv: %d %q", u, code, out)
		}
		got, err := os.ReadFile(filepath.Join(dl, "photos.bin"))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s's saved file: %d bytes, equal %v, %v", u, len(got), bytes.Equal(got, want), err)
		}
	}
}
