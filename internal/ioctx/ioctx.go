// Package ioctx makes long copies stop when their context is done. It owns
// nothing else and imports only the standard library, so the SDK core, the
// media crypto and the blob stores can all use it (and it builds for wasm).
package ioctx

import (
	"context"
	"io"
)

// Reader returns r wrapped so that every Read first checks ctx: a copy of
// a large file stops between reads once the caller gives up.
func Reader(ctx context.Context, r io.Reader) io.Reader { return reader{ctx, r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
