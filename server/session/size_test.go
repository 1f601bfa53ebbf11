package session

import (
	"testing"
	"unsafe"
)

// TestSessionSize keeps the per-connection struct in a small allocation
// class: every idle connection pays for it.
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > 128 {
		t.Fatalf("Session is %d bytes, budget 128", n)
	}
	if testing.Verbose() {
		t.Logf("Session: %d bytes", unsafe.Sizeof(Session{}))
	}
}
