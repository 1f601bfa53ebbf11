package endtoend_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// recvLine is one line of `recv --json` or `history --json`: a message
// (id, from, text, …) or a status change of one of our messages (id,
// status, at).
type recvLine struct {
	ID         string `json:"id"`
	From       string `json:"from"`
	FromDevice uint32 `json:"from_device"`
	To         string `json:"to"`
	Text       string `json:"text"`
	SentAt     string `json:"sent_at"`
	ReceivedAt string `json:"received_at"`
	Outgoing   bool   `json:"outgoing"`
	Status     string `json:"status"`
	At         string `json:"at"`
	Error      string `json:"error"`
}

func (l recvLine) isStatus() bool { return l.At != "" && l.From == "" }

// parseJSONLines decodes every stdout line as JSON; a line that is not is a
// test failure (--json promises one object per line).
func parseJSONLines(t *testing.T, r result) []recvLine {
	t.Helper()
	var out []recvLine
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var l recvLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %q of --json output is not JSON (%v):\n%s", line, err, r)
		}
		out = append(out, l)
	}
	return out
}

// messagesOf splits `recv --json` output into messages and status changes.
func messagesOf(t *testing.T, r result) (msgs, statuses []recvLine) {
	t.Helper()
	for _, l := range parseJSONLines(t, r) {
		if l.isStatus() {
			statuses = append(statuses, l)
		} else {
			msgs = append(msgs, l)
		}
	}
	return msgs, statuses
}

// receivedTexts is the texts of the messages `recv --json` printed.
func receivedTexts(t *testing.T, r result) []string {
	t.Helper()
	msgs, _ := messagesOf(t, r)
	return texts(msgs)
}

func texts(msgs []recvLine) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Text
	}
	return out
}

var safetyDigits = regexp.MustCompile(`(?m)^\s+(\d{5}) (\d{5}) (\d{5}) (\d{5})\s*$`)

// safetyNumber extracts the 60 digits `parley safety` prints as three rows
// of four groups.
func safetyNumber(t *testing.T, r result) string {
	t.Helper()
	rows := safetyDigits.FindAllStringSubmatch(r.stdout, -1)
	if len(rows) != 3 {
		t.Fatalf("want 3 rows of 4×5 digits in safety output, got %d:\n%s", len(rows), r)
	}
	var b strings.Builder
	for _, row := range rows {
		b.WriteString(strings.Join(row[1:], ""))
	}
	return b.String()
}
