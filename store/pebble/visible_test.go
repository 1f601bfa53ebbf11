package pebble

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// holdSyncFS holds every sync of a WAL file while armed, so a test can look
// at the store with a batch written but not yet durable.
type holdSyncFS struct {
	vfs.FS
	armed   atomic.Bool
	holding chan struct{} // gets a value when a sync starts being held
	release chan struct{} // closed to let held syncs go
	once    sync.Once
}

func newHoldSyncFS() *holdSyncFS {
	return &holdSyncFS{FS: vfs.Default, holding: make(chan struct{}, 1), release: make(chan struct{})}
}

func (f *holdSyncFS) let() { f.once.Do(func() { close(f.release) }) }

func (f *holdSyncFS) hold() {
	if !f.armed.Load() {
		return
	}
	select {
	case f.holding <- struct{}{}:
	default:
	}
	<-f.release
}

func (f *holdSyncFS) wrap(file vfs.File, name string, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return file, err
	}
	return &holdSyncFile{File: file, fs: f}, nil
}

func (f *holdSyncFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.Create(name, c)
	return f.wrap(file, name, err)
}

func (f *holdSyncFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	file, err := f.FS.ReuseForWrite(oldname, newname, c)
	return f.wrap(file, newname, err)
}

type holdSyncFile struct {
	vfs.File
	fs *holdSyncFS
}

func (f *holdSyncFile) Sync() error     { f.fs.hold(); return f.File.Sync() }
func (f *holdSyncFile) SyncData() error { f.fs.hold(); return f.File.SyncData() }
func (f *holdSyncFile) SyncTo(n int64) (bool, error) {
	f.fs.hold()
	return f.File.SyncTo(n)
}

// TestDeliveryDoesNotWaitForTheDisk: while the WAL's sync of a batch is
// held, its entries are already handed over (onVisible) and readable, the
// sender is not yet answered, and the recipient's ack, which promises no
// sync, is answered with its receipt. Once the sync ends, the sender is.
func TestDeliveryDoesNotWaitForTheDisk(t *testing.T) {
	fs := newHoldSyncFS()
	s, err := Open(t.TempDir(), Options{fs: fs})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.let(); _ = s.Close() })
	ctx := context.Background()
	bob, alice := protocol.Address{User: "bob", Device: 1}, protocol.Address{User: "alice", Device: 1}

	fs.armed.Store(true)
	visible := make(chan []store.Entry, 1)
	p := s.EnqueueAsync(ctx, []*store.Entry{{Device: bob, Payload: []byte("hi")}}, func(es []*store.Entry) {
		visible <- []store.Entry{*es[0]}
	})
	var handed []store.Entry
	select {
	case handed = <-visible:
	case <-time.After(10 * time.Second):
		t.Fatal("entries not handed over while the sync is held")
	}
	select {
	case <-fs.holding:
	case <-time.After(10 * time.Second):
		t.Fatal("the WAL was never synced")
	}
	select {
	case <-p.Done():
		t.Fatal("the sender was answered before its batch was synced")
	default:
	}
	got, err := s.ReadQueue(ctx, bob, 0, 10)
	if err != nil || len(got) != 1 || got[0].Seq != handed[0].Seq || string(got[0].Payload) != "hi" {
		t.Fatalf("ReadQueue during the sync = %v, %v; want the handed-over entry %d", got, err, handed[0].Seq)
	}

	acked := make(chan error, 1)
	go func() {
		_, err := s.AckAndEnqueue(ctx, bob, []uint64{handed[0].Seq}, func(context.Context, []store.Entry) []*store.Entry {
			return []*store.Entry{{Device: alice, Payload: []byte("receipt")}}
		})
		acked <- err
	}()
	select {
	case err := <-acked:
		if err != nil {
			t.Fatalf("AckAndEnqueue: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the ack waited for a sync it does not need")
	}
	if n, _ := s.QueueDepth(ctx, alice); n != 1 {
		t.Fatalf("receipt queue depth %d during the sync, want 1", n)
	}

	fs.let()
	if err := p.Wait(); err != nil {
		t.Fatalf("sender after the sync: %v", err)
	}
}
