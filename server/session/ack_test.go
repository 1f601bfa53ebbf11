package session

import (
	"fmt"
	"slices"
	"testing"
)

// TestSenderIDs: acknowledged ids are grouped by sender in order of first
// appearance, whether the senders are few (scanned) or many (indexed).
func TestSenderIDs(t *testing.T) {
	for _, senders := range []int{1, 2, senderScanMax, senderScanMax + 1, 3 * senderScanMax} {
		t.Run(fmt.Sprint(senders), func(t *testing.T) {
			var g senderIDs
			for round := range 3 {
				for s := range senders {
					g.add(fmt.Sprintf("user%d", s), []byte{byte(s), byte(round)})
				}
			}
			if len(g.list) != senders {
				t.Fatalf("%d groups for %d senders", len(g.list), senders)
			}
			for s, e := range g.list {
				if want := fmt.Sprintf("user%d", s); e.user != want {
					t.Errorf("group %d is %q, want %q", s, e.user, want)
				}
				want := [][]byte{{byte(s), 0}, {byte(s), 1}, {byte(s), 2}}
				if !slices.EqualFunc(e.ids, want, slices.Equal) {
					t.Errorf("%s: ids %v, want %v", e.user, e.ids, want)
				}
			}
		})
	}
}
