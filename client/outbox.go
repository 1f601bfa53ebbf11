package client

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/protocol/pb"
)

// The outbox holds every message this device stored PENDING whose send did
// not end in a first tick or a refusal: the connection dropped, the node
// restarted, the reply did not come in time. Each such message goes again,
// under the same message id, every time the device connects, until the
// node acknowledges it (✓) or refuses it (FAILED). A message the node had
// already queued before the drop arrives twice, and the recipient's
// seen-set drops the second copy before decrypting it, so a resend can
// never show a message twice; it re-encrypts rather than replaying the old
// ciphertext, so the recipients' current device lists are honoured.
//
//	out/<16 hex digits of the history key>   localpb.Outgoing

var prefixOutbox = []byte("out/")

// keyOutbox is the outbox key of the message stored under history key hk.
// Both history layouts (h/<peer>/<ts>, hg/<group>/<ts>) end in the item's
// unique timestamp, which also orders the outbox by first send.
func keyOutbox(hk []byte) []byte {
	return append(append([]byte(nil), prefixOutbox...), hk[max(0, len(hk)-16):]...)
}

// maxOutboxRecord bounds one stored Outgoing: a history item's bound, which
// the message's text or caption and attachment pointer also fit.
const maxOutboxRecord = maxHistoryRecord

// outboxPass bounds how many messages one pass loads at once.
const outboxPass = 128

// keepOutgoingLocked records, in the batch that stores the PENDING item,
// what resending it takes. content must be unpadded (padding is added per
// encryption).
func keepOutgoingLocked(t *txn, hk []byte, id MessageID, content *pb.Content, to string, groupID []byte) error {
	b, err := proto.Marshal(content)
	if err != nil {
		return fmt.Errorf("outbox record: %w", err)
	}
	t.Set(keyOutbox(hk), mustMarshal(&localpb.Outgoing{
		HistoryKey: hk, MessageId: id[:], Content: b, To: to, GroupId: groupID,
	}))
	return nil
}

// transient reports whether a send may still succeed by sending again:
// the connection ended, the answer did not come (the node may or may not
// hold the message), or this Client was closed meanwhile. A refusal by the
// node is not transient.
func transient(err error) bool {
	return errors.Is(err, ErrNotConnected) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) || errors.Is(err, ErrClosed)
}

// kickOutbox starts a resend pass, or asks the running one for another.
func (c *Client) kickOutbox() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.outboxBusy {
		c.outboxMore = true
		c.mu.Unlock()
		return
	}
	c.outboxBusy, c.outboxMore = true, false
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		for {
			if err := c.resendOutbox(ctx); err != nil && !transient(err) {
				c.log.Warn("resending pending messages", "err", err)
			}
			c.mu.Lock()
			if !c.outboxMore || c.closed {
				c.outboxBusy = false
				c.mu.Unlock()
				return
			}
			c.outboxMore = false
			c.mu.Unlock()
		}
	}()
}

// resendOutbox sends every outbox message again, oldest first, and stops
// at the first transient failure: the next connection starts over.
func (c *Client) resendOutbox(ctx context.Context) error {
	var after []byte
	for {
		var recs []*localpb.Outgoing
		var keys, corrupt [][]byte
		// Nothing is written during the scan: a Storage need not allow it.
		err := c.st.Scan(ctx, prefixOutbox, false, func(k, v []byte) error {
			if after != nil && string(k) <= string(after) {
				return nil
			}
			k = append([]byte(nil), k...)
			var o localpb.Outgoing
			if err := unmarshalBounded(v, maxOutboxRecord, &o, "outbox record"); err != nil ||
				len(o.MessageId) != len(MessageID{}) || (len(o.GroupId) != 0 && len(o.GroupId) != GroupIDSize) {
				c.log.Warn("dropping a corrupt outbox record", "key", string(k), "err", err)
				corrupt = append(corrupt, k)
				return nil
			}
			recs, keys = append(recs, &o), append(keys, k)
			if len(recs) == outboxPass {
				return storage.ErrStop
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		for _, k := range corrupt {
			c.dropOutgoing(ctx, k)
		}
		for i, o := range recs {
			if err := c.resendOne(ctx, keys[i], o); err != nil && transient(err) {
				return err
			}
		}
		if len(recs) < outboxPass {
			return nil
		}
		after = keys[len(keys)-1]
	}
}

// resendOne sends one outbox message again. Success and refusal both end
// its outbox record (updateStatus and failItem remove it).
func (c *Client) resendOne(ctx context.Context, key []byte, o *localpb.Outgoing) error {
	b, err := c.st.Get(ctx, o.HistoryKey)
	if errors.Is(err, storage.ErrNotFound) {
		c.dropOutgoing(ctx, key) // the item is gone (history cleared)
		return nil
	}
	if err != nil {
		return fmt.Errorf("outbox: %w", err)
	}
	item, err := decodeHistoryItem(b)
	if err != nil || item.Status != localpb.Status_PENDING {
		c.dropOutgoing(ctx, key) // already ticked or refused
		return nil
	}
	var content pb.Content
	if err := proto.Unmarshal(o.Content, &content); err != nil {
		c.dropOutgoing(ctx, key)
		return c.failItem(ctx, item, fmt.Errorf("outbox record: %w: %w", ErrBadRecord, err))
	}
	id := MessageID(o.MessageId)
	c.log.Info("sending a pending message again", "id", id)
	if len(o.GroupId) == 0 {
		return c.sendContentOpts(ctx, o.To, id, &content, item, sendOpts{resend: true})
	}
	cn, err := c.current()
	if err != nil {
		return err
	}
	g, err := c.findGroup(ctx, GroupID(o.GroupId).String())
	if err == nil && g.Left {
		err = fmt.Errorf("%q: %w", g.Name, ErrNotMember)
	}
	if err != nil {
		return c.failItem(ctx, item, err)
	}
	return c.sendGroupContent(ctx, cn, g, id, &content, item, true)
}

// dropOutgoing deletes one outbox record outside any other batch.
func (c *Client) dropOutgoing(ctx context.Context, key []byte) {
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	t := newTxn(c.st)
	t.Delete(key)
	if err := t.commit(ctx, c.st); err != nil {
		c.log.Warn("dropping an outbox record", "err", err)
	}
}
