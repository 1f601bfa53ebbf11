package media

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/blob/s3blob"
)

// s3Backend starts versitygw (as blob/s3blob's tests do: PARLEY_TEST_S3_*
// if set, else the binary on PATH or in ~/go/bin) or skips.
func s3Backend(t *testing.T) *s3blob.Store {
	t.Helper()
	cfg := s3blob.Config{PathStyle: true, CreateBucket: true, Bucket: "parley-media-test", Prefix: fmt.Sprintf("m%d/", time.Now().UnixNano())}
	if ep := os.Getenv("PARLEY_TEST_S3_ENDPOINT"); ep != "" {
		cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = ep, os.Getenv("PARLEY_TEST_S3_ACCESS_KEY"), os.Getenv("PARLEY_TEST_S3_SECRET_KEY")
		if b := os.Getenv("PARLEY_TEST_S3_BUCKET"); b != "" {
			cfg.Bucket = b
		}
	} else {
		bin, err := exec.LookPath("versitygw")
		if err != nil {
			home, _ := os.UserHomeDir()
			bin = filepath.Join(home, "go", "bin", "versitygw")
			if _, err := os.Stat(bin); err != nil {
				t.Skip("no S3-compatible server: run `eval \"$(.ci/s3server.sh)\"` or put versitygw on PATH")
			}
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		cmd := exec.Command(bin, "--access", "mediatest", "--secret", "mediatestsecret", "--port", addr, "--quiet", "posix", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		deadline := time.Now().Add(15 * time.Second)
		for {
			c, err := net.Dial("tcp", addr)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("versitygw on %s not ready", addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cfg.Endpoint, cfg.AccessKey, cfg.SecretKey = "http://"+addr, "mediatest", "mediatestsecret"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s3blob.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// The same tus upload, ranged download and GC over the S3 backend.
func TestS3Backend(t *testing.T) {
	be := s3Backend(t)
	f := newFixture(t, be, 0)
	f.clock.t = time.Now()
	data := randBytes(t, 6<<20+123) // more than one S3 part
	s := uploadAll(t, f, data)
	r, body := tus(t, "GET", s.DownloadUrl, "", nil, nil)
	if r.StatusCode != 200 || body != string(data) || r.Header.Get("ETag") == "" {
		t.Fatalf("GET: %d, %d bytes, ETag %q", r.StatusCode, len(body), r.Header.Get("ETag"))
	}
	r, body = tus(t, "GET", s.DownloadUrl, "", map[string]string{"Range": "bytes=6000000-6000009"}, nil)
	if r.StatusCode != 206 || body != string(data[6000000:6000010]) {
		t.Fatalf("Range GET: %d %q", r.StatusCode, body)
	}
	f.clock.Advance(DefaultTTL + time.Hour)
	if res, err := f.svc.CollectOnce(context.Background()); err != nil || res.Blobs != 1 {
		t.Fatalf("GC: %+v %v", res, err)
	}
}
