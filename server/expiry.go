package server

import (
	"context"
	"fmt"
	"time"
)

// expiryService deletes queue entries older than QueueTTL every
// ExpireInterval. It is supervised: a store error fails it and suture
// restarts it with backoff.
type expiryService struct{ n *Node }

func (e *expiryService) String() string { return "queue expiry" }

func (e *expiryService) Serve(ctx context.Context) error {
	t := time.NewTicker(e.n.cfg.ExpireInterval)
	defer t.Stop()
	for {
		if err := e.n.expireOnce(ctx); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (n *Node) expireOnce(ctx context.Context) error {
	k, err := n.store.ExpireQueues(ctx, n.cfg.Now())
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("server: expire queues: %w", err)
	}
	if k > 0 {
		n.stats.expired.Add(uint64(k))
		n.log.Info("expired queue entries", "count", k)
	}
	return nil
}
