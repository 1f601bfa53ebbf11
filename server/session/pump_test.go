package session

import (
	"testing"

	"github.com/parley-im/parley/protocol"
)

// A pump pass is bounded by the window, by pumpBatch and by pumpBytes, and
// the first pass assumes the largest entries.
func TestPumpLimit(t *testing.T) {
	for _, tc := range []struct {
		name           string
		room, perEntry int
		want           int
	}{
		{"small entries, open window", 256, 300, 256},
		{"window nearly full", 3, 300, 3},
		{"first pass: as if every entry were the largest", 256, pumpFirstGuess, 64},
		{"largest ciphertexts", 256, protocol.MaxCiphertextSize + 200, 63},
		{"huge entries still take one", 256, 8 << 20, 1},
		{"window full", 0, 300, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pumpLimit(tc.room, tc.perEntry)
			if got != tc.want {
				t.Fatalf("pumpLimit(%d, %d) = %d, want %d", tc.room, tc.perEntry, got, tc.want)
			}
			if got*tc.perEntry > pumpBytes && got > 1 {
				t.Fatalf("a pass of %d entries of %d bytes exceeds %d bytes", got, tc.perEntry, pumpBytes)
			}
		})
	}
}
