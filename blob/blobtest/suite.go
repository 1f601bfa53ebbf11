package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/blob"
)

const (
	mib = 1 << 20
	// streamSize is large enough that buffering it would show as heap
	// growth far above heapBudget.
	streamSize = 64 * mib
	heapBudget = 32 * mib
)

// Run checks that a store meets the blob.Store and blob.Uploads contracts.
// newStore returns a fresh, empty store for each subtest.
func Run(t *testing.T, newStore func(testing.TB) blob.Backend) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("StreamConstantMemory", func(t *testing.T) { testStream(t, newStore(t)) })
	t.Run("Ranges", func(t *testing.T) { testRanges(t, newStore(t)) })
	t.Run("StatAndETag", func(t *testing.T) { testStat(t, newStore(t)) })
	t.Run("CreateOnly", func(t *testing.T) { testCreateOnly(t, newStore(t)) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("InvalidKeys", func(t *testing.T) { testInvalidKeys(t, newStore(t)) })
	t.Run("ConcurrentPuts", func(t *testing.T) { testConcurrentPuts(t, newStore(t)) })
	t.Run("FailedPutLeavesNothing", func(t *testing.T) { testFailedPut(t, newStore(t)) })
	t.Run("UploadResume", func(t *testing.T) { testUploadResume(t, newStore(t)) })
	t.Run("UploadEdgeCases", func(t *testing.T) { testUploadEdges(t, newStore(t)) })
}

func readAll(t testing.TB, s blob.Store, key string, off, n int64) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("Open(%q, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return b, info
}

func mustPut(t testing.TB, s blob.Store, key string, data []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", key, len(data), err)
	}
}

func assertNotFound(t testing.TB, s blob.Store, key string) {
	t.Helper()
	if _, err := s.Stat(context.Background(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Stat(%q) = %v, want ErrNotFound", key, err)
	}
	if _, _, err := s.Open(context.Background(), key, 0, -1); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open(%q) = %v, want ErrNotFound", key, err)
	}
}

func testRoundTrip(t *testing.T, s blob.Store) {
	for _, tc := range []struct {
		name      string
		size      int
		knownSize bool
	}{
		{"empty", 0, true},
		{"one-byte", 1, true},
		{"5MiB", 5 * mib, true},
		{"5MiB-plus-1", 5*mib + 1, true},
		{"unknown-size-small", 1000, false},
		{"unknown-size-12MiB", 12 * mib, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := genBytes(byte(tc.size), tc.size)
			key := "rt-" + tc.name
			size := int64(len(data))
			if !tc.knownSize {
				size = -1
			}
			if err := s.Put(context.Background(), key, bytes.NewReader(data), size); err != nil {
				t.Fatalf("Put: %v", err)
			}
			got, info := readAll(t, s, key, 0, -1)
			if !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, want the %d written (equal=%v)", len(got), len(data), bytes.Equal(got, data))
			}
			if info.Size != int64(len(data)) || info.Key != key {
				t.Fatalf("Open info = %+v, want key %q size %d", info, key, len(data))
			}
		})
	}
}

func testStream(t *testing.T, s blob.Store) {
	if testing.Short() {
		t.Skip("streams 64 MiB twice")
	}
	ctx := context.Background()
	for _, size := range []int64{streamSize, -1} {
		key := fmt.Sprintf("stream-%d", size+1)
		var err error
		putGrow := peakHeapGrowth(func() { err = s.Put(ctx, key, newGen(7, streamSize), size) })
		if err != nil {
			t.Fatalf("Put(size %d): %v", size, err)
		}
		if putGrow > heapBudget {
			t.Errorf("Put of %d MiB (size %d) grew the heap by %d MiB, budget %d MiB", streamSize/mib, size, putGrow/mib, heapBudget/mib)
		}
		h := sha256.New()
		grow := peakHeapGrowth(func() {
			var rc io.ReadCloser
			rc, _, err = s.Open(ctx, key, 0, -1)
			if err != nil {
				return
			}
			defer rc.Close()
			_, err = io.Copy(h, rc)
		})
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		if grow > heapBudget {
			t.Errorf("reading %d MiB grew the heap by %d MiB, budget %d MiB", streamSize/mib, grow/mib, heapBudget/mib)
		}
		want := genHash(7, streamSize)
		if !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("SHA-256 of the streamed blob differs from what was written")
		}
		t.Logf("%d MiB, declared size %d: peak heap growth %d KiB on Put, %d KiB on read", streamSize/mib, size, putGrow>>10, grow>>10)
	}
}

func testRanges(t *testing.T, s blob.Store) {
	data := genBytes(3, 1000)
	mustPut(t, s, "ranged", data)
	mustPut(t, s, "empty", nil)
	for _, tc := range []struct {
		name        string
		key         string
		off, length int64
		want        []byte
		err         error
	}{
		{"start", "ranged", 0, 10, data[:10], nil},
		{"middle", "ranged", 500, 100, data[500:600], nil},
		{"end", "ranged", 990, -1, data[990:], nil},
		{"clamped", "ranged", 990, 100, data[990:], nil},
		{"zero-length", "ranged", 10, 0, []byte{}, nil},
		{"at-end", "ranged", 1000, -1, []byte{}, nil},
		{"whole", "ranged", 0, -1, data, nil},
		{"empty-blob", "empty", 0, -1, []byte{}, nil},
		{"past-end", "ranged", 1001, 1, nil, blob.ErrInvalidRange},
		{"far-past-end", "ranged", 1 << 40, -1, nil, blob.ErrInvalidRange},
		{"negative-offset", "ranged", -1, 10, nil, blob.ErrInvalidRange},
		{"bad-length", "ranged", 0, -2, nil, blob.ErrInvalidRange},
		{"empty-blob-past-end", "empty", 1, -1, nil, blob.ErrInvalidRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc, info, err := s.Open(context.Background(), tc.key, tc.off, tc.length)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Open = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Fatalf("got %d bytes, want %d (content equal: %v)", len(got), len(tc.want), bytes.Equal(got, tc.want))
			}
			if info.Size != int64(len(data)) && tc.key == "ranged" {
				t.Fatalf("info.Size = %d, want the whole blob's %d", info.Size, len(data))
			}
		})
	}
}

func testStat(t *testing.T, s blob.Store) {
	ctx := context.Background()
	assertNotFound(t, s, "nothing-here")
	before := time.Now().Add(-time.Minute)
	mustPut(t, s, "a", []byte("hello"))
	mustPut(t, s, "b", []byte("world"))
	ia, err := s.Stat(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if ia.Key != "a" || ia.Size != 5 || ia.ETag == "" || ia.ModTime.Before(before) || ia.ModTime.After(time.Now().Add(time.Minute)) {
		t.Fatalf("Stat = %+v, want key a, size 5, an ETag and a recent ModTime", ia)
	}
	ia2, err := s.Stat(ctx, "a")
	if err != nil || ia2.ETag != ia.ETag {
		t.Fatalf("second Stat ETag %q (err %v), want stable %q", ia2.ETag, err, ia.ETag)
	}
	_, info := readAll(t, s, "a", 1, 2)
	if info.ETag != ia.ETag || info.Size != 5 {
		t.Fatalf("Open info = %+v, want Stat's ETag %q and size 5", info, ia.ETag)
	}
	ib, err := s.Stat(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if ib.ETag == ia.ETag {
		t.Fatalf("different blobs share ETag %q", ia.ETag)
	}
}

func testCreateOnly(t *testing.T, s blob.Store) {
	mustPut(t, s, "once", []byte("first"))
	err := s.Put(context.Background(), "once", strings.NewReader("second"), 6)
	if !errors.Is(err, blob.ErrExists) {
		t.Fatalf("second Put = %v, want ErrExists", err)
	}
	if got, _ := readAll(t, s, "once", 0, -1); string(got) != "first" {
		t.Fatalf("blob now holds %q, want the first write kept", got)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if err := s.Delete(ctx, "never-was"); err != nil {
		t.Fatalf("Delete of a missing blob = %v, want nil", err)
	}
	mustPut(t, s, "doomed", []byte("x"))
	for i := range 2 {
		if err := s.Delete(ctx, "doomed"); err != nil {
			t.Fatalf("Delete #%d = %v", i+1, err)
		}
	}
	assertNotFound(t, s, "doomed")
}

func testList(t *testing.T, s blob.Store) {
	ctx := context.Background()
	sizes := map[string]int{"img-1": 1, "img-2": 22, "img-10": 0, "vid-1": 333}
	for k, n := range sizes {
		mustPut(t, s, k, genBytes(1, n))
	}
	collect := func(prefix string) map[string]int64 {
		t.Helper()
		got := map[string]int64{}
		err := s.List(ctx, prefix, func(i blob.Info) error {
			if i.ETag == "" || i.ModTime.IsZero() {
				t.Errorf("List gave %+v without ETag or ModTime", i)
			}
			got[i.Key] = i.Size
			return nil
		})
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		return got
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"", []string{"img-1", "img-10", "img-2", "vid-1"}},
		{"img-", []string{"img-1", "img-10", "img-2"}},
		{"img-1", []string{"img-1", "img-10"}},
		{"vid", []string{"vid-1"}},
		{"zzz", nil},
	} {
		got := collect(tc.prefix)
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range got {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(keys, tc.want) {
			t.Errorf("List(%q) = %v, want %v", tc.prefix, keys, tc.want)
		}
		for k, n := range got {
			if n != int64(sizes[k]) {
				t.Errorf("List(%q): %s size %d, want %d", tc.prefix, k, n, sizes[k])
			}
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := s.List(ctx, "", func(blob.Info) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("List with failing fn = %v after %d calls, want fn's error after 1", err, calls)
	}
}

func testInvalidKeys(t *testing.T, s blob.Backend) {
	ctx := context.Background()
	up, _ := s.(blob.Uploads)
	for _, key := range []string{"", "../etc", "..", ".", "a/b", "/abs", "a\\b", ".hidden", "a.b", "sp ace", "nul\x00", "é", strings.Repeat("k", blob.MaxKeyLen+1)} {
		t.Run(fmt.Sprintf("%q", key), func(t *testing.T) {
			checks := map[string]error{
				"Put":          s.Put(ctx, key, strings.NewReader("x"), 1),
				"Stat":         func() error { _, err := s.Stat(ctx, key); return err }(),
				"Open":         func() error { _, _, err := s.Open(ctx, key, 0, -1); return err }(),
				"Delete":       s.Delete(ctx, key),
				"CreateUpload": up.CreateUpload(ctx, key, 1),
				"UploadStatus": func() error { _, err := up.UploadStatus(ctx, key); return err }(),
				"AppendUpload": func() error { _, err := up.AppendUpload(ctx, key, 0, strings.NewReader("x")); return err }(),
				"AbortUpload":  up.AbortUpload(ctx, key),
			}
			if key != "" {
				checks["List"] = s.List(ctx, key, func(blob.Info) error { return nil })
			}
			for op, err := range checks {
				if !errors.Is(err, blob.ErrInvalidKey) {
					t.Errorf("%s(%q) = %v, want ErrInvalidKey", op, key, err)
				}
			}
		})
	}
	long := strings.Repeat("k", blob.MaxKeyLen)
	mustPut(t, s, long, []byte("longest key"))
	if got, _ := readAll(t, s, long, 0, -1); string(got) != "longest key" {
		t.Fatalf("key of MaxKeyLen: read %q", got)
	}
}

func testConcurrentPuts(t *testing.T, s blob.Store) {
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := genBytes(byte(i), 64<<10+i)
			errs[i] = s.Put(context.Background(), fmt.Sprintf("c-%d", i), bytes.NewReader(data), int64(len(data)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Put c-%d: %v", i, err)
		}
		got, _ := readAll(t, s, fmt.Sprintf("c-%d", i), 0, -1)
		if !bytes.Equal(got, genBytes(byte(i), 64<<10+i)) {
			t.Fatalf("c-%d: content differs", i)
		}
	}
}

func testFailedPut(t *testing.T, s blob.Store) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		r    io.Reader
		size int64
		want error
	}{
		{"reader-fails-small", ctx, &failingReader{newGen(1, 1<<20), 1000}, 1 << 20, errInjected},
		{"reader-fails-after-parts", ctx, &failingReader{newGen(1, 20*mib), 12 * mib}, 20 * mib, errInjected},
		{"reader-fails-unknown-size", ctx, &failingReader{newGen(1, 20*mib), 12 * mib}, -1, errInjected},
		{"short-reader", ctx, newGen(1, 50), 100, blob.ErrSizeMismatch},
		{"long-reader", ctx, newGen(1, 150), 100, blob.ErrSizeMismatch},
		{"long-reader-multipart", ctx, newGen(1, 12*mib+1), 12 * mib, blob.ErrSizeMismatch},
		{"short-reader-multipart", ctx, newGen(1, 12*mib-1), 12 * mib, blob.ErrSizeMismatch},
		{"cancelled", cancelled, newGen(1, 100), 100, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "fail-" + tc.name
			err := s.Put(tc.ctx, key, tc.r, tc.size)
			if err == nil {
				t.Fatalf("Put succeeded, want an error")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Put error %v, want one wrapping %v", err, tc.want)
			}
			assertNotFound(t, s, key)
		})
	}
	var keys []string
	if err := s.List(ctx, "fail-", func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("failed Puts left visible blobs: %v", keys)
	}
}
