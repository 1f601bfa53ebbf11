package session

import (
	"context"
	"sync"

	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

const (
	// pumpBatch bounds one ReadQueue and so one coalesced write. A pass
	// costs a store iterator and a syscall whatever its size, so a deep
	// backlog drains fastest in big passes: 256 instead of 64 took the
	// drain of 100 devices × 3,000 from 180–260 k to 267–318 k msgs/s
	// (docs/benchmarks.md, sixth round). The delivery window (256 by
	// default) bounds it further.
	pumpBatch = 256
	// pumpBytes bounds the payload one pass holds: entries of the largest
	// size (protocol.MaxCiphertextSize) get passes of 64.
	pumpBytes = 1 << 20
	// pumpFirstGuess is the entry size assumed before any pass of this
	// session measured one, so the first pass is bounded as if every entry
	// were the largest.
	pumpFirstGuess = 16 << 10
)

// kick starts the pump, or tells the running one to look again. It never
// blocks, so the router and the keys service may call it from anywhere.
func (s *Session) kick() {
	s.mu.Lock()
	if s.closed || !s.delivering {
		s.mu.Unlock()
		return
	}
	if s.pumping {
		s.more = true
		s.mu.Unlock()
		return
	}
	s.pumping = true
	s.more = false
	wg := s.workersLocked()
	s.mu.Unlock()
	go s.pump(wg)
}

// pump sends pending notices and queued entries until the queue is drained
// or the window is full, then exits. Only one runs at a time (pumping).
func (s *Session) pump(wg *sync.WaitGroup) {
	defer wg.Done()
	defer s.recoverPanic("pump")
	ctx := context.Background()
	var frames [][]byte
	var buf []byte
	var held []store.Entry // entries taken from the fresh queue, reused
	for {
		s.mu.Lock()
		if s.closed {
			s.pumping = false
			s.mu.Unlock()
			return
		}
		s.more = false
		low := s.low
		s.low = nil
		pushes := s.takePushesLocked() // ephemeral frames (social.go)
		room := s.env.DeliveryWindow - int(s.inflight)
		after := s.lastSent
		limit := pumpLimit(room, s.entryBytes())
		var fromMemory bool
		var gen uint64
		if room > 0 {
			held, fromMemory, gen = s.takeFreshLocked(held[:0], after, limit) // fresh.go
		}
		s.mu.Unlock()

		// Pushes, the PrekeysLow notice and the entries of this pass go out
		// in one WriteFrames call: on connect that is PrekeysLow, the backlog
		// and QueueDrained in one syscall.
		frames, buf = append(frames[:0], pushes...), buf[:0]
		if low != nil {
			b, err := marshalFrame(&pb.ServerFrame{Body: &pb.ServerFrame_PrekeysLow{PrekeysLow: low}})
			if err != nil {
				s.stopPump(err)
				return
			}
			frames = append(frames, b)
		}
		if room <= 0 {
			if len(frames) > 0 {
				s.setWriteDeadline()
				if err := s.conn.WriteFrames(frames); err != nil {
					s.stopPump(err)
					return
				}
			}
			s.mu.Lock()
			if s.more {
				s.mu.Unlock()
				continue
			}
			s.windowFull = true
			s.pumping = false
			s.mu.Unlock()
			return
		}
		entries := held
		if !fromMemory {
			var err error
			if entries, err = s.env.Store.ReadQueue(ctx, s.addr, after, limit); err != nil {
				s.stopPump(err)
				return
			}
		}
		// One buffer for every frame of the batch: frames slice into it.
		size := 0
		for i := range entries {
			size += len(entries[i].Payload) + 24
		}
		if len(entries) > 0 {
			s.entryKiB = uint8(min((size/len(entries)+1023)>>10, 255))
		}
		if cap(buf) < size {
			buf = make([]byte, 0, size)
		}
		for i := range entries {
			start := len(buf)
			buf = appendDeliverFrame(buf, entries[i].Seq, entries[i].Payload)
			frames = append(frames, buf[start:len(buf):len(buf)])
		}

		s.mu.Lock()
		if !fromMemory && len(entries) < limit {
			s.freshCoveredLocked(gen) // the read reached the end of the queue
		}
		if len(entries) > 0 {
			s.lastSent = entries[len(entries)-1].Seq
			s.inflight += int32(len(entries))
			if !s.drainedSent {
				s.initialSent += uint32(len(entries))
			}
		}
		drained := len(entries) < limit && !s.drainedSent
		if drained {
			s.drainedSent = true
		}
		n := uint64(s.initialSent)
		s.mu.Unlock()

		if drained {
			qd, err := marshalFrame(&pb.ServerFrame{Body: &pb.ServerFrame_QueueDrained{QueueDrained: &pb.QueueDrained{Delivered: n}}})
			if err != nil {
				s.stopPump(err)
				return
			}
			frames = append(frames, qd)
		}
		if len(frames) > 0 {
			s.setWriteDeadline()
			if err := s.conn.WriteFrames(frames); err != nil {
				s.stopPump(err)
				return
			}
		}
		if len(entries) == limit {
			continue // maybe more behind them
		}
		s.mu.Lock()
		if s.more && !s.closed {
			s.mu.Unlock()
			continue
		}
		s.pumping = false
		s.mu.Unlock()
		return
	}
}

// entryBytes is the payload size per entry the pump plans its next pass
// with: what the last pass saw, or the largest before any pass has.
func (s *Session) entryBytes() int {
	if s.entryKiB == 0 {
		return pumpFirstGuess
	}
	return int(s.entryKiB) << 10
}

// pumpLimit is how many entries the next pass takes: what the window has
// room for, at most pumpBatch, and at most pumpBytes of entries the size
// the last pass measured (perEntry bytes each).
func pumpLimit(room, perEntry int) int {
	return min(room, pumpBatch, max(1, pumpBytes/max(perEntry, 1)))
}

// stopPump ends the pump after a write or store failure and closes the
// connection: the device reconnects and the queue is still there.
func (s *Session) stopPump(err error) {
	s.env.Logger.Debug("pump stopped", "device", s.addr.String(), "err", err)
	s.mu.Lock()
	s.pumping = false
	s.mu.Unlock()
	s.sayGoodbye(&pb.Goodbye{Code: pb.ErrorCode_INTERNAL, Reason: "delivery failed; reconnect"})
}

// acked frees window slots for entries sent on this connection and restarts
// a pump that stopped on a full window.
func (s *Session) acked(seqs []uint64) {
	s.mu.Lock()
	for _, q := range seqs {
		if q <= s.lastSent && s.inflight > 0 {
			s.inflight--
		}
	}
	restart := s.windowFull
	s.windowFull = false
	s.mu.Unlock()
	if restart {
		s.kick()
	}
}
