package endtoend_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestInviteMode: on a node in invite mode nobody registers without a
// code from `parley admin`; a code works once; a revoked or made-up code
// never works.
func TestInviteMode(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	n := startNode(t, data, "--registration", "invite")
	admin := func(args ...string) result {
		t.Helper()
		r := run(t, append([]string{"admin", "--data", data}, args...)...)
		if r.code != 0 {
			t.Fatalf("want exit 0, got %s", r)
		}
		return r
	}
	newCode := func() string {
		t.Helper()
		r := admin("invite", "create")
		code := strings.TrimSpace(r.stdout)
		if code == "" || strings.ContainsAny(code, " \n\t") {
			t.Fatalf("invite create should print one code, got %s", r)
		}
		return code
	}
	refused := func(d *device, handle, invite, want string) {
		t.Helper()
		args := []string{"register", handle}
		if invite != "" {
			args = append(args, "--invite", invite)
		}
		r := d.run(t, args...)
		if r.code == 0 {
			t.Fatalf("register %s with invite %q succeeded; want it refused: %s", handle, invite, r)
		}
		if !strings.Contains(r.stderr, want) {
			t.Errorf("register %s with invite %q: want an error containing %q, got %s", handle, invite, want, r)
		}
	}

	alice := newDevice(t, n.tcp)
	refused(alice, "alice", "", "invite required")

	code := newCode()
	alice.register(t, "alice", "--invite", code)
	refused(newDevice(t, n.tcp), "carol", code, "invalid invite")
	refused(newDevice(t, n.tcp), "carol", "not-a-real-code", "invalid invite")

	revoked := newCode()
	if r := admin("invite", "list"); !strings.Contains(r.stdout, code) || !strings.Contains(r.stdout, revoked) {
		t.Errorf("invite list does not show both codes %s and %s:\n%s", code, revoked, r)
	}
	admin("invite", "revoke", revoked)
	refused(newDevice(t, n.tcp), "carol", revoked, "invalid invite")

	// The account made with the code is a working account.
	bob := newDevice(t, n.tcp)
	bob.register(t, "bob", "--invite", newCode())
	alice.sendOK(t, "bob", "invited")
	r := bob.must(t, "recv", "--json")
	if got := receivedTexts(t, r); len(got) != 1 || got[0] != "invited" {
		t.Errorf("bob's recv: want [invited], got %q", got)
	}
	admin("stats")
}
