package bench

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/protocol/pb"
)

// Message ids and bodies carry (stream, seq) so the receiving side can
// check exactly-once delivery without a shared map: id = stream (4 bytes)
// ‖ seq (8) ‖ run tag (4); body = send time (8, ns on the run's clock) ‖
// stream (4) ‖ seq (8) ‖ filler up to the configured size. A stream is a
// pair in msgs and a recipient in offline/storm.

const bodyHeader = 20

// clock is the run's monotonic time base shared by senders and receivers
// (they live in one process).
type clock struct{ t0 time.Time }

func (c clock) now() int64 { return int64(time.Since(c.t0)) }

func messageID(stream uint32, seq uint64, tag uint32) []byte {
	id := make([]byte, 16)
	binary.BigEndian.PutUint32(id, stream)
	binary.BigEndian.PutUint64(id[4:], seq)
	binary.BigEndian.PutUint32(id[12:], tag)
	return id
}

// parseMessageID returns stream and seq of an id made by messageID with tag.
func parseMessageID(id []byte, tag uint32) (stream uint32, seq uint64, ok bool) {
	if len(id) != 16 || binary.BigEndian.Uint32(id[12:]) != tag {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(id), binary.BigEndian.Uint64(id[4:]), true
}

func messageBody(size int, sentNs int64, stream uint32, seq uint64) []byte {
	b := make([]byte, max(size, bodyHeader))
	binary.BigEndian.PutUint64(b, uint64(sentNs))
	binary.BigEndian.PutUint32(b[8:], stream)
	binary.BigEndian.PutUint64(b[12:], seq)
	for i := bodyHeader; i < len(b); i++ {
		b[i] = byte(i) // incompressible enough; the node never looks
	}
	return b
}

func parseBody(b []byte) (sentNs int64, stream uint32, seq uint64, ok bool) {
	if len(b) < bodyHeader {
		return 0, 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(b)), binary.BigEndian.Uint32(b[8:]), binary.BigEndian.Uint64(b[12:]), true
}

// maxSeq bounds a stream's sequence numbers (they share a request id with
// the stream).
const maxSeq = 1<<32 - 1

func sendFrame(to string, stream uint32, seq uint64, tag uint32, body []byte) *pb.ClientFrame {
	id := messageID(stream, seq, tag)
	return &pb.ClientFrame{Id: sendIDFlag | uint64(stream)<<32 | seq, Body: &pb.ClientFrame_Send{Send: &pb.Send{
		MessageId: id, To: to, ClientTimeMs: time.Now().UnixMilli(),
		Ciphertexts: []*pb.OutgoingCiphertext{{User: to, DeviceId: 1, Type: pb.EnvelopeType_CIPHERTEXT, Body: body}},
	}}}
}

// ledger tracks one stream's messages on both sides.
type ledger struct {
	mu     sync.Mutex
	sentAt []int64 // by seq; the clock's ns when written
	acked  []bool  // SendAck seen
	failed []bool  // Error reply seen
	got    []uint8 // deliveries seen, saturating
	uniq   int     // seqs with got > 0
}

func grow[T any](s []T, n int) []T {
	for len(s) <= n {
		s = append(s, *new(T))
	}
	return s
}

// counters are the run-wide figures every stream adds to.
type counters struct {
	sent, acked, sendErrors         atomic.Int64
	delivered, dups, foreign        atomic.Int64
	deliveredInWindow, receiptIDs   atomic.Int64
	goodbyes                        atomic.Int64
	firstTick, delivery, receiptLat Histogram
	errMu                           sync.Mutex
	firstErr                        string
}

func (c *counters) noteErr(s string) {
	c.errMu.Lock()
	if c.firstErr == "" {
		c.firstErr = s
	}
	c.errMu.Unlock()
}

// verdict scans the ledgers: acked messages never delivered are missing.
func verdict(ls []*ledger) (missing, unanswered int64) {
	for _, l := range ls {
		l.mu.Lock()
		for seq := range l.sentAt {
			acked := seq < len(l.acked) && l.acked[seq]
			failed := seq < len(l.failed) && l.failed[seq]
			got := seq < len(l.got) && l.got[seq] > 0
			switch {
			case acked && !got:
				missing++
			case !acked && !failed && !got:
				unanswered++
			}
		}
		l.mu.Unlock()
	}
	return missing, unanswered
}

// ackBatch is the most seqs one DeliveryAck carries; half the node's
// default window of 256 so the pump never stalls on a full window.
const ackBatch = 128

// reader consumes one connection's frames until it fails (the caller
// closes it to stop). It records SendAcks and errors against out (the
// ledgers of the streams this connection sends), deliveries against in
// (the ledger of the stream it receives), and acknowledges every Deliver
// in batches: when the read buffer runs dry or ackBatch are pending.
type reader struct {
	c         *conn
	clk       clock
	tag       uint32
	cnt       *counters
	out       func(stream uint32) *ledger // nil: this connection does not send
	in        func(stream uint32) *ledger // nil: this connection receives nothing but receipts
	slots     chan struct{}               // released per answered Send; nil: unlimited
	windowTo  time.Time                   // deliveries before it count as in the window
	drained   chan struct{}               // closed at QueueDrained; may be nil
	onDeliver func()
}

func (r *reader) run() {
	var pending []uint64
	drained := r.drained
	for {
		f, err := r.c.read(0)
		if err != nil {
			return
		}
		switch b := f.Body.(type) {
		case *pb.ServerFrame_SendAck:
			r.answered(f.ReplyTo, b.SendAck.MessageId, true)
		case *pb.ServerFrame_Error:
			r.cnt.sendErrors.Add(1)
			r.cnt.noteErr(b.Error.Code.String() + ": " + b.Error.Reason)
			r.answered(f.ReplyTo, nil, false)
		case *pb.ServerFrame_Goodbye:
			r.cnt.goodbyes.Add(1)
			r.cnt.noteErr("goodbye " + b.Goodbye.Code.String() + ": " + b.Goodbye.Reason)
			return
		case *pb.ServerFrame_QueueDrained:
			if drained != nil {
				close(drained)
				drained = nil
			}
		case *pb.ServerFrame_Deliver:
			pending = append(pending, b.Deliver.Seq)
			if e := b.Deliver.GetEnvelope(); e != nil {
				r.envelope(e)
			} else if rc := b.Deliver.GetReceipt(); rc != nil {
				r.receipt(rc)
			}
			if r.onDeliver != nil {
				r.onDeliver()
			}
		}
		if len(pending) > 0 && (len(pending) >= ackBatch || r.c.buffered() == 0) {
			if _, err := r.c.write(&pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: pending}}}); err != nil {
				return
			}
			pending = pending[:0]
		}
	}
}

func (r *reader) answered(replyTo uint64, id []byte, ok bool) {
	if r.slots != nil {
		select {
		case <-r.slots:
		default:
		}
	}
	if r.out == nil || replyTo&sendIDFlag == 0 {
		return
	}
	stream, seq := uint32(replyTo>>32)&^uint32(sendIDFlag>>32), int(replyTo&maxSeq)
	if id != nil {
		if s, q, good := parseMessageID(id, r.tag); !good || s != stream || int(q) != seq {
			r.cnt.foreign.Add(1)
			return
		}
	}
	l := r.out(stream)
	if l == nil {
		return
	}
	now := r.clk.now()
	l.mu.Lock()
	if seq < len(l.sentAt) {
		if ok {
			l.acked = grow(l.acked, seq)
			l.acked[seq] = true
			r.cnt.firstTick.Record(now - l.sentAt[seq])
		} else {
			l.failed = grow(l.failed, seq)
			l.failed[seq] = true
		}
	}
	l.mu.Unlock()
	if ok {
		r.cnt.acked.Add(1)
	}
}

func (r *reader) envelope(e *pb.Envelope) {
	sentNs, stream, seq, ok := parseBody(e.Body)
	s2, q2, ok2 := parseMessageID(e.MessageId, r.tag)
	var l *ledger
	if ok && ok2 && s2 == stream && q2 == seq && r.in != nil {
		l = r.in(stream)
	}
	if l == nil || seq > maxSeq {
		r.cnt.foreign.Add(1)
		return
	}
	now := r.clk.now()
	l.mu.Lock()
	l.got = grow(l.got, int(seq))
	n := l.got[seq]
	if n < 255 {
		l.got[seq]++
	}
	if n == 0 {
		l.uniq++
	}
	l.mu.Unlock()
	if n > 0 {
		r.cnt.dups.Add(1)
		return
	}
	r.cnt.delivered.Add(1)
	r.cnt.delivery.Record(now - sentNs)
	if time.Now().Before(r.windowTo) {
		r.cnt.deliveredInWindow.Add(1)
	}
}

func (r *reader) receipt(rc *pb.Receipt) {
	now := r.clk.now()
	for _, id := range rc.MessageIds {
		r.cnt.receiptIDs.Add(1)
		stream, seq, ok := parseMessageID(id, r.tag)
		if !ok || r.out == nil {
			continue
		}
		if l := r.out(stream); l != nil {
			l.mu.Lock()
			if int(seq) < len(l.sentAt) {
				r.cnt.receiptLat.Record(now - l.sentAt[seq])
			}
			l.mu.Unlock()
		}
	}
}
