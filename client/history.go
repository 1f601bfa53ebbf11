package client

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/e2e"
	"github.com/parley-im/parley/protocol"
)

// History returns the last limit messages (limit <= 0: all) of the
// conversation with peer, both directions, oldest first.
func (c *Client) History(ctx context.Context, peer string, limit int) ([]HistoryItem, error) {
	if err := protocol.ValidateHandle(peer); err != nil {
		return nil, err
	}
	var out []HistoryItem
	err := c.st.Scan(ctx, prefixHistory(peer), true, func(_, v []byte) error {
		h, err := decodeHistoryItem(v)
		if err != nil {
			return err
		}
		out = append(out, historyFromRecord(h))
		if limit > 0 && len(out) >= limit {
			return storage.ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history with %s: %w", peer, err)
	}
	slices.Reverse(out)
	return out, nil
}

// Inbox returns received messages (all conversations) that the application
// has not yet marked shown, oldest first. Messages a previous process
// received and stored, but never showed, are here: nothing is lost between
// runs of a command-line tool.
func (c *Client) Inbox(ctx context.Context) ([]Message, error) {
	var out []Message
	err := c.st.Scan(ctx, prefixInbox, false, func(k, hk []byte) error {
		b, err := c.st.Get(ctx, hk)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		h, err := decodeHistoryItem(b)
		if err != nil {
			return err
		}
		m := messageFromRecord(h)
		m.inboxKey = append([]byte(nil), k...)
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inbox: %w", err)
	}
	return out, nil
}

// MarkShown removes messages from the Inbox (after the application showed
// them). It is local only; MarkRead tells the sender.
func (c *Client) MarkShown(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	want := map[string]bool{}
	t := newTxn(c.st)
	for _, m := range msgs {
		if m.inboxKey != nil {
			t.Delete(m.inboxKey) // the common case: no scan
			continue
		}
		want[m.From+"/"+m.ID.String()] = true
	}
	c.cryptoMu.Lock()
	defer c.cryptoMu.Unlock()
	if len(want) == 0 {
		return t.commit(ctx, c.st)
	}
	err := c.st.Scan(ctx, prefixInbox, false, func(k, hk []byte) error {
		b, err := c.st.Get(ctx, hk)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				t.Delete(k)
				return nil
			}
			return err
		}
		h, err := decodeHistoryItem(b)
		if err != nil {
			t.Delete(k) // a corrupt item must not stick in the inbox forever
			return nil
		}
		var id MessageID
		copy(id[:], h.MessageId)
		if want[h.From+"/"+id.String()] {
			t.Delete(k)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	return t.commit(ctx, c.st)
}

// SafetyNumber returns the fingerprint of this user's identity and peer's
// (their primary device's) identity. When no key of peer is known yet, it
// fetches a bundle and starts the session the next message will use.
func (c *Client) SafetyNumber(ctx context.Context, peer string) (e2e.Fingerprint, error) {
	if err := protocol.ValidateHandle(peer); err != nil {
		return e2e.Fingerprint{}, err
	}
	a, identity, err := c.account()
	if err != nil {
		return e2e.Fingerprint{}, err
	}
	key, err := c.peerIdentity(ctx, peer)
	if err != nil {
		return e2e.Fingerprint{}, err
	}
	if key == nil {
		cn, err := c.current()
		if err != nil {
			return e2e.Fingerprint{}, fmt.Errorf("no key of %s known yet and %w", peer, err)
		}
		devs, err := c.devicesOf(ctx, cn, peer, false)
		if err != nil {
			return e2e.Fingerprint{}, err
		}
		bundles, err := c.fetchMissingBundles(ctx, cn, peer, devs[:1])
		if err != nil {
			return e2e.Fingerprint{}, err
		}
		c.cryptoMu.Lock()
		t := newTxn(c.st)
		es := newE2EStore(t, identity, a.RegistrationId)
		for _, b := range bundles {
			if err = e2e.ProcessPreKeyBundle(ctx, c.e2eConfig(), es.stores(), e2e.Address{Name: peer, DeviceID: b.DeviceID}, b); err != nil {
				break
			}
		}
		if err == nil {
			err = t.commit(ctx, c.st)
		}
		c.cryptoMu.Unlock()
		if err != nil {
			return e2e.Fingerprint{}, fmt.Errorf("start session with %s: %w", peer, err)
		}
		if key, err = c.peerIdentity(ctx, peer); err != nil {
			return e2e.Fingerprint{}, err
		}
		if key == nil {
			return e2e.Fingerprint{}, fmt.Errorf("%s: no identity key from the node", peer)
		}
	}
	return e2e.NewFingerprint([]byte(a.User), identity.Public, []byte(peer), *key), nil
}

// peerIdentity returns the identity key of peer's lowest-numbered device
// this device knows, or nil.
func (c *Client) peerIdentity(ctx context.Context, peer string) (*e2e.PublicKey, error) {
	var key *e2e.PublicKey
	var best uint64
	prefix := []byte("e2e/id/" + peer + "/")
	err := c.st.Scan(ctx, prefix, false, func(k, v []byte) error {
		var dev uint64
		if _, err := fmt.Sscanf(string(k[len(prefix):]), "%d", &dev); err != nil {
			return nil
		}
		if key != nil && dev >= best {
			return nil
		}
		pk, err := e2e.ParsePublicKey(v)
		if err != nil {
			return fmt.Errorf("identity of %s.%d: %w: %w", peer, dev, ErrBadRecord, err)
		}
		key, best = &pk, dev
		return nil
	})
	return key, err
}
