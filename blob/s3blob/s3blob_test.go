package s3blob

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/parley-im/parley/blob"
	"github.com/parley-im/parley/blob/blobtest"
)

// The tests run against a real S3-compatible server: the one named by
// PARLEY_TEST_S3_* (what .ci/s3server.sh prints), else a versitygw binary
// found on PATH or in $HOME/go/bin, started here on loopback.
const (
	testAccessKey = "parleytest"
	testSecretKey = "parleytestsecret"
	testBucket    = "parley-test"
)

var (
	serverOnce sync.Once
	serverCfg  Config
	serverErr  error
	serverCmd  *exec.Cmd
	serverDir  string
	storeSeq   atomic.Int64
)

func TestMain(m *testing.M) {
	code := m.Run()
	if serverCmd != nil {
		_ = serverCmd.Process.Kill()
		_ = serverCmd.Wait()
		_ = os.RemoveAll(serverDir)
	}
	os.Exit(code)
}

func findVersitygw() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, "go", "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func startServer() (Config, error) {
	if ep := os.Getenv("PARLEY_TEST_S3_ENDPOINT"); ep != "" {
		bucket := os.Getenv("PARLEY_TEST_S3_BUCKET")
		if bucket == "" {
			bucket = testBucket
		}
		return Config{
			Endpoint:  ep,
			AccessKey: os.Getenv("PARLEY_TEST_S3_ACCESS_KEY"),
			SecretKey: os.Getenv("PARLEY_TEST_S3_SECRET_KEY"),
			Bucket:    bucket,
			PathStyle: true,
		}, nil
	}
	bin := findVersitygw()
	if bin == "" {
		return Config{}, nil
	}
	dir, err := os.MkdirTemp("", "parley-s3blob-")
	if err != nil {
		return Config{}, err
	}
	serverDir = dir
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Config{}, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--access", testAccessKey, "--secret", testSecretKey, "--port", addr, "--quiet", "posix", dir)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return Config{}, fmt.Errorf("start %s: %w", bin, err)
	}
	serverCmd = cmd
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return Config{}, fmt.Errorf("versitygw on %s not ready after 15s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return Config{
		Endpoint:  "http://" + addr,
		AccessKey: testAccessKey,
		SecretKey: testSecretKey,
		Bucket:    testBucket,
		PathStyle: true,
	}, nil
}

// testConfig returns a config for a fresh, empty prefix in the test bucket.
func testConfig(tb testing.TB) Config {
	serverOnce.Do(func() { serverCfg, serverErr = startServer() })
	if serverErr != nil {
		tb.Fatalf("S3 test server: %v", serverErr)
	}
	if serverCfg.Endpoint == "" {
		tb.Skip("no S3-compatible server: run `eval \"$(.ci/s3server.sh)\"` or put versitygw on PATH")
	}
	cfg := serverCfg
	cfg.CreateBucket = true
	cfg.Prefix = fmt.Sprintf("t%d-%d/", time.Now().UnixNano(), storeSeq.Add(1))
	return cfg
}

func newStore(tb testing.TB) blob.Backend {
	s, err := New(context.Background(), testConfig(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { blobtest.Run(t, newStore) }

func BenchmarkStore(b *testing.B) { blobtest.Benchmark(b, newStore) }

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no-endpoint", Config{Bucket: "b"}},
		{"no-bucket", Config{Endpoint: "127.0.0.1:1"}},
		{"prefix-without-slash", Config{Endpoint: "127.0.0.1:1", Bucket: "b", Prefix: "x"}},
		{"small-parts", Config{Endpoint: "127.0.0.1:1", Bucket: "b", PartSize: 1 << 20}},
	} {
		if _, err := New(ctx, tc.cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", tc.name)
		}
	}
}

// TestMissingBucket checks that a wrong bucket name is reported at start,
// not at the first upload.
func TestMissingBucket(t *testing.T) {
	cfg := testConfig(t)
	cfg.Bucket = "parley-no-such-bucket"
	cfg.CreateBucket = false
	if _, err := New(context.Background(), cfg); err == nil {
		t.Fatal("New with a missing bucket succeeded")
	}
}

// TestResumeAcrossStores finishes an upload through a second Store on the
// same prefix, as after a node restart: the offset (parts plus tail) lives
// in the bucket, not in memory.
func TestResumeAcrossStores(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	s1, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(MinPartSize + 10)
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := s1.CreateUpload(ctx, "k", size); err != nil {
		t.Fatal(err)
	}
	first := int64(MinPartSize - 5) // under a part: all of it goes to the tail
	if off, err := s1.AppendUpload(ctx, "k", 0, bytes.NewReader(data[:first])); err != nil || off != first {
		t.Fatalf("append = %d, %v", off, err)
	}
	s2, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s2.UploadStatus(ctx, "k")
	if err != nil || st.Offset != first {
		t.Fatalf("status from a new store = %+v, %v; want offset %d", st, err, first)
	}
	if off, err := s2.AppendUpload(ctx, "k", first, bytes.NewReader(data[first:])); err != nil || off != size {
		t.Fatalf("append = %d, %v", off, err)
	}
	rc, info, err := s2.Open(ctx, "k", MinPartSize-8, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got); n != 16 || string(got) != string(data[MinPartSize-8:MinPartSize+8]) || info.Size != size {
		t.Fatalf("range across the part boundary: %d bytes, info %+v", n, info)
	}
	// Nothing of the upload's bookkeeping is left in the bucket.
	var left []string
	for oi := range s2.core.Client.ListObjects(ctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix + "u/", Recursive: true}) {
		left = append(left, oi.Key)
	}
	if len(left) != 0 {
		t.Fatalf("upload leftovers: %v", left)
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add([]byte(`{"size":10,"upload_id":"abc","created":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"size":0,"created":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"size":-1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decodeState(b)
		if err != nil {
			return
		}
		if st.Size < 0 || (st.Size > 0 && st.UploadID == "") {
			t.Fatalf("accepted inconsistent state %+v", st)
		}
		enc, err := encodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := decodeState(enc); err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
	})
}
