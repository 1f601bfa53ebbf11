package pebble_test

import (
	"log/slog"
	"testing"

	"github.com/parley-im/parley/store"
	"github.com/parley-im/parley/store/pebble"
	"github.com/parley-im/parley/store/storetest"
)

// testLogger shows the store's warnings and errors in the test's output;
// Pebble's routine messages are at debug level and stay hidden.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func openAt(t *testing.T, dir string) store.Store {
	t.Helper()
	s, err := pebble.Open(dir, pebble.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openAt(t, t.TempDir()) })
}

func TestDurable(t *testing.T) {
	storetest.RunDurable(t, openAt)
}
