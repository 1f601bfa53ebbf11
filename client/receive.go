package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// maxReceiveBatch bounds how many deliveries share one storage batch and
// one DeliveryAck.
const maxReceiveBatch = 64

// seenMarker is the mid/ value of a message that has no history item
// (receipts, typing, undecryptable silent messages).
var seenMarker = []byte("-")

// receiveLoop processes deliveries in queue order: decrypt, store (history,
// sessions, seen-set) in one batch, then acknowledge.
func (c *Client) receiveLoop(cn *conn) {
	for {
		var first *pb.ServerFrame
		select {
		case <-cn.closed:
			return
		case first = <-cn.inbound:
		}
		batch := []*pb.ServerFrame{first}
	more:
		for len(batch) < maxReceiveBatch && first.GetDeliver() != nil {
			select {
			case f := <-cn.inbound:
				batch = append(batch, f)
				if f.GetDeliver() == nil {
					break more
				}
			default:
				break more
			}
		}
		if err := c.processBatch(cn, batch); err != nil {
			c.log.Error("receive failed; dropping the connection so the node redelivers", "err", err)
			cn.close(fmt.Errorf("receive: %w", err))
			return
		}
	}
}

func (c *Client) processBatch(cn *conn, batch []*pb.ServerFrame) error {
	ctx := context.Background()
	a, identity, err := c.account()
	if err != nil {
		return err
	}
	var (
		seqs     []uint64
		events   []Event
		statuses []StatusChange
		drained  *pb.QueueDrained
	)
	c.cryptoMu.Lock()
	t := newTxn(c.st)
	for _, f := range batch {
		if q := f.GetQueueDrained(); q != nil {
			drained = q
			continue
		}
		d := f.GetDeliver()
		if d.GetSeq() != 0 { // 0: ephemeral (typing), never stored, never acknowledged
			seqs = append(seqs, d.GetSeq())
		}
		switch e := d.GetEntry().(type) {
		case *pb.Deliver_Envelope:
			evs, sts, err := c.handleEnvelopeLocked(ctx, t, a, identity, e.Envelope)
			if err != nil {
				c.cryptoMu.Unlock()
				return err
			}
			events = append(events, evs...)
			statuses = append(statuses, sts...)
		case *pb.Deliver_GroupEvent:
			evs, err := c.handleGroupEventLocked(ctx, t, a, e.GroupEvent) // group_recv.go
			if err != nil {
				c.cryptoMu.Unlock()
				return err
			}
			events = append(events, evs...)
		case *pb.Deliver_Receipt:
			r := e.Receipt
			if r.GetType() != pb.ReceiptType_DELIVERED || len(r.GetMessageIds()) > 4*maxReceiptIDs {
				continue
			}
			// Group messages count every member device, own ones included.
			ids, sts, err := c.groupDeliveredLocked(ctx, t, a.User, r)
			if err != nil {
				c.cryptoMu.Unlock()
				return err
			}
			statuses = append(statuses, sts...)
			if r.GetFrom() == a.User || len(ids) == 0 {
				continue
			}
			sts, err = c.applyStatusLocked(ctx, t, a.User, ids, StatusDelivered, r.GetServerTimeMs(), r.GetFrom())
			if err != nil {
				c.cryptoMu.Unlock()
				return err
			}
			statuses = append(statuses, sts...)
		default:
			c.log.Warn("unknown queue entry; acknowledging it", "seq", d.GetSeq())
		}
	}
	err = t.commit(ctx, c.st)
	c.cryptoMu.Unlock()
	if err != nil {
		return err
	}
	if h := c.testHookBeforeAck.Load(); h != nil && len(seqs) > 0 {
		if err := (*h)(); err != nil {
			return err
		}
	}
	// Acknowledge before the application sees anything: an app that stops
	// right after an event (recv --count 1) must not leave the node without
	// the ack, or the sender's second tick would wait for the next connect.
	acked := true
	if len(seqs) > 0 {
		if err := cn.send(&pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: seqs}}}); err != nil {
			acked = false // the connection is gone; the node redelivers and the seen-set drops
		}
	}
	for _, ev := range events {
		c.emit(ev)
	}
	c.emitStatus(statuses)
	if !acked {
		return nil
	}
	if drained != nil {
		c.emit(QueueDrained{Count: int(drained.GetDelivered())})
	}
	return nil
}

func parseIDs(bs [][]byte) []MessageID {
	out := make([]MessageID, 0, len(bs))
	for _, b := range bs {
		if len(b) == protocol.MessageIDSize {
			out = append(out, MessageID(b))
		}
	}
	return out
}

// handleEnvelopeLocked decrypts one envelope into t. Only storage failures
// are returned as errors: anything wrong with the envelope itself is
// recorded and acknowledged so a bad entry cannot block the queue.
func (c *Client) handleEnvelopeLocked(ctx context.Context, t *txn, a *localpb.Account, identity e2e.IdentityKeyPair, env *pb.Envelope) ([]Event, []StatusChange, error) {
	from, dev := env.GetFrom(), env.GetFromDevice()
	if protocol.ValidateHandle(from) != nil || dev == 0 || len(env.GetMessageId()) != protocol.MessageIDSize {
		c.log.Warn("dropping malformed envelope", "from", from, "device", dev)
		return nil, nil, nil
	}
	id := MessageID(env.GetMessageId())
	seenKey := keyMessageID(from, id)
	if seen, err := t.has(ctx, seenKey); err != nil || seen {
		if seen {
			c.log.Debug("dropping duplicate", "from", from, "id", id)
		}
		return nil, nil, err
	}
	if env.GetType() == pb.EnvelopeType_SENDER_KEY {
		evs, err := c.handleGroupEnvelopeLocked(ctx, t, a, identity, env, seenKey) // group_recv.go
		return evs, nil, err
	}
	now := c.cfg.Now().UnixMilli()
	fail := func(cause error) ([]Event, []StatusChange, error) {
		c.log.Warn("could not decrypt", "from", from, "device", dev, "id", id, "err", cause)
		if env.GetSilent() {
			t.Set(seenKey, seenMarker)
			return nil, nil, nil
		}
		h := &localpb.HistoryItem{
			MessageId: id[:], Peer: from, From: from, FromDevice: dev, ReceivedAtMs: now,
			ServerTimeMs: env.GetServerTimeMs(), Undecryptable: true, Error: cause.Error(),
		}
		if from == a.User {
			if protocol.ValidateHandle(env.GetTo()) != nil || env.GetTo() == a.User {
				t.Set(seenKey, seenMarker)
				return nil, nil, nil
			}
			h.Peer, h.Outgoing = env.GetTo(), true
		}
		return []Event{c.storeItemLocked(t, h, seenKey)}, nil, nil
	}
	var typ e2e.MessageType
	switch env.GetType() {
	case pb.EnvelopeType_CIPHERTEXT:
		typ = e2e.WhisperMessage
	case pb.EnvelopeType_PREKEY_MESSAGE:
		typ = e2e.PreKeyMessage
	default:
		return fail(fmt.Errorf("envelope type %v not supported", env.GetType()))
	}
	if len(env.GetBody()) > protocol.MaxCiphertextSize {
		return fail(fmt.Errorf("ciphertext of %d bytes: too large", len(env.GetBody())))
	}
	child := t.child()
	es := newE2EStore(child, identity, a.RegistrationId)
	plain, err := e2e.Decrypt(ctx, c.e2eConfig(), es.stores(), e2e.Address{Name: from, DeviceID: dev}, e2e.Ciphertext{Type: typ, Body: env.GetBody()})
	if errors.Is(err, e2e.ErrDuplicateMessage) {
		c.log.Debug("dropping replayed ciphertext", "from", from, "id", id)
		return nil, nil, nil
	}
	if err != nil {
		if errors.Is(err, storage.ErrClosed) {
			return nil, nil, err
		}
		return fail(err)
	}
	t.merge(child)
	var events []Event
	for _, ad := range es.changed {
		events = append(events, IdentityChanged{User: ad.Name, Device: ad.DeviceID})
	}
	content, err := decodeContent(plain)
	if err != nil {
		evs, _, _ := fail(err)
		return append(events, evs...), nil, nil
	}
	switch body := content.GetBody().(type) {
	case *pb.Content_Text:
		h := &localpb.HistoryItem{
			MessageId: id[:], Peer: from, From: from, FromDevice: dev, Text: body.Text.GetBody(),
			SentAtMs: content.GetSentAtMs(), ReceivedAtMs: now, ServerTimeMs: env.GetServerTimeMs(),
		}
		if from == a.User {
			// A copy of what we sent from another device.
			if content.GetSyncTo() == "" || content.GetSyncTo() == a.User {
				t.Set(seenKey, seenMarker)
				return events, nil, nil
			}
			h.Peer, h.Outgoing = content.GetSyncTo(), true
			h.Status, h.StatusAtMs = localpb.Status_SENT, env.GetServerTimeMs()
		}
		return append(events, c.storeItemLocked(t, h, seenKey)), nil, nil
	case *pb.Content_Attachment:
		return c.handleAttachmentLocked(t, a, env, content, seenKey, events) // media.go
	case *pb.Content_SenderKeyDistribution:
		t.Set(seenKey, seenMarker)
		c.handleSenderKeyLocked(ctx, t, newE2EStore(t, identity, a.RegistrationId), from, dev, body.SenderKeyDistribution)
		return events, nil, nil
	case *pb.Content_Typing:
		if from != a.User {
			events = append(events, Typing{User: from, Device: dev, Composing: body.Typing.GetComposing(), At: msTime(env.GetServerTimeMs())})
		}
		if !env.GetEphemeral() {
			t.Set(seenKey, seenMarker)
		}
		return events, nil, nil
	case *pb.Content_ReadReceipt:
		t.Set(seenKey, seenMarker)
		ids := parseIDs(body.ReadReceipt.GetMessageIds())
		if from != a.User {
			// Group messages are read when every member has read them.
			var gsts []StatusChange
			var err error
			ids, gsts, err = c.groupReadLocked(ctx, t, a.User, from, ids, env.GetServerTimeMs())
			if err != nil || len(ids) == 0 {
				return events, gsts, err
			}
			sts, err := c.applyStatusLocked(ctx, t, a.User, ids, StatusRead, env.GetServerTimeMs(), from)
			return events, append(gsts, sts...), err
		}
		if from == a.User {
			if content.GetSyncTo() != "" {
				return events, nil, c.markReadLocked(ctx, t, content.GetSyncTo(), ids)
			}
			return events, nil, nil
		}
		sts, err := c.applyStatusLocked(ctx, t, a.User, ids, StatusRead, env.GetServerTimeMs(), from)
		return events, sts, err
	default:
		// Typing and bodies from newer versions: nothing to store.
		t.Set(seenKey, seenMarker)
		return events, nil, nil
	}
}

// storeItemLocked buffers a new history item, its seen-set/index entry and
// an inbox entry, and returns the Message event.
func (c *Client) storeItemLocked(t *txn, h *localpb.HistoryItem, seenKey []byte) Event {
	ts := c.nextTSLocked()
	hk := keyHistory(h.Peer, ts)
	t.Set(hk, mustMarshal(h))
	t.Set(seenKey, hk)
	ik := keyInbox(ts)
	t.Set(ik, hk)
	m := messageFromRecord(h)
	m.inboxKey = ik
	return m
}
