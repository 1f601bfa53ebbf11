package session

import (
	"context"
	"slices"
	"sync"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

// maxInflightSends bounds the Sends of one session whose durable enqueue
// has been handed to the store but not yet answered. Beyond it the reader
// stops reading (back-pressure on that device only).
const maxInflightSends = 32

// inflightSend is a Send whose entries are on their way to disk.
type inflightSend struct {
	id        uint64
	messageID []byte
	nowMS     int64
	pending   store.Pending
	entries   []*store.Entry // what pending writes; their Seqs are set once it is done
	handed    bool           // the store hands entries over when visible (fresh.go)
}

// sendQueue is the acker's work: it exists only while Sends are in flight,
// so an idle session pays one nil pointer for it.
type sendQueue struct {
	sends []*inflightSend // handed to the store, not yet answered; in store order
	room  chan struct{}   // non-nil while the reader waits for a free slot; closed to wake it
}

// waitSendRoom blocks the reader while maxInflightSends are in flight. The
// acker always makes progress (every pending write ends within a sync), so
// this cannot wait forever.
func (s *Session) waitSendRoom() error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return errClosed
		}
		q := s.sq
		if q == nil || len(q.sends) < maxInflightSends {
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

// enqueueSend hands a Send's entries to the store without waiting for the
// sync and queues the Send for the acker, which answers it once durable.
// Small fan-outs are handed to their devices by the store the moment they
// are visible (fresh.go), the rest by the acker. Only the reader calls it.
func (s *Session) enqueueSend(ctx context.Context, id uint64, messageID []byte, nowMS int64, entries []*store.Entry) error {
	if err := s.waitSendRoom(); err != nil {
		return err
	}
	onVisible := s.handOverOnVisible(entries) // fresh.go
	p := s.env.Store.EnqueueAsync(ctx, entries, onVisible)
	s.addSend(&inflightSend{id: id, messageID: messageID, nowMS: nowMS, pending: p, entries: entries, handed: onVisible != nil})
	return nil
}

// addSend queues an in-flight Send for the acker, starting it if needed.
// Only the reader calls it, so no acker can start after finish began.
func (s *Session) addSend(in *inflightSend) {
	s.mu.Lock()
	if s.sq != nil {
		s.sq.sends = append(s.sq.sends, in)
		s.mu.Unlock()
		return
	}
	s.sq = &sendQueue{sends: []*inflightSend{in}}
	wg := s.workersLocked()
	s.mu.Unlock()
	go s.ackSends(wg)
}

// workersLocked returns the WaitGroup finish waits on, counting one more
// worker. mu must be held.
func (s *Session) workersLocked() *sync.WaitGroup {
	if s.workers == nil {
		s.workers = new(sync.WaitGroup)
	}
	s.workers.Add(1)
	return s.workers
}

// ackSends answers in-flight Sends in the order they were handed to the
// store (which is the order the store completes them), writing every answer
// that is ready in one WriteFrames call, then hands to their devices'
// sessions the entries the store did not hand over when they became
// visible (big fan-outs, fresh.go). It exits when nothing is in flight.
func (s *Session) ackSends(wg *sync.WaitGroup) {
	defer wg.Done()
	defer s.recoverPanic("send")
	var (
		batch  []*inflightSend
		frames [][]byte
		fresh  []*store.Entry
	)
	for {
		s.mu.Lock()
		q := s.sq
		if len(q.sends) == 0 {
			s.sq = nil // an idle session keeps nothing of it
			s.mu.Unlock()
			return
		}
		head := q.sends[0]
		s.mu.Unlock()
		<-head.pending.Done()

		s.mu.Lock()
		n := 1
		for n < len(q.sends) && isDone(q.sends[n].pending) {
			n++
		}
		batch = append(batch[:0], q.sends[:n]...)
		q.sends = slices.Delete(q.sends, 0, n)
		closed := s.closed
		s.mu.Unlock()

		frames, fresh = frames[:0], fresh[:0]
		for _, in := range batch {
			f := &pb.ServerFrame{ReplyTo: in.id}
			if err := in.pending.Wait(); err != nil {
				s.env.Logger.Error("request failed", "device", s.addr.String(), "err", err)
				f.Body = &pb.ServerFrame_Error{Error: protocol.Errorf(pb.ErrorCode_INTERNAL, "the node failed; retry later").ToProto()}
			} else {
				f.Body = &pb.ServerFrame_SendAck{SendAck: &pb.SendAck{MessageId: in.messageID, ServerTimeMs: in.nowMS}}
				if !in.handed {
					fresh = append(fresh, in.entries...)
				}
			}
			if closed {
				continue
			}
			b, err := marshalFrame(f)
			if err != nil {
				s.env.Logger.Error("send ack", "device", s.addr.String(), "err", err)
				continue
			}
			frames = append(frames, b)
		}
		clear(batch)
		if len(frames) > 0 {
			s.setWriteDeadline()
			if err := s.conn.WriteFrames(frames); err != nil {
				s.env.Logger.Debug("send ack write failed", "device", s.addr.String(), "err", err)
				s.closeConn() // Run ends (a parked reader is woken); the remaining sends are still drained
			}
		}
		s.freeSendRoom(q)
		s.handOver(fresh) // fresh.go
		clear(fresh)
	}
}

func (s *Session) freeSendRoom(q *sendQueue) {
	s.mu.Lock()
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	s.mu.Unlock()
}

func isDone(p store.Pending) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}
