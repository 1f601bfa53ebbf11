package media

import (
	"context"
	"fmt"
	"time"

	"github.com/parley-im/parley/blob"
)

// GCResult counts what one collection removed.
type GCResult struct {
	Blobs   int // finished blobs older than TTL
	Uploads int // unfinished uploads older than UploadTTL
}

// CollectOnce deletes blobs older than TTL and uploads older than UploadTTL,
// measured with Config.Now. Deletions are collected first and done after
// each listing, so no store is modified while it is being listed.
func (s *Service) CollectOnce(ctx context.Context) (GCResult, error) {
	var res GCResult
	now := s.cfg.Now()
	var old []string
	err := s.cfg.Backend.List(ctx, "", func(i blob.Info) error {
		if now.Sub(i.ModTime) > s.cfg.TTL {
			old = append(old, i.Key)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("media: gc: list blobs: %w", err)
	}
	for _, k := range old {
		if err := s.cfg.Backend.Delete(ctx, k); err != nil {
			return res, fmt.Errorf("media: gc: delete blob: %w", err)
		}
		res.Blobs++
	}
	old = old[:0]
	err = s.cfg.Backend.ListUploads(ctx, func(u blob.UploadInfo) error {
		if now.Sub(u.Created) > s.cfg.UploadTTL {
			old = append(old, u.Key)
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("media: gc: list uploads: %w", err)
	}
	for _, k := range old {
		if err := s.cfg.Backend.AbortUpload(ctx, k); err != nil {
			return res, fmt.Errorf("media: gc: abort upload: %w", err)
		}
		res.Uploads++
	}
	return res, nil
}

// GC is the collector as a supervised service (suture.Service): it runs
// CollectOnce every GCInterval; an error ends Serve so the supervisor
// restarts it with backoff.
type GC struct{ s *Service }

// GC returns the service that collects for s.
func (s *Service) GC() *GC { return &GC{s: s} }

func (g *GC) String() string { return "media gc" }

// Serve implements suture.Service.
func (g *GC) Serve(ctx context.Context) error {
	t := time.NewTicker(g.s.cfg.GCInterval)
	defer t.Stop()
	for {
		res, err := g.s.CollectOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if res.Blobs+res.Uploads > 0 {
			g.s.log.Info("media gc", "blobs", res.Blobs, "uploads", res.Uploads)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
