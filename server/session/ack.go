package session

import (
	"context"
	"fmt"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

const (
	// maxAckSeqs bounds one DeliveryAck; a well-behaved device never has
	// more than the delivery window outstanding.
	maxAckSeqs = 4096
	// maxReceiptIDs keeps one receipt's Deliver frame far below
	// protocol.MaxFrameSize (18 bytes per id).
	maxReceiptIDs = 1024
)

// handleDeliveryAck deletes acknowledged entries and, in the same atomic
// store batch, queues for every envelope that existed and was not silent a
// DELIVERED receipt to all devices of its sender (one receipt per sender per
// ack). Receipts get no receipts. One atomic batch means no crash can keep
// the deletion and lose the receipt; the batch does not wait for a sync of
// its own (store/pebble/doc.go, sync policy): a crash before the next sync
// brings the entries back, and their second ack makes the receipts again.
func handleDeliveryAck(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	seqs := f.GetDeliveryAck().Seqs
	if len(seqs) == 0 {
		return nil
	}
	if len(seqs) > maxAckSeqs {
		return bye(pb.ErrorCode_BAD_FRAME, fmt.Sprintf("more than %d seqs in one ack", maxAckSeqs))
	}
	var made []*store.Entry
	_, err := s.env.Store.AckAndEnqueue(ctx, s.addr, seqs, func(rctx context.Context, acked []store.Entry) []*store.Entry {
		made = s.receipts(rctx, acked)
		return made
	})
	if err != nil {
		return fmt.Errorf("ack for %s: %w", s.addr, err)
	}
	s.acked(seqs)
	s.handOver(made) // AckAndEnqueue set their Seqs (fresh.go)
	return nil
}

// receipts builds the DELIVERED receipts for acknowledged entries and the
// devices they go to. It runs on the store's writer (AckAndEnqueue), so it
// only reads the store and never fails: an entry it cannot decode, or a
// sender whose account is gone, simply gets no receipt.
func (s *Session) receipts(ctx context.Context, acked []store.Entry) []*store.Entry {
	var senders senderIDs
	for i := range acked {
		e, err := receiptFactsOf(acked[i].Payload) // payload.go
		if err != nil {
			s.env.Logger.Error("undecodable queue entry", "device", s.addr.String(), "seq", acked[i].Seq, "err", err)
			continue
		}
		// Copies of one's own sends to one's other devices are not
		// deliveries to the recipient, so they make no receipt.
		if !e.wants(s.addr.User) {
			continue
		}
		senders.add(e.from, e.messageID)
	}
	if len(senders.list) == 0 {
		return nil
	}
	now := s.env.Now()
	expires := now.Add(s.env.QueueTTL)
	var entries []*store.Entry
	for _, sender := range senders.list {
		dl, err := deviceList(ctx, s.env.Store, sender.user)
		if err != nil {
			continue // the sender's account is gone: nobody to tell
		}
		all := sender.ids
		for len(all) > 0 {
			n := min(len(all), maxReceiptIDs)
			p, err := receiptPayload(&pb.Receipt{ // payload.go; stays on the stack
				Type:         pb.ReceiptType_DELIVERED,
				From:         s.addr.User,
				FromDevice:   s.addr.Device,
				MessageIds:   all[:n],
				ServerTimeMs: now.UnixMilli(),
			})
			if err != nil {
				s.env.Logger.Error("receipt payload", "device", s.addr.String(), "err", err)
				break
			}
			all = all[n:]
			block := make([]store.Entry, len(dl.DeviceIds)) // one allocation per receipt
			for i, d := range dl.DeviceIds {
				block[i] = store.Entry{Device: protocol.Address{User: sender.user, Device: d}, Payload: p, Expires: expires}
				entries = append(entries, &block[i])
			}
		}
	}
	return entries
}

// senderIDs groups acknowledged message ids by sender, in order of first
// appearance. An ack nearly always names one or two senders, so a linear
// scan replaces a map built per ack; the map comes in only past
// senderScanMax senders, where the scan would grow quadratic.
type senderIDs struct {
	list  []senderEntry
	index map[string]int // into list; nil until len(list) > senderScanMax
}

type senderEntry struct {
	user string
	ids  [][]byte
}

const senderScanMax = 8

func (g *senderIDs) add(user string, id []byte) {
	i := -1
	if g.index != nil {
		if j, ok := g.index[user]; ok {
			i = j
		}
	} else {
		for j := range g.list {
			if g.list[j].user == user {
				i = j
				break
			}
		}
	}
	if i < 0 {
		i = len(g.list)
		g.list = append(g.list, senderEntry{user: user})
		switch {
		case g.index != nil:
			g.index[user] = i
		case len(g.list) > senderScanMax:
			g.index = make(map[string]int, 2*len(g.list))
			for j := range g.list {
				g.index[g.list[j].user] = j
			}
		}
	}
	g.list[i].ids = append(g.list[i].ids, id)
}
