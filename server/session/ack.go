package session

import (
	"context"
	"fmt"
	"slices"
	"sync"

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

// handleDeliveryAck hands the acknowledged seqs to the session's ack
// worker and returns: the reader goes on to the device's next frame (often
// a Send) instead of waiting for the store, and acks that arrive while one
// is being applied are applied together.
func handleDeliveryAck(ctx context.Context, s *Session, f *pb.ClientFrame) error {
	seqs := f.GetDeliveryAck().Seqs
	if len(seqs) == 0 {
		return nil
	}
	if len(seqs) > maxAckSeqs {
		return bye(pb.ErrorCode_BAD_FRAME, fmt.Sprintf("more than %d seqs in one ack", maxAckSeqs))
	}
	return s.queueAck(seqs)
}

// maxPendingAckSeqs bounds the seqs read and not yet applied; beyond it
// the reader waits for the ack worker (back-pressure on that device only).
const maxPendingAckSeqs = 2 * maxAckSeqs

// ackQueue is the ack worker's work: it exists only while acks are
// pending, so an idle session pays one nil pointer for it.
type ackQueue struct {
	seqs []uint64
	room chan struct{} // non-nil while the reader waits for room; closed to wake it
}

// queueAck adds seqs for the ack worker, starting it if needed.
func (s *Session) queueAck(seqs []uint64) error {
	for {
		s.mu.Lock()
		if s.aq == nil {
			s.aq = &ackQueue{seqs: append(make([]uint64, 0, len(seqs)), seqs...)}
			wg := s.workersLocked()
			s.mu.Unlock()
			s.env.Tasks.Go(func() { s.ackWorker(wg) })
			return nil
		}
		q := s.aq
		if len(q.seqs)+len(seqs) <= maxPendingAckSeqs {
			q.seqs = append(q.seqs, seqs...)
			s.mu.Unlock()
			return nil
		}
		if q.room == nil {
			q.room = make(chan struct{})
		}
		ch := q.room
		s.mu.Unlock()
		<-ch
	}
}

// ackWorker applies pending acks, all that are waiting (up to maxAckSeqs)
// in one store call, until none are left. It runs on after the session
// closed: an ack the device sent is worth applying, or its entries come
// back on the next connection.
func (s *Session) ackWorker(wg *sync.WaitGroup) {
	defer wg.Done()
	defer s.recoverPanic("ack")
	for {
		s.mu.Lock()
		q := s.aq
		if len(q.seqs) == 0 {
			s.aq = nil
			s.mu.Unlock()
			return
		}
		n := min(len(q.seqs), maxAckSeqs)
		seqs := slices.Clone(q.seqs[:n])
		q.seqs = slices.Delete(q.seqs, 0, n)
		if q.room != nil {
			close(q.room)
			q.room = nil
		}
		s.mu.Unlock()
		if err := s.applyAck(seqs); err != nil {
			// The entries stay queued and come back on the next
			// connection; this one cannot go on with a window that
			// never frees.
			s.env.Logger.Error("delivery ack failed", "device", s.addr.String(), "err", err)
			s.closeConn()
		}
	}
}

// applyAck deletes acknowledged entries and, in the same atomic store
// batch, queues for every envelope that existed and was not silent a
// DELIVERED receipt to all devices of its sender (one receipt per sender
// per ack). Receipts get no receipts. One atomic batch means no crash can
// keep the deletion and lose the receipt; the batch does not wait for a
// sync of its own (store/pebble/doc.go, sync policy): a crash before the
// next sync brings the entries back, and their second ack makes the
// receipts again.
func (s *Session) applyAck(seqs []uint64) error {
	var made []*store.Entry
	_, err := s.env.Store.AckAndEnqueue(context.Background(), s.addr, seqs, func(rctx context.Context, acked []store.Entry) []*store.Entry {
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
