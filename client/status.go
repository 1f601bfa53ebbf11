package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// updateStatus raises the status of our messages (sender is this user) and
// emits StatusChange for each item that changed.
func (c *Client) updateStatus(ctx context.Context, sender string, ids []MessageID, st Status, atMS int64, peer string) error {
	c.cryptoMu.Lock()
	t := newTxn(c.st)
	evs, err := c.applyStatusLocked(ctx, t, sender, ids, st, atMS, peer)
	if err == nil {
		err = t.commit(ctx, c.st)
	}
	c.cryptoMu.Unlock()
	if err != nil {
		return fmt.Errorf("update status: %w", err)
	}
	c.emitStatus(evs)
	return nil
}

func (c *Client) emitStatus(evs []StatusChange) {
	if len(evs) == 0 {
		return
	}
	c.notifyStatus()
	for _, ev := range evs {
		c.emit(ev)
	}
}

// applyStatusLocked buffers the status raise in t. Statuses only move
// forward (a late SendAck never undoes a delivered receipt); when peer is
// set, only items of that conversation change (a receipt from bob cannot
// tick a message to carol). Caller holds cryptoMu.
func (c *Client) applyStatusLocked(ctx context.Context, t *txn, sender string, ids []MessageID, st Status, atMS int64, peer string) ([]StatusChange, error) {
	var evs []StatusChange
	for _, id := range ids {
		hk, err := t.Get(ctx, keyMessageID(sender, id))
		if errors.Is(err, storage.ErrNotFound) {
			c.log.Debug("status for unknown message", "id", id, "status", st)
			continue
		}
		if err != nil {
			return nil, err
		}
		if string(hk) == string(seenMarker) {
			continue
		}
		b, err := t.Get(ctx, hk)
		if err != nil {
			return nil, fmt.Errorf("history item of %s: %w", id, err)
		}
		h, err := decodeHistoryItem(b)
		if err != nil {
			return nil, err
		}
		cur := Status(h.Status)
		if !h.Outgoing || (peer != "" && h.Peer != peer) || (cur >= st && cur != StatusFailed) {
			continue
		}
		if atMS == 0 {
			atMS = c.cfg.Now().UnixMilli()
		}
		h.Status, h.StatusAtMs, h.Error = localpb.Status(st), atMS, ""
		t.Set(hk, mustMarshal(h))
		if st >= StatusSent && st != StatusFailed {
			t.Delete(keyOutbox(hk)) // on the node: nothing left to resend
		}
		evs = append(evs, StatusChange{ID: id, Peer: h.Peer, Status: st, At: msTime(atMS)})
	}
	return evs, nil
}

// Status returns the current status of one of our messages.
func (c *Client) Status(ctx context.Context, id MessageID) (Status, error) {
	a, _, err := c.account()
	if err != nil {
		return StatusUnknown, err
	}
	h, err := c.itemByID(ctx, a.User, id)
	if err != nil {
		return StatusUnknown, err
	}
	return Status(h.Status), nil
}

func (c *Client) itemByID(ctx context.Context, sender string, id MessageID) (*localpb.HistoryItem, error) {
	hk, err := c.st.Get(ctx, keyMessageID(sender, id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%s: %w", id, ErrUnknownMessage)
	}
	if err != nil {
		return nil, err
	}
	if string(hk) == string(seenMarker) {
		return nil, fmt.Errorf("%s: %w", id, ErrUnknownMessage)
	}
	b, err := c.st.Get(ctx, hk)
	if err != nil {
		return nil, fmt.Errorf("history item of %s: %w", id, err)
	}
	return decodeHistoryItem(b)
}

// WaitStatus blocks until our message id reaches at least status st (the
// connection must be up for receipts to arrive), or ctx ends.
func (c *Client) WaitStatus(ctx context.Context, id MessageID, st Status) error {
	for {
		c.mu.Lock()
		ch := c.statusCh
		c.mu.Unlock()
		cur, err := c.Status(ctx, id)
		if err != nil {
			return err
		}
		if cur >= st && cur != StatusFailed {
			return nil
		}
		if cur == StatusFailed {
			return fmt.Errorf("message %s failed", id)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (now %s): %w", st, cur, ctx.Err())
		case <-c.done:
			return ErrClosed
		}
	}
}

// MarkRead tells `from` (and this user's other devices) that the user has
// read these messages: an end-to-end-encrypted ReadReceipt, sent silently
// (it gets no delivery receipt itself). Already-read ids are skipped.
func (c *Client) MarkRead(ctx context.Context, from string, ids ...MessageID) error {
	if err := protocol.ValidateHandle(from); err != nil {
		return err
	}
	// Group messages get receipts naming their group (group_recv.go
	// counts them per member), so ids are sent per conversation.
	byGroup := map[string][]MessageID{}
	var order []string
	for _, id := range ids {
		h, err := c.itemByID(ctx, from, id)
		if errors.Is(err, ErrUnknownMessage) {
			continue
		}
		if err != nil {
			return err
		}
		if !h.Outgoing && !h.Read && !h.Undecryptable && len(h.GroupEvent) == 0 {
			g := string(h.GroupId)
			if _, ok := byGroup[g]; !ok {
				order = append(order, g)
			}
			byGroup[g] = append(byGroup[g], id)
		}
	}
	for _, g := range order {
		if err := c.sendReadReceipts(ctx, from, []byte(g), byGroup[g]); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) sendReadReceipts(ctx context.Context, from string, groupID []byte, unread []MessageID) error {
	if len(groupID) == 0 {
		groupID = nil
	}
	for len(unread) > 0 {
		n := min(len(unread), maxReceiptIDs)
		chunk := unread[:n]
		unread = unread[n:]
		now := c.cfg.Now().UnixMilli()
		rr := &pb.ReadReceipt{ReadAtMs: now}
		for _, id := range chunk {
			rr.MessageIds = append(rr.MessageIds, append([]byte(nil), id[:]...))
		}
		rid, err := c.newMessageID()
		if err != nil {
			return err
		}
		content := &pb.Content{Body: &pb.Content_ReadReceipt{ReadReceipt: rr}, SentAtMs: now, SyncGroupId: groupID}
		err = c.sendContentOpts(ctx, from, rid, content, nil, sendOpts{silent: true, groupID: groupID})
		if groupID != nil && errors.Is(err, ErrNoSuchUser) {
			// The node files group receipts only between current members:
			// a member removed since still tells the sender, unfiled.
			err = c.sendContentOpts(ctx, from, rid, content, nil, sendOpts{silent: true})
		}
		if err != nil {
			return fmt.Errorf("read receipt to %s: %w", from, err)
		}
		c.cryptoMu.Lock()
		t := newTxn(c.st)
		err = c.markReadLocked(ctx, t, from, chunk)
		if err == nil {
			err = t.commit(ctx, c.st)
		}
		c.cryptoMu.Unlock()
		if err != nil {
			return fmt.Errorf("mark read: %w", err)
		}
	}
	return nil
}

// markReadLocked flags incoming messages from `from` as read.
func (c *Client) markReadLocked(ctx context.Context, t *txn, from string, ids []MessageID) error {
	for _, id := range ids {
		hk, err := t.Get(ctx, keyMessageID(from, id))
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if string(hk) == string(seenMarker) {
			continue
		}
		b, err := t.Get(ctx, hk)
		if err != nil {
			return err
		}
		h, err := decodeHistoryItem(b)
		if err != nil {
			return err
		}
		if h.Outgoing || h.Read {
			continue
		}
		h.Read = true
		t.Set(hk, mustMarshal(h))
	}
	return nil
}
