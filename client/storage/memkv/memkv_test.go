package memkv_test

import (
	"testing"

	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/client/storage/memkv"
	"github.com/parley-im/parley/client/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Storage { return memkv.New() })
}
