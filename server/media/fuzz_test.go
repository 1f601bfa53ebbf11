package media

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// FuzzTusHeaders feeds arbitrary Upload-Offset, Upload-Length and Range
// values: the parser accepts only plain decimal int64s, and the handlers
// answer with a status, never a panic or bytes outside the blob.
func FuzzTusHeaders(f *testing.F) {
	for _, s := range []string{"0", "1", "100", "-1", "+5", " 5", "9223372036854775807", "9223372036854775808", "1e3", "", "0x10"} {
		f.Add(s, "bytes=0-9")
	}
	f.Add("5", "bytes=-5")
	f.Add("5", "bytes=5-,0-1")
	f.Add("5", "bytes=99999999999999999999-")
	fx := newFixture(f, nil, 1000)
	data := []byte(strings.Repeat("0123456789", 10))
	s := uploadAll(f, fx, data)
	open := fx.grant(f, 100)
	if r, _ := tus(f, "POST", open.UploadUrl, open.Token, map[string]string{"Upload-Length": "100"}, nil); r.StatusCode != 201 {
		f.Fatal("create")
	}
	h := fx.svc.Handler()
	f.Fuzz(func(t *testing.T, v, rng string) {
		n, err := parseHeaderInt(v)
		if err == nil {
			if n < 0 || strconv.FormatInt(n, 10) != strings.TrimLeft(v, "0") && !(n == 0 && strings.Trim(v, "0") == "") {
				t.Fatalf("parseHeaderInt(%q) = %d", v, n)
			}
		}
		// PATCH with an arbitrary offset and an empty body against an open upload.
		req := httptest.NewRequest("PATCH", open.UploadUrl, strings.NewReader(""))
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+open.Token)
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", v)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if err != nil && w.Code != http.StatusBadRequest {
			t.Fatalf("PATCH with Upload-Offset %q: %d, want 400", v, w.Code)
		}
		// POST with an arbitrary length.
		req = httptest.NewRequest("POST", s.UploadUrl, nil)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.Header.Set("Upload-Length", v)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code == http.StatusCreated && n != 100 {
			t.Fatalf("POST with Upload-Length %q accepted", v)
		}
		// GET with an arbitrary Range.
		req = httptest.NewRequest("GET", s.DownloadUrl, nil)
		req.Header.Set("Range", rng)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			if w.Body.String() != string(data) {
				t.Fatal("200 with wrong body")
			}
		case http.StatusPartialContent:
			cr := w.Header().Get("Content-Range")
			if cr == "" { // multipart/byteranges
				return
			}
			var a, b, size int
			if _, err := fmtSscanf(cr, &a, &b, &size); err != nil || size != len(data) || w.Body.String() != string(data[a:b+1]) {
				t.Fatalf("206 %q with %d bytes", cr, w.Body.Len())
			}
		case http.StatusRequestedRangeNotSatisfiable:
		default:
			t.Fatalf("Range %q: status %d", rng, w.Code)
		}
	})
}

func fmtSscanf(cr string, a, b, size *int) (int, error) {
	return fmt.Sscanf(cr, "bytes %d-%d/%d", a, b, size)
}
