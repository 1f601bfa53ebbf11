package session

import (
	"testing"
	"unsafe"
)

// TestSessionSize keeps the per-connection struct in a small allocation
// class: every idle connection pays for it. 144 is a size class; the
// parking slot (session.go) and the fresh queue pointer (fresh.go) took the
// struct past 128, and packing the seven mailbox bools into a flag byte is
// what would bring it back (docs/benchmarks.md, idle connections).
func TestSessionSize(t *testing.T) {
	if n := unsafe.Sizeof(Session{}); n > 144 {
		t.Fatalf("Session is %d bytes, budget 144", n)
	}
	if testing.Verbose() {
		t.Logf("Session: %d bytes", unsafe.Sizeof(Session{}))
	}
}
