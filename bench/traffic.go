package bench

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

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
	return appendMessageID(make([]byte, 0, 16), stream, seq, tag)
}

// appendMessageID appends the 16 bytes messageID returns.
func appendMessageID(b []byte, stream uint32, seq uint64, tag uint32) []byte {
	b = binary.BigEndian.AppendUint32(b, stream)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint32(b, tag)
}

// parseMessageID returns stream and seq of an id made by messageID with tag.
func parseMessageID(id []byte, tag uint32) (stream uint32, seq uint64, ok bool) {
	if len(id) != 16 || binary.BigEndian.Uint32(id[12:]) != tag {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(id), binary.BigEndian.Uint64(id[4:]), true
}

func messageBody(size int, sentNs int64, stream uint32, seq uint64) []byte {
	n := max(size, bodyHeader)
	return appendBody(make([]byte, 0, n), n, sentNs, stream, seq)
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
	// from is the clock time (ns) the measured window starts: Sends
	// scheduled before it are the warm-up, checked for exactly-once
	// delivery but left out of every latency and rate. Set before any
	// stream starts, read-only after.
	from                            int64
	sentInWindow                    atomic.Int64
	sent, acked, sendErrors         atomic.Int64
	delivered, dups, foreign        atomic.Int64
	deliveredInWindow, receiptIDs   atomic.Int64
	goodbyes                        atomic.Int64
	firstTick, delivery, receiptLat Histogram
	// sendLag is scheduled time → written, per open-loop Send: the load
	// generator's own share of every latency it reports.
	sendLag  Histogram
	errMu    sync.Mutex
	firstErr string
}

func (c *counters) noteErr(s string) {
	c.errMu.Lock()
	if c.firstErr == "" {
		c.firstErr = s
	}
	c.errMu.Unlock()
}

// verdict scans the ledgers: acked messages never delivered are missing,
// and Sends neither acked nor refused are unanswered, delivered or not: the
// node delivers a message while its disk syncs and answers the sender
// after, so a run is not over when every message has arrived.
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
			case !acked && !failed:
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
//
// With snd set it also drives a closed-loop sender on its connection:
// it writes snd.window Sends at snd.start and then, each time the read
// buffer runs dry, as many new Sends as replies arrived, in the same write
// as the DeliveryAck (one syscall for the burst), until snd.end.
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
	snd       *sender // closed-loop sender on this connection; may be nil
}

func (r *reader) run() {
	var (
		pending []uint64
		ackBuf  []byte
		frames  [][]byte
		free    int // Sends answered since the last refill
	)
	drained := r.drained
	if r.snd != nil {
		time.Sleep(time.Until(r.snd.start))
		if !r.snd.refill(r.snd.window, nil) {
			return
		}
	}
	for {
		b, err := r.c.readRaw()
		if err != nil {
			return
		}
		f, ok := splitServerFrame(b)
		switch {
		case ok && f.field == fServerSendAck:
			id, good := bytesField(f.body, fSendAckMessageID)
			if !good {
				r.cnt.noteErr("undecodable SendAck")
				return
			}
			r.answered(f.replyTo, id, true)
			if f.replyTo&sendIDFlag != 0 {
				free++
			}
		case ok && f.field == fServerDeliver:
			d, good := splitDeliver(f.body)
			if !good {
				r.cnt.noteErr("undecodable Deliver")
				return
			}
			pending = append(pending, d.seq)
			switch d.entry {
			case fDeliverEnvelope:
				r.envelope(d.body)
			case fDeliverReceipt:
				r.receipt(d.body)
			}
			if r.onDeliver != nil {
				r.onDeliver()
			}
		default:
			var pf pb.ServerFrame
			if err := proto.Unmarshal(b, &pf); err != nil {
				r.cnt.noteErr("undecodable server frame: " + err.Error())
				return
			}
			switch body := pf.Body.(type) {
			case *pb.ServerFrame_Error:
				r.cnt.sendErrors.Add(1)
				r.cnt.noteErr(body.Error.Code.String() + ": " + body.Error.Reason)
				r.answered(pf.ReplyTo, nil, false)
				if pf.ReplyTo&sendIDFlag != 0 {
					free++
				}
			case *pb.ServerFrame_Goodbye:
				r.cnt.goodbyes.Add(1)
				r.cnt.noteErr("goodbye " + body.Goodbye.Code.String() + ": " + body.Goodbye.Reason)
				return
			case *pb.ServerFrame_QueueDrained:
				if drained != nil {
					close(drained)
					drained = nil
				}
			}
		}
		dry := r.c.buffered() == 0
		if !dry && len(pending) < ackBatch {
			continue
		}
		frames = frames[:0]
		if len(pending) > 0 {
			ackBuf = appendDeliveryAck(ackBuf[:0], pending)
			frames = append(frames, ackBuf)
			pending = pending[:0]
		}
		if r.snd != nil && dry && free > 0 {
			if !r.snd.refill(free, frames) {
				return
			}
			free = 0
			continue
		}
		if len(frames) > 0 {
			if err := r.c.writeFrames(frames); err != nil {
				return
			}
		}
	}
}

// sender writes one stream's Sends with the lean encoder, numbering them
// in order and recording each one's send time in the ledger before it is
// written. One goroutine at a time uses it.
type sender struct {
	c      *conn
	to     string
	stream uint32
	tag    uint32
	size   int
	l      *ledger
	clk    clock
	cnt    *counters
	seq    uint64
	// Closed loop only: Sends outstanding, and when to start and stop.
	window     int
	start, end time.Time

	buf    []byte
	offs   []int
	frames [][]byte
	at     []int64
	failed bool
}

// refill writes k Sends stamped now (closed loop) after the frames in
// lead, all in one WriteFrames, unless the run is over; false means the
// connection failed.
func (s *sender) refill(k int, lead [][]byte) bool {
	if !time.Now().Before(s.end) {
		k = 0
	}
	now := s.clk.now()
	s.at = s.at[:0]
	for range k {
		s.at = append(s.at, now)
	}
	return s.send(lead, s.at)
}

// send writes one Send per entry of at, each stamped with that time (the
// ledger's and the body's send time), after the frames in lead, in one
// WriteFrames; false means the connection failed (the error is noted).
func (s *sender) send(lead [][]byte, at []int64) bool {
	if s.failed {
		return false
	}
	if len(at) > 0 && s.seq+uint64(len(at)) > maxSeq {
		at = at[:maxSeq-s.seq]
	}
	if len(lead) == 0 && len(at) == 0 {
		return true
	}
	s.l.mu.Lock()
	s.l.sentAt = append(s.l.sentAt, at...)
	s.l.mu.Unlock()
	clientMs := time.Now().UnixMilli()
	s.buf, s.offs = s.buf[:0], s.offs[:0]
	for i, t := range at {
		s.offs = append(s.offs, len(s.buf))
		s.buf = appendSendFrame(s.buf, s.to, s.stream, s.seq+uint64(i), s.tag, s.size, t, clientMs)
	}
	s.offs = append(s.offs, len(s.buf))
	s.frames = append(s.frames[:0], lead...)
	for i := range at {
		s.frames = append(s.frames, s.buf[s.offs[i]:s.offs[i+1]])
	}
	s.seq += uint64(len(at))
	if err := s.c.writeFrames(s.frames); err != nil {
		s.failed = true
		s.cnt.noteErr("send: " + err.Error())
		return false
	}
	s.cnt.sent.Add(int64(len(at)))
	if len(at) > 0 {
		written := s.clk.now()
		for _, t := range at {
			if t >= s.cnt.from {
				s.cnt.sentInWindow.Add(1)
				s.cnt.sendLag.Record(max(written-t, 0))
			}
		}
	}
	return true
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
			if l.sentAt[seq] >= r.cnt.from {
				r.cnt.firstTick.Record(now - l.sentAt[seq])
			}
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

// envelope records the delivery of an encoded Envelope.
func (r *reader) envelope(e []byte) {
	var body, id []byte
	if !fields(e, func(n protowire.Number, _ uint64, p []byte) bool {
		switch {
		case n == fEnvBody && p != nil:
			body = p
		case n == fEnvMessageID && p != nil:
			id = p
		}
		return true
	}) {
		r.cnt.foreign.Add(1)
		return
	}
	sentNs, stream, seq, ok := parseBody(body)
	s2, q2, ok2 := parseMessageID(id, r.tag)
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
	if sentNs >= r.cnt.from {
		r.cnt.delivery.Record(now - sentNs)
	}
	if now >= r.cnt.from && time.Now().Before(r.windowTo) {
		r.cnt.deliveredInWindow.Add(1)
	}
}

// receipt records the receipt latency of every message an encoded
// Receipt names.
func (r *reader) receipt(rc []byte) {
	now := r.clk.now()
	fields(rc, func(n protowire.Number, _ uint64, id []byte) bool {
		if n != fReceiptMessageIDs || id == nil {
			return true
		}
		r.cnt.receiptIDs.Add(1)
		stream, seq, ok := parseMessageID(id, r.tag)
		if !ok || r.out == nil {
			return true
		}
		if l := r.out(stream); l != nil {
			l.mu.Lock()
			if int(seq) < len(l.sentAt) && l.sentAt[seq] >= r.cnt.from {
				r.cnt.receiptLat.Record(now - l.sentAt[seq])
			}
			l.mu.Unlock()
		}
		return true
	})
}
