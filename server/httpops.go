package server

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/parley-im/parley/store"
)

// storeReady probes the store with one read: a handle that cannot exist
// (too short to be valid) answers ErrNotFound from an open store and
// ErrClosed from a closed one.
func (n *Node) storeReady(ctx context.Context) error {
	_, err := n.store.Account(ctx, "-")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// countMedia counts media bytes in (request bodies) and out (response
// bodies) and uploads created (POST answered 201).
func (o *ops) countMedia(h http.Handler) http.Handler {
	in, out := o.m.BlobBytes.WithLabelValues("in"), o.m.BlobBytes.WithLabelValues("out")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = &countReader{ReadCloser: r.Body, add: in.Add}
		}
		cw := &countWriter{ResponseWriter: w, add: out.Add}
		h.ServeHTTP(cw, r)
		if r.Method == http.MethodPost && cw.status == http.StatusCreated {
			o.m.MediaUploads.Inc()
		}
	})
}

type countReader struct {
	io.ReadCloser
	add func(float64)
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.add(float64(n))
	return n, err
}

type countWriter struct {
	http.ResponseWriter
	add    func(float64)
	status int
}

func (c *countWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(p)
	c.add(float64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer (flush,
// deadlines) and io.Copy's ReaderFrom fast path stay off only for us.
func (c *countWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
