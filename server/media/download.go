package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/parley-im/parley/blob"
)

// serveBlob serves a finished blob. Blobs never change, so the response is
// cacheable forever by anyone in between; http.ServeContent does Range,
// If-Range, If-None-Match and If-Modified-Since against our ETag.
func (s *Service) serveBlob(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	id := r.PathValue("id")
	if !validID(id) {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	info, err := s.cfg.Backend.Stat(r.Context(), id)
	if errors.Is(err, blob.ErrNotFound) {
		// Not cached: the upload may still finish.
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	if err != nil {
		s.log.Error("blob stat failed", "blob", id, "err", err)
		http.Error(w, "the node failed; retry later", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+info.ETag+`"`)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Disposition", "attachment")
	rs := &blobSeeker{ctx: r.Context(), st: s.cfg.Backend, key: id, size: info.Size}
	defer rs.Close()
	http.ServeContent(w, r, "", info.ModTime, rs)
}

// blobSeeker gives http.ServeContent the io.ReadSeeker it wants over
// blob.Store.Open: a seek only moves the position, and the first read after
// it opens the blob there. ServeContent seeks to the end to learn the size
// (answered from Stat, no I/O) and then once to the range start, so one
// range costs one Open.
type blobSeeker struct {
	ctx  context.Context
	st   blob.Store
	key  string
	size int64
	pos  int64
	rc   io.ReadCloser // open at pos, or nil
}

func (b *blobSeeker) Read(p []byte) (int, error) {
	if b.pos >= b.size {
		return 0, io.EOF
	}
	if b.rc == nil {
		rc, _, err := b.st.Open(b.ctx, b.key, b.pos, -1)
		if err != nil {
			return 0, fmt.Errorf("media: open blob: %w", err)
		}
		b.rc = rc
	}
	n, err := b.rc.Read(p)
	b.pos += int64(n)
	return n, err
}

func (b *blobSeeker) Seek(off int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = off
	case io.SeekCurrent:
		abs = b.pos + off
	case io.SeekEnd:
		abs = b.size + off
	default:
		return 0, errors.New("media: bad whence")
	}
	if abs < 0 {
		return 0, errors.New("media: negative position")
	}
	if abs != b.pos && b.rc != nil {
		_ = b.rc.Close()
		b.rc = nil
	}
	b.pos = abs
	return abs, nil
}

func (b *blobSeeker) Close() error {
	if b.rc != nil {
		err := b.rc.Close()
		b.rc = nil
		return err
	}
	return nil
}
