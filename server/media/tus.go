package media

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/parley-im/parley/blob"
)

// tus 1.0 constants (https://tus.io/protocols/resumable-upload).
const (
	tusVersion     = "1.0.0"
	tusExtensions  = "creation,termination"
	offsetStream   = "application/offset+octet-stream"
	maxHeaderInt   = 19 // digits in the largest int64
	bearerPrefix   = "Bearer "
	hdrTusResume   = "Tus-Resumable"
	hdrOffset      = "Upload-Offset"
	hdrLength      = "Upload-Length"
	hdrDeferLength = "Upload-Defer-Length"
)

// parseHeaderInt reads a tus size or offset: 1 to 19 ASCII digits, no
// sign, no spaces, fitting an int64. Anything else is an error, never a
// panic, and never a negative number.
func parseHeaderInt(s string) (int64, error) {
	if len(s) == 0 || len(s) > maxHeaderInt {
		return 0, fmt.Errorf("%w: %q", ErrInvalidSize, s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: %q", ErrInvalidSize, s)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrInvalidSize, s)
	}
	return n, nil
}

func tusError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	io.WriteString(w, msg+"\n")
}

// serveUpload is the tus endpoint of one slot.
func (s *Service) serveUpload(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set(hdrTusResume, tusVersion)
	id := r.PathValue("id")
	if !validID(id) {
		tusError(w, http.StatusNotFound, "no such upload")
		return
	}
	if r.Method == http.MethodOptions {
		h.Set("Tus-Version", tusVersion)
		h.Set("Tus-Extension", tusExtensions)
		h.Set("Tus-Max-Size", strconv.FormatInt(s.cfg.MaxSize, 10))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Header.Get(hdrTusResume) != tusVersion {
		h.Set("Tus-Version", tusVersion)
		tusError(w, http.StatusPreconditionFailed, "Tus-Resumable: 1.0.0 required")
		return
	}
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, bearerPrefix)
	if !ok || tok == "" {
		h.Set("WWW-Authenticate", `Bearer realm="parley-media"`)
		tusError(w, http.StatusUnauthorized, "slot token required")
		return
	}
	size, err := s.checkToken(id, tok)
	if err != nil {
		s.log.Debug("upload refused", "blob", id, "err", err)
		tusError(w, http.StatusForbidden, "slot token invalid or expired")
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.tusCreate(w, r, id, size)
	case http.MethodHead:
		s.tusHead(w, r, id)
	case http.MethodPatch:
		s.tusPatch(w, r, id)
	case http.MethodDelete:
		if err := s.cfg.Backend.AbortUpload(r.Context(), id); err != nil {
			s.fail(w, "abort upload", id, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		h.Set("Allow", "OPTIONS, POST, HEAD, PATCH, DELETE")
		tusError(w, http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (s *Service) fail(w http.ResponseWriter, what, id string, err error) {
	s.log.Error("media request failed", "op", what, "blob", id, "err", err)
	tusError(w, http.StatusInternalServerError, "the node failed; retry later")
}

// tusCreate is POST (creation extension). It is idempotent for a retried
// POST whose 201 was lost: the same id and size answer 201 again.
func (s *Service) tusCreate(w http.ResponseWriter, r *http.Request, id string, slotSize int64) {
	if r.Header.Get(hdrDeferLength) != "" {
		tusError(w, http.StatusBadRequest, "Upload-Defer-Length is not supported")
		return
	}
	n, err := parseHeaderInt(r.Header.Get(hdrLength))
	if err != nil {
		tusError(w, http.StatusBadRequest, "Upload-Length missing or invalid")
		return
	}
	if n > s.cfg.MaxSize || slotSize > s.cfg.MaxSize {
		tusError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("uploads are limited to %d bytes", s.cfg.MaxSize))
		return
	}
	if n != slotSize {
		tusError(w, http.StatusBadRequest, "Upload-Length differs from the slot's size")
		return
	}
	err = s.cfg.Backend.CreateUpload(r.Context(), id, n)
	if errors.Is(err, blob.ErrExists) {
		if st, serr := s.cfg.Backend.UploadStatus(r.Context(), id); serr != nil || st.Size != n {
			tusError(w, http.StatusConflict, "upload already exists")
			return
		}
		err = nil
	}
	if err != nil {
		s.fail(w, "create upload", id, err)
		return
	}
	w.Header().Set("Location", s.public+UploadsPath+id)
	w.WriteHeader(http.StatusCreated)
}

// tusHead reports where to resume. A finished upload reports its full
// size, so a client whose last PATCH reply was lost sees it is done.
func (s *Service) tusHead(w http.ResponseWriter, r *http.Request, id string) {
	w.Header().Set("Cache-Control", "no-store")
	off, size, err := s.uploadState(r, id)
	if errors.Is(err, blob.ErrNotFound) {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if err != nil {
		s.fail(w, "upload status", id, err)
		return
	}
	w.Header().Set(hdrOffset, strconv.FormatInt(off, 10))
	w.Header().Set(hdrLength, strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)
}

func (s *Service) uploadState(r *http.Request, id string) (off, size int64, err error) {
	st, err := s.cfg.Backend.UploadStatus(r.Context(), id)
	if err == nil {
		return st.Offset, st.Size, nil
	}
	if !errors.Is(err, blob.ErrNotFound) {
		return 0, 0, err
	}
	info, err := s.cfg.Backend.Stat(r.Context(), id)
	if err != nil {
		return 0, 0, err
	}
	return info.Size, info.Size, nil
}

// tusPatch appends the body at Upload-Offset. The body is streamed into the
// store, capped at the bytes the upload still misses; whatever reached the
// store before a dropped connection counts.
func (s *Service) tusPatch(w http.ResponseWriter, r *http.Request, id string) {
	if ct := r.Header.Get("Content-Type"); ct != offsetStream {
		tusError(w, http.StatusUnsupportedMediaType, "Content-Type must be "+offsetStream)
		return
	}
	off, err := parseHeaderInt(r.Header.Get(hdrOffset))
	if err != nil {
		tusError(w, http.StatusBadRequest, "Upload-Offset missing or invalid")
		return
	}
	cur, size, err := s.uploadState(r, id)
	if errors.Is(err, blob.ErrNotFound) {
		tusError(w, http.StatusNotFound, "no such upload")
		return
	}
	if err != nil {
		s.fail(w, "upload status", id, err)
		return
	}
	if off != cur {
		w.Header().Set(hdrOffset, strconv.FormatInt(cur, 10))
		tusError(w, http.StatusConflict, "Upload-Offset does not match the upload")
		return
	}
	left := size - cur
	if r.ContentLength > left {
		tusError(w, http.StatusRequestEntityTooLarge, "body longer than the rest of the upload")
		return
	}
	if left == 0 {
		w.Header().Set(hdrOffset, strconv.FormatInt(cur, 10))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	body := &countingReader{r: http.MaxBytesReader(w, r.Body, left), n: &s.received}
	newOff, err := s.cfg.Backend.AppendUpload(r.Context(), id, off, body)
	w.Header().Set(hdrOffset, strconv.FormatInt(newOff, 10))
	switch {
	case errors.Is(err, blob.ErrOffsetMismatch):
		tusError(w, http.StatusConflict, "Upload-Offset does not match the upload")
	case errors.Is(err, blob.ErrNotFound):
		tusError(w, http.StatusNotFound, "no such upload")
	case err != nil && body.readErr != nil:
		// The client went away or sent too much; what arrived is kept.
		s.log.Debug("upload body ended early", "blob", id, "offset", newOff, "err", err)
		tusError(w, http.StatusBadRequest, "upload body failed; resume with HEAD")
	case err != nil:
		s.fail(w, "append upload", id, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// countingReader counts body bytes into a shared counter and remembers the
// body's own error, to tell a client failure from a store failure.
type countingReader struct {
	r       io.Reader
	n       interface{ Add(int64) int64 }
	readErr error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if err != nil && err != io.EOF {
		c.readErr = err
	}
	return n, err
}
