package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parley-im/parley/protocol/pb"
)

// Transfer retries: a dropped connection is retried this many times in a
// row (the count resets whenever bytes get through), with backoff.
const (
	maxTransferRetries = 8
	firstBackoff       = 100 * time.Millisecond
	maxBackoff         = 5 * time.Second
)

func backoff(ctx context.Context, attempt int) error {
	d := firstBackoff << min(attempt, 10)
	if d > maxBackoff {
		d = maxBackoff
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// httpStatusError is a refusal by the node that retrying will not fix.
type httpStatusError struct {
	op     string
	status int
	body   string
}

func (e *httpStatusError) Error() string {
	return fmt.Sprintf("%s: the node answered %d %s", e.op, e.status, strings.TrimSpace(e.body))
}

func statusErr(op string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return &httpStatusError{op: op, status: resp.StatusCode, body: string(b)}
}

// retryable: network failures, 5xx, and 409 (our idea of the offset was
// stale: HEAD tells the truth).
func retryable(err error) bool {
	var he *httpStatusError
	if errors.As(err, &he) {
		return he.status >= 500 || he.status == http.StatusConflict || he.status == http.StatusBadRequest && strings.Contains(he.body, "resume")
	}
	return !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// tusUpload sends f (size bytes) to the slot with tus 1.0: POST creates the
// upload, PATCH sends from the current offset; after a failure HEAD asks
// the node how much it kept and PATCH continues from there, so nothing is
// sent twice except bytes in flight when the connection broke.
func (c *Client) tusUpload(ctx context.Context, slot *pb.UploadSlot, f *os.File, size int64, progress func(int64, int64)) error {
	hc := c.httpClient()
	do := func(method string, body io.Reader, n int64, hdr map[string]string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, method, slot.GetUploadUrl(), body)
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		if body != nil {
			req.ContentLength = n
		}
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+slot.GetToken())
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return hc.Do(req)
	}
	create := func() error {
		resp, err := do(http.MethodPost, nil, 0, map[string]string{"Upload-Length": strconv.FormatInt(size, 10)})
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return statusErr("upload create", resp)
		}
		return nil
	}
	head := func() (int64, error) {
		resp, err := do(http.MethodHead, nil, 0, nil)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, statusErr("upload status", resp)
		}
		return parseNonNegative(resp.Header.Get("Upload-Offset"), size)
	}
	patch := func(off int64) (int64, error) {
		body := &progressReader{r: io.NewSectionReader(f, off, size-off), sent: off, total: size, fn: progress}
		resp, err := do(http.MethodPatch, body, size-off, map[string]string{
			"Upload-Offset": strconv.FormatInt(off, 10),
			"Content-Type":  "application/offset+octet-stream",
		})
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return 0, statusErr("upload", resp)
		}
		return parseNonNegative(resp.Header.Get("Upload-Offset"), size)
	}

	fails := 0
	retry := func(err error) error {
		if !retryable(err) || fails >= maxTransferRetries {
			return err
		}
		c.log.Info("upload interrupted; resuming", "err", err, "attempt", fails+1)
		fails++
		return backoff(ctx, fails-1)
	}
	for {
		err := create()
		if err == nil {
			break
		}
		if err := retry(err); err != nil {
			return err
		}
	}
	var off int64
	needHead := false
	for off < size {
		if needHead {
			o, err := head()
			if err != nil {
				if err := retry(err); err != nil {
					return err
				}
				continue
			}
			off, needHead = o, false
			if off >= size {
				break
			}
		}
		n, err := patch(off)
		if err != nil {
			if err := retry(err); err != nil {
				return err
			}
			needHead = true
			continue
		}
		if n > off {
			fails = 0
		}
		off = n
	}
	if progress != nil {
		progress(size, size)
	}
	return nil
}

// parseNonNegative reads an Upload-Offset the node sent, bounded by max.
func parseNonNegative(s string, max int64) (int64, error) {
	if len(s) == 0 || len(s) > 19 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("upload: bad Upload-Offset %q from the node", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > max {
		return 0, fmt.Errorf("upload: bad Upload-Offset %q from the node", s)
	}
	return n, nil
}

type progressReader struct {
	r     io.Reader
	sent  int64
	total int64
	fn    func(int64, int64)
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.sent += int64(n)
	if p.fn != nil && n > 0 {
		p.fn(p.sent, p.total)
	}
	return n, err
}

// rangeReader reads a blob over HTTP and, when the connection drops
// midway, asks for the rest with "Range: bytes=<offset>-", checking that
// the node answers 206 from exactly that offset. It never reads more than
// limit bytes, so a misbehaving server cannot stream forever.
type rangeReader struct {
	ctx   context.Context
	hc    *http.Client
	url   string
	limit int64
	off   int64
	body  io.ReadCloser
	fails int
}

func (r *rangeReader) Read(p []byte) (int, error) {
	for {
		if r.off >= r.limit {
			return 0, io.EOF
		}
		if r.body == nil {
			if err := r.open(); err != nil {
				if !retryable(err) || r.fails >= maxTransferRetries {
					return 0, err
				}
				r.fails++
				if err := backoff(r.ctx, r.fails-1); err != nil {
					return 0, err
				}
				continue
			}
		}
		if int64(len(p)) > r.limit-r.off {
			p = p[:r.limit-r.off]
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if n > 0 {
			r.fails = 0
		}
		if err == nil || errors.Is(err, io.EOF) {
			return n, err
		}
		_ = r.body.Close()
		r.body = nil
		if r.ctx.Err() != nil || r.fails >= maxTransferRetries {
			return n, fmt.Errorf("download: %w", err)
		}
		if n > 0 {
			return n, nil
		}
		r.fails++
		if err := backoff(r.ctx, r.fails-1); err != nil {
			return 0, err
		}
	}
}

func (r *rangeReader) open() error {
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	if r.off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(r.off, 10)+"-")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("download: %w", err)
	}
	switch {
	case r.off == 0 && resp.StatusCode == http.StatusOK:
	case r.off > 0 && resp.StatusCode == http.StatusPartialContent:
		start, err := parseContentRangeStart(resp.Header.Get("Content-Range"))
		if err != nil || start != r.off {
			resp.Body.Close()
			return fmt.Errorf("download: node resumed at the wrong offset (%q, want %d)", resp.Header.Get("Content-Range"), r.off)
		}
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return fmt.Errorf("download: %w", ErrAttachmentGone)
	default:
		err := statusErr("download", resp)
		resp.Body.Close()
		return err
	}
	r.body = resp.Body
	return nil
}

func (r *rangeReader) Close() error {
	if r.body != nil {
		err := r.body.Close()
		r.body = nil
		return err
	}
	return nil
}

// parseContentRangeStart reads the first byte position of a
// "Content-Range: bytes START-END/SIZE" header.
func parseContentRangeStart(s string) (int64, error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok || len(s) > 100 {
		return 0, fmt.Errorf("content-range %q", s)
	}
	startS, rest, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, fmt.Errorf("content-range %q", s)
	}
	endS, sizeS, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, fmt.Errorf("content-range %q", s)
	}
	start, err1 := parseNonNegative(startS, 1<<62)
	end, err2 := parseNonNegative(endS, 1<<62)
	if err1 != nil || err2 != nil || end < start {
		return 0, fmt.Errorf("content-range %q", s)
	}
	if sizeS != "*" {
		size, err := parseNonNegative(sizeS, 1<<62)
		if err != nil || end >= size {
			return 0, fmt.Errorf("content-range %q", s)
		}
	}
	return start, nil
}
