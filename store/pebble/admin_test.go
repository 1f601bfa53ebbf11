package pebble_test

import (
	"testing"

	"github.com/parley-im/parley/store"
	"github.com/parley-im/parley/store/storetest"
)

func TestAdminConformance(t *testing.T) {
	storetest.RunAdmin(t, func(t *testing.T) store.Store { return openAt(t, t.TempDir()) }, openAt)
}
