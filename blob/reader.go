package blob

import (
	"errors"
	"fmt"
	"io"
)

// ExactReader returns a reader that yields exactly size bytes of r and fails
// with ErrSizeMismatch when r ends early or holds more. It checks for excess
// before handing over the final bytes, and withholds them if there is any,
// so a consumer that stops at size bytes (an HTTP body with a
// Content-Length, io.ReadFull into an S3 part buffer) still sees the error
// and aborts instead of committing a prefix of a longer stream.
// A negative size means unknown: r is passed through unchanged.
func ExactReader(r io.Reader, size int64) io.Reader {
	if size < 0 {
		return r
	}
	return &exactReader{r: r, left: size, size: size}
}

type exactReader struct {
	r    io.Reader
	left int64
	size int64
	err  error // sticky
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		if err := e.probe(); err != nil {
			return 0, err
		}
		e.err = io.EOF
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	switch {
	case e.left == 0:
		if perr := e.probe(); perr != nil {
			// Withhold the last bytes: a consumer such as io.ReadFull
			// drops an error that comes with the bytes that fill it.
			return 0, perr
		}
		return n, nil
	case errors.Is(err, io.EOF):
		e.err = fmt.Errorf("%w: reader ended after %d of %d bytes", ErrSizeMismatch, e.size-e.left, e.size)
		return n, e.err
	case err != nil:
		e.err = err
		return n, err
	}
	return n, nil
}

// probe reads one byte past the declared end; finding one is an error.
func (e *exactReader) probe() error {
	var one [1]byte
	for range 100 {
		n, err := e.r.Read(one[:])
		if n > 0 {
			e.err = fmt.Errorf("%w: reader holds more than %d bytes", ErrSizeMismatch, e.size)
			return e.err
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			e.err = err
			return err
		}
	}
	e.err = io.ErrNoProgress
	return e.err
}
