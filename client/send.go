package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/client/internal/localpb"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// Send encrypts text for every device of user `to` (and a copy for this
// user's other devices), stores it in history and returns once the node has
// stored it durably (the first tick). Follow the later ticks with Events
// or WaitStatus. If the connection ends, or the node does not answer in
// time (or ctx ends) after the message was stored, Send returns an error
// matching ErrSendPending: the message stays PENDING and goes again, under
// the same id, when the device is connected (outbox.go).
func (c *Client) Send(ctx context.Context, to, text string) (MessageID, error) {
	var id MessageID
	if err := protocol.ValidateHandle(to); err != nil {
		return id, err
	}
	if len(text) > MaxTextSize {
		return id, fmt.Errorf("%w: %d bytes, at most %d", ErrTextTooLong, len(text), MaxTextSize)
	}
	if !utf8.ValidString(text) {
		return id, errors.New("message text is not valid UTF-8")
	}
	a, _, err := c.account()
	if err != nil {
		return id, err
	}
	if to == a.User {
		return id, ErrSelf
	}
	if id, err = c.newMessageID(); err != nil {
		return id, err
	}
	now := c.cfg.Now().UnixMilli()
	content := &pb.Content{Body: &pb.Content_Text{Text: &pb.Text{Body: text}}, SentAtMs: now}
	item := &localpb.HistoryItem{
		MessageId: id[:], Peer: to, Outgoing: true, From: a.User, FromDevice: a.DeviceId,
		Text: text, SentAtMs: now, ReceivedAtMs: now, Status: localpb.Status_PENDING, StatusAtMs: now,
	}
	return id, c.sendContent(ctx, to, id, content, item, false)
}

func (c *Client) newMessageID() (MessageID, error) {
	var id MessageID
	if _, err := io.ReadFull(c.cfg.Rand, id[:]); err != nil {
		return id, fmt.Errorf("message id: %w", err)
	}
	return id, nil
}

// sendContent fans content out to every device of `to` and a sync copy to
// this user's other devices. item (nil for silent control messages) is
// stored as PENDING together with the ratchet state before anything leaves
// the device. A STALE_DEVICES refusal updates the device lists and retries
// once.
func (c *Client) sendContent(ctx context.Context, to string, id MessageID, content *pb.Content, item *localpb.HistoryItem, silent bool) error {
	return c.sendContentOpts(ctx, to, id, content, item, sendOpts{silent: silent})
}

// sendOpts are the Send flags beyond the content.
type sendOpts struct {
	silent    bool
	ephemeral bool   // typing: online devices only, answered with Ok
	groupID   []byte // pairwise content that belongs to a group
	resend    bool   // item is stored already (outbox.go)
}

func (c *Client) sendContentOpts(ctx context.Context, to string, id MessageID, content *pb.Content, item *localpb.HistoryItem, opts sendOpts) error {
	cn, err := c.current()
	if err != nil {
		return c.failItem(ctx, item, err)
	}
	a, identity, err := c.account()
	if err != nil {
		return err
	}
	sync := cloneContent(content)
	sync.SyncTo = to
	peerPlain, err := encodeContent(c.cfg.Rand, content)
	if err != nil {
		return err
	}
	syncPlain, err := encodeContent(c.cfg.Rand, sync)
	if err != nil {
		return err
	}
	stored := opts.resend                                // item is in history (failItem finds it by id)
	cts := map[protocol.Address]*pb.OutgoingCiphertext{} // reused across the retry
	for attempt := 0; ; attempt++ {
		peerDevs, err := c.devicesOf(ctx, cn, to, false)
		if err != nil {
			return c.failItem(ctx, item, err)
		}
		ownDevs, err := c.devicesOf(ctx, cn, a.User, false)
		if err != nil {
			return c.failItem(ctx, item, err)
		}
		ownDevs = slices.DeleteFunc(slices.Clone(ownDevs), func(d uint32) bool { return d == a.DeviceId })
		peerBundles, err := c.fetchMissingBundles(ctx, cn, to, peerDevs)
		if err != nil {
			return c.failItem(ctx, item, err)
		}
		ownBundles, err := c.fetchMissingBundles(ctx, cn, a.User, ownDevs)
		if err != nil {
			return c.failItem(ctx, item, err)
		}

		c.cryptoMu.Lock()
		t := newTxn(c.st)
		es := newE2EStore(t, identity, a.RegistrationId)
		err = func() error {
			for _, set := range []struct {
				user    string
				bundles []e2e.PreKeyBundle
			}{{to, peerBundles}, {a.User, ownBundles}} {
				for _, b := range set.bundles {
					addr := e2e.Address{Name: set.user, DeviceID: b.DeviceID}
					if err := e2e.ProcessPreKeyBundle(ctx, c.e2eConfig(), es.stores(), addr, b); err != nil {
						return fmt.Errorf("start session with %s: %w", addr, err)
					}
				}
			}
			for _, set := range []struct {
				user  string
				devs  []uint32
				plain []byte
			}{{to, peerDevs, peerPlain}, {a.User, ownDevs, syncPlain}} {
				for _, d := range set.devs {
					pa := protocol.Address{User: set.user, Device: d}
					if cts[pa] != nil {
						continue
					}
					ct, err := e2e.Encrypt(ctx, c.e2eConfig(), es.stores(), e2e.Address{Name: set.user, DeviceID: d}, set.plain)
					if err != nil {
						return fmt.Errorf("encrypt for %s: %w", pa, err)
					}
					cts[pa] = &pb.OutgoingCiphertext{User: set.user, DeviceId: d, Type: envelopeType(ct.Type), Body: ct.Body}
				}
			}
			if item != nil && !stored {
				hk := keyHistory(to, c.nextTSLocked())
				t.Set(hk, mustMarshal(item))
				t.Set(keyMessageID(a.User, id), hk)
				if err := keepOutgoingLocked(t, hk, id, content, to, nil); err != nil {
					return err
				}
				stored = true
			}
			return t.commit(ctx, c.st)
		}()
		c.cryptoMu.Unlock()
		if err != nil {
			return err
		}

		send := &pb.Send{MessageId: id[:], To: to, Silent: opts.silent || opts.ephemeral, ClientTimeMs: content.GetSentAtMs(),
			Ephemeral: opts.ephemeral, GroupId: opts.groupID}
		for _, d := range peerDevs {
			send.Ciphertexts = append(send.Ciphertexts, cts[protocol.Address{User: to, Device: d}])
		}
		for _, d := range ownDevs {
			send.Ciphertexts = append(send.Ciphertexts, cts[protocol.Address{User: a.User, Device: d}])
		}
		r, err := cn.request(ctx, &pb.ClientFrame{Body: &pb.ClientFrame_Send{Send: send}})
		var perr *protocol.Error
		if errors.As(err, &perr) && perr.Code == pb.ErrorCode_STALE_DEVICES && attempt < 2 {
			c.log.Info("device list changed, retrying", "to", to, "lists", len(perr.DeviceLists))
			if err := c.saveDeviceLists(ctx, perr.DeviceLists); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return c.failItem(ctx, item, userErr(to, err))
		}
		if opts.ephemeral && r.GetOk() != nil {
			return nil
		}
		ack := r.GetSendAck()
		if ack == nil || string(ack.GetMessageId()) != string(id[:]) {
			return fmt.Errorf("send: unexpected reply %T", r.GetBody())
		}
		if item != nil {
			if err := c.updateStatus(ctx, a.User, []MessageID{id}, StatusSent, ack.GetServerTimeMs(), ""); err != nil {
				return err
			}
		}
		return nil
	}
}

func cloneContent(c *pb.Content) *pb.Content {
	out := proto.Clone(c).(*pb.Content)
	out.Padding = nil
	return out
}

func envelopeType(t e2e.MessageType) pb.EnvelopeType {
	if t == e2e.PreKeyMessage {
		return pb.EnvelopeType_PREKEY_MESSAGE
	}
	return pb.EnvelopeType_CIPHERTEXT
}

// failItem settles a stored outgoing item after its send failed with
// cause, and returns the error for the caller. A transient failure leaves
// it PENDING in the outbox (outbox.go) and wraps cause in ErrSendPending;
// a refusal marks it FAILED and ends its outbox record. Silent sends and
// items never stored are left alone: cause comes back as it is.
func (c *Client) failItem(ctx context.Context, item *localpb.HistoryItem, cause error) error {
	if item == nil {
		return cause
	}
	a, _, err := c.account()
	if err != nil {
		return cause
	}
	id := MessageID(item.MessageId)
	c.cryptoMu.Lock()
	ev, kept, err := c.failItemLocked(ctx, a.User, id, cause)
	c.cryptoMu.Unlock()
	switch {
	case err != nil:
		c.log.Warn("marking message failed", "id", id, "err", err)
	case kept && !errors.Is(cause, ErrNotConnected):
		// Still connected but unanswered: try again now rather than at
		// the next connect.
		c.kickOutbox()
	case ev != nil:
		c.emitStatus([]StatusChange{*ev})
	}
	if kept {
		return fmt.Errorf("%w: %w", ErrSendPending, cause)
	}
	return cause
}

// failItemLocked marks our message id FAILED, unless it is past PENDING
// or never stored; a transient cause leaves a PENDING item as it is
// (kept). Caller holds cryptoMu.
func (c *Client) failItemLocked(ctx context.Context, user string, id MessageID, cause error) (ev *StatusChange, kept bool, err error) {
	t := newTxn(c.st)
	hk, err := t.Get(ctx, keyMessageID(user, id))
	if err != nil {
		return nil, false, nil // never stored: nothing to mark
	}
	b, err := t.Get(ctx, hk)
	if err != nil {
		return nil, false, nil
	}
	h, err := decodeHistoryItem(b)
	if err != nil || h.Status >= localpb.Status_SENT {
		return nil, false, nil
	}
	if transient(cause) {
		return nil, h.Status == localpb.Status_PENDING, nil
	}
	h.Status, h.StatusAtMs, h.Error = localpb.Status_FAILED, c.cfg.Now().UnixMilli(), cause.Error()
	t.Set(hk, mustMarshal(h))
	t.Delete(keyOutbox(hk))
	if err := t.commit(ctx, c.st); err != nil {
		return nil, false, err
	}
	return &StatusChange{ID: id, Peer: h.Peer, Status: StatusFailed, At: msTime(h.StatusAtMs)}, false, nil
}
