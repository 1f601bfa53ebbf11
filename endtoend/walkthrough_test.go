package endtoend_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestWalkthrough follows the README: two people register, exchange
// messages, watch the ticks (✓ sent, ✓✓ delivered, read), still see their
// conversation after the node restarts, and compare safety numbers.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	data := filepath.Join(t.TempDir(), "data")
	n := startNode(t, data)
	alice, bob := newDevice(t, n.tcp), newDevice(t, n.tcp)
	alice.register(t, "alice")
	bob.register(t, "bob")

	// ✓: the node has it, bob is offline.
	alice.sendOK(t, "bob", "hello")
	r := bob.must(t, "recv", "--json")
	msgs, _ := messagesOf(t, r)
	if len(msgs) != 1 || msgs[0].From != "alice" || msgs[0].Text != "hello" {
		t.Fatalf("bob's recv: want exactly one message \"hello\" from alice, got %+v\n%s", msgs, r)
	}
	if msgs[0].ID == "" || msgs[0].FromDevice == 0 || msgs[0].SentAt == "" || msgs[0].ReceivedAt == "" {
		t.Errorf("bob's recv --json line lacks id/from_device/sent_at/received_at: %+v", msgs[0])
	}

	// ✓✓: alice's send waits until bob's device has the message.
	sending := alice.start(t, nil, "send", "bob", "again", "--wait", "delivered", "--timeout", "30s")
	receiving := bob.start(t, nil, "recv", "--json", "--timeout", "60s", "--count", "1")
	rb := receiving.wait()
	if rb.code != 0 {
		t.Fatalf("bob's concurrent recv failed: %s", rb)
	}
	msgs, _ = messagesOf(t, rb)
	if got := texts(msgs); !slices.Equal(got, []string{"again"}) {
		t.Fatalf("bob's concurrent recv: want [again], got %q\n%s", got, rb)
	}
	ra := sending.wait()
	if ra.code != 0 || !strings.Contains(ra.stdout, "✓ sent") || !strings.Contains(ra.stdout, "✓✓ delivered") {
		t.Fatalf("alice's send --wait delivered: want ✓ then ✓✓ and exit 0, got %s", ra)
	}

	// Read: bob reads with --read, alice's next recv shows the read status.
	alice.sendOK(t, "bob", "are you there?")
	r = bob.must(t, "recv", "--json", "--read")
	msgs, _ = messagesOf(t, r)
	if len(msgs) != 1 || msgs[0].Text != "are you there?" {
		t.Fatalf("bob's recv --read: want [are you there?], got %q\n%s", texts(msgs), r)
	}
	readID := msgs[0].ID
	r = alice.must(t, "recv", "--json")
	msgs, statuses := messagesOf(t, r)
	if len(msgs) != 0 {
		t.Errorf("alice got messages nobody sent her: %+v", msgs)
	}
	if !slices.ContainsFunc(statuses, func(s recvLine) bool { return s.ID == readID && s.Status == "read" }) {
		t.Fatalf("alice's recv --json: want a status line {id %s, status read}, got %+v\n%s", readID, statuses, r)
	}

	// The node restarts on the same address; accounts, keys and the
	// conversation survive, and messaging goes on.
	n.stop()
	startNode(t, data, "--listen", n.tcp)
	alice.sendOK(t, "bob", "after restart")
	r = bob.must(t, "recv", "--json")
	if got := receivedTexts(t, r); !slices.Equal(got, []string{"after restart"}) {
		t.Fatalf("bob after the node restart: want [after restart], got %q\n%s", got, r)
	}
	alice.must(t, "recv", "--json") // collect the ✓✓ of "after restart"

	r = alice.must(t, "history", "bob", "--json")
	hist := parseJSONLines(t, r)
	type line struct{ text, status string }
	var got []line
	for _, h := range hist {
		if !h.Outgoing {
			t.Errorf("alice's history with bob has an incoming item: %+v", h)
		}
		got = append(got, line{h.Text, h.Status})
	}
	want := []line{{"hello", "delivered"}, {"again", "delivered"}, {"are you there?", "read"}, {"after restart", "delivered"}}
	if !slices.Equal(got, want) {
		t.Errorf("alice's history with bob:\n got %v\nwant %v\n%s", got, want, r)
	}
	r = alice.must(t, "history", "bob")
	for _, w := range []string{"you: hello  ✓✓", "you: are you there?  ✓✓ read"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("alice's history bob: want a line with %q, got\n%s", w, r.stdout)
		}
	}
	r = bob.must(t, "history", "alice", "--json")
	var bobSaw []string
	for _, h := range parseJSONLines(t, r) {
		if h.Outgoing || h.From != "alice" {
			t.Errorf("bob's history with alice has an item not from alice: %+v", h)
		}
		bobSaw = append(bobSaw, h.Text)
	}
	if wantB := []string{"hello", "again", "are you there?", "after restart"}; !slices.Equal(bobSaw, wantB) {
		t.Errorf("bob's history with alice: got %q, want %q", bobSaw, wantB)
	}

	// Both sides compute the same 60-digit safety number.
	sa := safetyNumber(t, alice.must(t, "safety", "bob"))
	sb := safetyNumber(t, bob.must(t, "safety", "alice"))
	if len(sa) != 60 || sa != sb {
		t.Errorf("safety numbers differ: alice sees %s, bob sees %s", sa, sb)
	}
}
