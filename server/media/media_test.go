package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/blob"
	"github.com/parley-im/parley/blob/fsblob"
	"github.com/parley-im/parley/protocol/pb"
)

// clock is a settable clock for token expiry and GC.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock() *clock                   { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

type fixture struct {
	svc   *Service
	be    blob.Backend
	srv   *httptest.Server
	clock *clock
}

func newFixture(t testing.TB, be blob.Backend, maxSize int64) *fixture {
	t.Helper()
	if be == nil {
		fs, err := fsblob.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		be = fs
	}
	f := &fixture{be: be, clock: newClock()}
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	secret := bytes.Repeat([]byte{7}, 32)
	svc, err := New(Config{Backend: be, PublicURL: f.srv.URL, Secret: secret, MaxSize: maxSize, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	mux.Handle("/media/v1/", svc.Handler())
	return f
}

func (f *fixture) grant(t testing.TB, size int64) *pb.UploadSlot {
	t.Helper()
	s, err := f.svc.Grant(size)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// tus sends one tus request and returns the response (body read).
func tus(t testing.TB, method, url, token string, hdr map[string]string, body []byte) (*http.Response, string) {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func patchHdr(off int) map[string]string {
	return map[string]string{"Upload-Offset": strconv.Itoa(off), "Content-Type": "application/offset+octet-stream"}
}

// uploadAll runs the tus flow in two PATCHes with a HEAD between.
func uploadAll(t testing.TB, f *fixture, data []byte) *pb.UploadSlot {
	t.Helper()
	s := f.grant(t, int64(len(data)))
	if r, b := tus(t, "POST", s.UploadUrl, s.Token, map[string]string{"Upload-Length": strconv.Itoa(len(data))}, nil); r.StatusCode != 201 || r.Header.Get("Location") != s.UploadUrl {
		t.Fatalf("POST: %d %s (Location %q)", r.StatusCode, b, r.Header.Get("Location"))
	}
	half := len(data) / 2
	if r, b := tus(t, "PATCH", s.UploadUrl, s.Token, patchHdr(0), data[:half]); r.StatusCode != 204 || r.Header.Get("Upload-Offset") != strconv.Itoa(half) {
		t.Fatalf("PATCH 1: %d %s offset %q", r.StatusCode, b, r.Header.Get("Upload-Offset"))
	}
	if r, _ := tus(t, "HEAD", s.UploadUrl, s.Token, nil, nil); r.StatusCode != 200 || r.Header.Get("Upload-Offset") != strconv.Itoa(half) || r.Header.Get("Upload-Length") != strconv.Itoa(len(data)) {
		t.Fatalf("HEAD: %d offset %q length %q", r.StatusCode, r.Header.Get("Upload-Offset"), r.Header.Get("Upload-Length"))
	}
	if r, _ := tus(t, "GET", s.DownloadUrl, "", nil, nil); r.StatusCode != 404 {
		t.Fatalf("GET of an unfinished upload: %d, want 404", r.StatusCode)
	}
	if r, b := tus(t, "PATCH", s.UploadUrl, s.Token, patchHdr(half), data[half:]); r.StatusCode != 204 || r.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Fatalf("PATCH 2: %d %s", r.StatusCode, b)
	}
	return s
}

func TestTusUploadAndDownload(t *testing.T) {
	f := newFixture(t, nil, 0)
	data := randBytes(t, 300_000)
	s := uploadAll(t, f, data)
	r, body := tus(t, "GET", s.DownloadUrl, "", nil, nil)
	if r.StatusCode != 200 || body != string(data) {
		t.Fatalf("GET: %d, %d bytes, want 200 and the uploaded bytes", r.StatusCode, len(body))
	}
	for h, want := range map[string]string{
		"Cache-Control":  "public, max-age=31536000, immutable",
		"Content-Type":   "application/octet-stream",
		"Content-Length": strconv.Itoa(len(data)),
		"Accept-Ranges":  "bytes",
	} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	etag := r.Header.Get("ETag")
	if len(etag) < 3 || etag[0] != '"' {
		t.Fatalf("ETag %q, want a quoted validator", etag)
	}
	// A cache revalidating gets 304.
	if r, _ := tus(t, "GET", s.DownloadUrl, "", map[string]string{"If-None-Match": etag}, nil); r.StatusCode != 304 {
		t.Errorf("If-None-Match: %d, want 304", r.StatusCode)
	}
	if f.svc.BytesReceived() != int64(len(data)) {
		t.Errorf("BytesReceived %d, want %d", f.svc.BytesReceived(), len(data))
	}
	// A finished upload reports its full offset (a client whose last reply was lost).
	if r, _ := tus(t, "HEAD", s.UploadUrl, s.Token, nil, nil); r.StatusCode != 200 || r.Header.Get("Upload-Offset") != strconv.Itoa(len(data)) {
		t.Errorf("HEAD after completion: %d offset %q", r.StatusCode, r.Header.Get("Upload-Offset"))
	}
}

func TestRangeRequests(t *testing.T) {
	f := newFixture(t, nil, 0)
	data := randBytes(t, 100_000)
	s := uploadAll(t, f, data)
	for _, tc := range []struct {
		rng        string
		status     int
		start, end int // inclusive
	}{
		{"bytes=0-9", 206, 0, 9},
		{"bytes=50000-", 206, 50000, 99999},
		{"bytes=-100", 206, 99900, 99999},
		{"bytes=99999-200000", 206, 99999, 99999},
		{"bytes=200000-", 416, 0, 0},
	} {
		t.Run(tc.rng, func(t *testing.T) {
			r, body := tus(t, "GET", s.DownloadUrl, "", map[string]string{"Range": tc.rng}, nil)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", r.StatusCode, tc.status)
			}
			if tc.status != 206 {
				return
			}
			if body != string(data[tc.start:tc.end+1]) {
				t.Fatalf("wrong bytes: %d bytes", len(body))
			}
			want := "bytes " + strconv.Itoa(tc.start) + "-" + strconv.Itoa(tc.end) + "/100000"
			if got := r.Header.Get("Content-Range"); got != want {
				t.Fatalf("Content-Range %q, want %q", got, want)
			}
		})
	}
}

func TestTusRefusals(t *testing.T) {
	f := newFixture(t, nil, 1000)
	s := f.grant(t, 100)
	other := f.grant(t, 100)
	ok := map[string]string{"Upload-Length": "100"}
	if _, err := f.svc.Grant(1001); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Grant over the cap: %v, want ErrTooLarge", err)
	}
	if _, err := f.svc.Grant(0); !errors.Is(err, ErrInvalidSize) {
		t.Fatalf("Grant(0): %v, want ErrInvalidSize", err)
	}
	// A token for a larger size than the cap (cap lowered after the grant): forged here with the secret.
	big := f.svc.token(s.BlobId, 5000, f.clock.Now().Add(time.Hour).UnixMilli())
	tampered := []byte(s.Token)
	tampered[len(tampered)-3] ^= 1
	for _, tc := range []struct {
		name, method, url, token string
		hdr                      map[string]string
		body                     []byte
		want                     int
	}{
		{"no token", "POST", s.UploadUrl, "", ok, nil, 401},
		{"tampered token", "POST", s.UploadUrl, string(tampered), ok, nil, 403},
		{"token of another blob", "POST", s.UploadUrl, other.Token, ok, nil, 403},
		{"garbage token", "POST", s.UploadUrl, "xyz", ok, nil, 403},
		{"no Tus-Resumable", "POST", s.UploadUrl, s.Token, map[string]string{"Upload-Length": "100", "Tus-Resumable": ""}, nil, 412},
		{"length differs from slot", "POST", s.UploadUrl, s.Token, map[string]string{"Upload-Length": "99"}, nil, 400},
		{"bad length", "POST", s.UploadUrl, s.Token, map[string]string{"Upload-Length": "-1"}, nil, 400},
		{"deferred length", "POST", s.UploadUrl, s.Token, map[string]string{"Upload-Defer-Length": "1"}, nil, 400},
		{"over the cap", "POST", s.UploadUrl, big, map[string]string{"Upload-Length": "5000"}, nil, 413},
		{"bad id", "POST", f.srv.URL + UploadsPath + "short", s.Token, ok, nil, 404},
		{"create", "POST", s.UploadUrl, s.Token, ok, nil, 201},
		{"create again (lost reply)", "POST", s.UploadUrl, s.Token, ok, nil, 201},
		{"patch wrong type", "PATCH", s.UploadUrl, s.Token, map[string]string{"Upload-Offset": "0", "Content-Type": "text/plain"}, []byte("x"), 415},
		{"patch wrong offset", "PATCH", s.UploadUrl, s.Token, patchHdr(5), []byte("x"), 409},
		{"patch too long", "PATCH", s.UploadUrl, s.Token, patchHdr(0), make([]byte, 101), 413},
		{"patch no offset", "PATCH", s.UploadUrl, s.Token, map[string]string{"Content-Type": "application/offset+octet-stream"}, []byte("x"), 400},
		{"head other (never created)", "HEAD", other.UploadUrl, other.Token, nil, nil, 404},
		{"blob before completion", "GET", f.srv.URL + BlobsPath + s.BlobId, "", nil, nil, 404},
		{"blob bad method", "POST", s.DownloadUrl, "", nil, nil, 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, body := tus(t, tc.method, tc.url, tc.token, tc.hdr, tc.body)
			if r.StatusCode != tc.want {
				t.Fatalf("%s: %d %q, want %d", tc.name, r.StatusCode, body, tc.want)
			}
			if tc.url != s.DownloadUrl && r.Header.Get("Tus-Resumable") != "1.0.0" && strings.Contains(tc.url, UploadsPath) {
				t.Errorf("response without Tus-Resumable")
			}
		})
	}
	if f.svc.BytesReceived() != 0 {
		t.Errorf("refused PATCHes stored %d bytes", f.svc.BytesReceived())
	}
	// OPTIONS advertises the protocol and the cap without auth.
	req, _ := http.NewRequest("OPTIONS", s.UploadUrl, nil)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 204 || r.Header.Get("Tus-Version") != "1.0.0" || r.Header.Get("Tus-Max-Size") != "1000" || !strings.Contains(r.Header.Get("Tus-Extension"), "creation") {
		t.Errorf("OPTIONS: %d %v", r.StatusCode, r.Header)
	}
	// Expired tokens stop working.
	f.clock.Advance(DefaultSlotTTL + time.Second)
	if r, _ := tus(t, "HEAD", s.UploadUrl, s.Token, nil, nil); r.StatusCode != 403 {
		t.Errorf("expired token: %d, want 403", r.StatusCode)
	}
}

func TestGC(t *testing.T) {
	f := newFixture(t, nil, 0)
	ctx := context.Background()
	// fsblob stamps real times, so the test clock starts at real now.
	f.clock.t = time.Now()
	done := uploadAll(t, f, randBytes(t, 1000))
	stale := f.grant(t, 1000)
	if r, _ := tus(t, "POST", stale.UploadUrl, stale.Token, map[string]string{"Upload-Length": "1000"}, nil); r.StatusCode != 201 {
		t.Fatal("create")
	}
	res, err := f.svc.CollectOnce(ctx)
	if err != nil || res != (GCResult{}) {
		t.Fatalf("fresh GC: %+v %v, want nothing collected", res, err)
	}
	f.clock.Advance(DefaultUploadTTL + time.Minute)
	res, err = f.svc.CollectOnce(ctx)
	if err != nil || res != (GCResult{Uploads: 1}) {
		t.Fatalf("GC after 24h: %+v %v, want the stale upload", res, err)
	}
	if _, err := f.be.UploadStatus(ctx, stale.BlobId); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("stale upload still there: %v", err)
	}
	if _, err := f.be.Stat(ctx, done.BlobId); err != nil {
		t.Fatalf("finished blob collected too early: %v", err)
	}
	f.clock.Advance(DefaultTTL)
	res, err = f.svc.CollectOnce(ctx)
	if err != nil || res != (GCResult{Blobs: 1}) {
		t.Fatalf("GC after TTL: %+v %v, want the blob", res, err)
	}
	if r, _ := tus(t, "GET", done.DownloadUrl, "", nil, nil); r.StatusCode != 404 {
		t.Fatalf("collected blob still served: %d", r.StatusCode)
	}
}

// The supervised service runs a collection right away and stops with ctx.
func TestGCService(t *testing.T) {
	f := newFixture(t, nil, 0)
	f.clock.t = time.Now()
	uploadAll(t, f, randBytes(t, 10))
	f.clock.Advance(DefaultTTL + time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- f.svc.GC().Serve(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		_ = f.be.List(context.Background(), "", func(blob.Info) error { n++; return nil })
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("GC service did not collect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Serve: %v", err)
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	p := t.TempDir() + "/media.secret"
	a, err := LoadOrCreateSecret(p)
	if err != nil || len(a) != 32 {
		t.Fatal(err)
	}
	b, err := LoadOrCreateSecret(p)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("reload: %v, same=%v", err, bytes.Equal(a, b))
	}
}
