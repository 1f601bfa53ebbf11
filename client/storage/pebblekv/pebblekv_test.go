package pebblekv_test

import (
	"context"
	"errors"
	"testing"

	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/client/storage/pebblekv"
	"github.com/parley-im/parley/client/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage {
		s, err := pebblekv.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := pebblekv.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := storage.Set(ctx, s, []byte("session"), []byte("ratchet")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = pebblekv.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get(ctx, []byte("session")); err != nil || string(v) != "ratchet" {
		t.Fatalf("after reopen: %q, %v", v, err)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	s, err := pebblekv.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := pebblekv.Open(dir); !errors.Is(err, pebblekv.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}
