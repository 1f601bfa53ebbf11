package bench

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/protocol/pb"
)

// GroupConfig configures Group.
type GroupConfig struct {
	Common
	// Size is the group's members, creator included: 2 … 1,024 (the
	// node's default MaxGroupSize). Every member is a freshly registered
	// device with its own connection in this process.
	Size int
	// Senders are the members that send (members 0 … Senders-1; member 0
	// creates the group). Default 1.
	Senders int
	// Messages is the GroupSends per sender (1 … 100,000). Default 100.
	Messages int
	// Rate is the offered load in GroupSends/s over all senders; 0 means
	// max: every sender keeps Window GroupSends outstanding.
	Rate int
	// Window is the outstanding GroupSends per sender at max rate.
	// Default 32, the node's per-session in-flight limit.
	Window int
	// Bytes is the sender-key ciphertext size. Default 270: a libsignal
	// SenderKeyMessage carrying a 160-byte padded text (176 bytes of
	// AES-CBC, the header and a 64-byte signature).
	Bytes int
	// Timeout bounds the whole run, registration included. Default 2 min.
	Timeout time.Duration
}

// groupDefaultBytes is GroupConfig.Bytes's default.
const groupDefaultBytes = 270

// maxGroupFanout bounds Senders × Messages × (Size-1), the member
// deliveries a run expects (one byte each of bookkeeping, and minutes of
// node time on this machine at the top).
const maxGroupFanout = 20_000_000

// Group measures fan-out to one group whose members are all online: Size
// devices register and connect, member 0 creates the group (GroupCreate,
// then GroupUpdate adds in lists of 256, the node's per-request limit),
// and each sender sends Messages GroupSends naming every other member's
// device, as a client must. Every member acknowledges its deliveries in
// batches, as msgs receivers do, and the senders acknowledge the DELIVERED
// receipts the members' acks make. It reports GroupSends/s, member
// deliveries/s, first tick (GroupSend→SendAck), fan-out latency
// (GroupSend→each member's Deliver) and last-member latency (GroupSend→the
// last member's Deliver), node CPU per delivery and per GroupSend, and
// whether every member got every message exactly once.
//
// The node never decrypts, so the sender-key ciphertext is filler bytes of
// a realistic size carrying the send time and the message's identity (see
// traffic.go), not the output of a sender key; the device lists the
// senders name come from the node's GroupInfo, as in the SDK.
func Group(ctx context.Context, cfg GroupConfig) (_ *Result, err error) {
	defer cfg.profileScenario(&err)()
	if cfg.Senders == 0 {
		cfg.Senders = 1
	}
	if cfg.Messages == 0 {
		cfg.Messages = 100
	}
	switch {
	case cfg.Size < 2 || cfg.Size > 1024:
		return nil, fmt.Errorf("%w: --size %d: want 2 … 1,024 members", ErrBadConfig, cfg.Size)
	case cfg.Senders < 1 || cfg.Senders > cfg.Size:
		return nil, fmt.Errorf("%w: --senders %d: want 1 … --size", ErrBadConfig, cfg.Senders)
	case cfg.Messages < 1 || cfg.Messages > 100_000:
		return nil, fmt.Errorf("%w: --messages %d: want 1 … 100,000 per sender", ErrBadConfig, cfg.Messages)
	case int64(cfg.Senders)*int64(cfg.Messages)*int64(cfg.Size-1) > maxGroupFanout:
		return nil, fmt.Errorf("%w: senders × messages × (size-1) = %d member deliveries: want ≤ %d", ErrBadConfig,
			int64(cfg.Senders)*int64(cfg.Messages)*int64(cfg.Size-1), maxGroupFanout)
	case cfg.Rate < 0 || cfg.Rate > 1_000_000:
		return nil, fmt.Errorf("%w: --rate %d", ErrBadConfig, cfg.Rate)
	case cfg.Bytes < 0 || cfg.Bytes > 16<<10:
		return nil, fmt.Errorf("%w: --bytes %d: want ≤ 16 KiB", ErrBadConfig, cfg.Bytes)
	case cfg.Timeout < 0 || cfg.Timeout > time.Hour:
		return nil, fmt.Errorf("%w: --timeout %v: want ≤ 1h", ErrBadConfig, cfg.Timeout)
	}
	if cfg.Window <= 0 {
		cfg.Window = 32
	}
	if cfg.Bytes == 0 {
		cfg.Bytes = groupDefaultBytes
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Minute
	}
	r := newResult("group")
	r.set("size", cfg.Size)
	r.set("senders", cfg.Senders)
	r.set("messages_per_sender", cfg.Messages)
	if cfg.Rate > 0 {
		r.set("offered_group_sends_per_s", cfg.Rate)
	} else {
		r.set("offered_group_sends_per_s", "max")
	}
	r.set("msg_bytes", max(cfg.Bytes, bodyHeader))
	g, err := newGroupRun(cfg)
	if err != nil {
		return nil, err
	}
	err = g.run(ctx, r)
	return r, err
}

// groupRun is one Group run. Message i = stream*msgs+seq is sender
// stream's seq'th GroupSend; got[m][i] counts its deliveries to member m
// and is touched only by member m's reader until the readers stop.
type groupRun struct {
	cfg     GroupConfig
	tag     uint32
	clk     clock
	devs    []Device
	groupID []byte

	sentAt  []atomic.Int64  // clock ns when written; 0: not sent
	status  []atomic.Uint32 // msgAcked or msgFailed once answered
	reached []atomic.Int32  // members that got it
	got     [][]uint8

	sent, acked, sendErrors       atomic.Int64
	delivered, dups, foreign      atomic.Int64
	complete, events, receiptIDs  atomic.Int64
	lastAck, lastDeliver          atomic.Int64 // clock ns
	firstTick, fanout, lastMember Histogram
	errMu                         sync.Mutex
	firstErr                      string
}

const (
	msgAcked  = 1
	msgFailed = 2
)

func newGroupRun(cfg GroupConfig) (*groupRun, error) {
	var tagb [4]byte
	if _, err := rand.Read(tagb[:]); err != nil {
		return nil, fmt.Errorf("bench: run tag: %w", err)
	}
	n := cfg.Senders * cfg.Messages
	g := &groupRun{
		cfg: cfg, tag: binary.BigEndian.Uint32(tagb[:]), clk: clock{t0: time.Now()},
		sentAt: make([]atomic.Int64, n), status: make([]atomic.Uint32, n), reached: make([]atomic.Int32, n),
		got: make([][]uint8, cfg.Size),
	}
	for m := range g.got {
		g.got[m] = make([]uint8, n)
	}
	return g, nil
}

func (g *groupRun) noteErr(s string) {
	g.errMu.Lock()
	if g.firstErr == "" {
		g.firstErr = s
	}
	g.errMu.Unlock()
}

func (g *groupRun) run(parent context.Context, r *Result) error {
	cfg, t := g.cfg, g.cfg.Target
	// Figures are still read from the node after a timeout.
	ctx, cancel := context.WithTimeout(parent, cfg.Timeout)
	defer cancel()

	ks, err := NewKeySet()
	if err != nil {
		return err
	}
	if g.devs, err = newDevices(cfg.Size); err != nil {
		return err
	}
	conns, st := dialAll(ctx, t, g.devs, ks, 32, blockTraffic, true, true, true)
	defer closeAll(conns)
	if st.Failed > 0 {
		return fmt.Errorf("%w: %d of %d members failed to register: %s", ErrNode, st.Failed, len(g.devs), st.FirstErr)
	}
	r.set("registers_per_s", float64(st.OK)/st.Elapsed.Seconds())

	// One reader per member from now on: group events arrive while the
	// group is being built, and member 0's replies come through its reader.
	replies := make(chan *pb.ServerFrame, 4)
	slots := make([]chan struct{}, cfg.Senders)
	var readers sync.WaitGroup
	for m, c := range conns {
		var sl chan struct{}
		var rp chan *pb.ServerFrame
		if m < cfg.Senders && cfg.Rate == 0 {
			sl = make(chan struct{}, cfg.Window)
			slots[m] = sl
		}
		if m == 0 {
			rp = replies
		}
		readers.Add(1)
		go func() { defer readers.Done(); g.read(m, c, sl, rp) }()
	}
	stopReaders := func() {
		closeAll(conns)
		readers.Wait()
	}

	setupStart := time.Now()
	refs, wantEvents, err := g.create(ctx, conns[0], replies)
	if err != nil {
		stopReaders()
		return err
	}
	// Start from quiet queues: every member has its group events.
	for g.events.Load() < wantEvents && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	r.set("setup_s", time.Since(setupStart).Seconds())
	r.set("group_events", g.events.Load())
	if ctx.Err() != nil {
		stopReaders()
		return fmt.Errorf("%w: group setup: %d of %d group events delivered in %v", ErrNode, g.events.Load(), wantEvents, cfg.Timeout)
	}

	before := t.sample(parent)
	selfBefore, _ := procCPU(os.Getpid())
	selfWaitBefore := runDelay(os.Getpid())
	start := g.clk.now()
	var senders sync.WaitGroup
	for s := range cfg.Senders {
		senders.Add(1)
		go func() {
			defer senders.Done()
			g.sendLoop(ctx, conns[s], uint32(s), refs[s], slots[s], start)
		}()
	}
	senders.Wait()

	// Done when every GroupSend is answered, every acknowledged one reached
	// every other member, and the senders got the DELIVERED receipts those
	// deliveries make (part of what a delivery costs the node).
	for ctx.Err() == nil {
		answered := g.acked.Load()+g.sendErrors.Load() == g.sent.Load()
		if answered && g.complete.Load() >= g.acked.Load() && g.receiptIDs.Load() >= g.delivered.Load() {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	after := t.sample(parent)
	selfAfter, _ := procCPU(os.Getpid())
	selfWaitAfter := runDelay(os.Getpid())
	// Let duplicates, if any, show up before judging.
	_ = sleepCtx(ctx, 200*time.Millisecond)
	stopReaders()

	missing := g.missing()
	sent, acked, delivered := g.sent.Load(), g.acked.Load(), g.delivered.Load()
	expected := acked * int64(cfg.Size-1)
	sendWall := time.Duration(g.lastAck.Load() - start)
	delWall := time.Duration(g.lastDeliver.Load() - start)
	r.set("sent", sent)
	r.set("acked", acked)
	r.set("send_errors", g.sendErrors.Load())
	r.set("fanout_expected", expected)
	r.set("delivered", delivered)
	r.set("missing", missing)
	r.set("duplicates", g.dups.Load())
	r.set("foreign", g.foreign.Load())
	r.set("exactly_once", missing == 0 && g.dups.Load() == 0 && g.foreign.Load() == 0 && acked == sent)
	r.set("receipt_ids", g.receiptIDs.Load())
	if sendWall > 0 {
		r.set("send_s", sendWall.Seconds())
		r.set("group_sends_per_s", float64(acked)/sendWall.Seconds())
	}
	if delWall > 0 {
		r.set("delivery_s", delWall.Seconds())
		r.set("delivered_msgs_per_s", float64(delivered)/delWall.Seconds())
	}
	r.setLatency("first_tick", &g.firstTick)
	r.setLatency("fanout_latency", &g.fanout)
	r.setLatency("last_member_latency", &g.lastMember)
	r.setNodeCPU(t, before, after, float64(delivered), "node_cpu_us_per_delivery")
	if t.PID > 0 && before.procErr == nil && after.procErr == nil && acked > 0 {
		r.set("node_cpu_us_per_group_send", float64((after.proc.CPU-before.proc.CPU).Microseconds())/float64(acked))
	}
	r.setRunCosts(t, after, selfAfter-selfBefore, float64(delivered), "bench_cpu_us_per_delivery", g.firstErr)
	r.setCPUWait(t, before, after, selfWaitBefore, selfWaitAfter)
	r.note("node CPU covers GroupSends, fan-out, deliveries, the members' acks and the DELIVERED receipts they make; latency is from the moment a GroupSend is written")
	switch {
	case parent.Err() == nil && ctx.Err() != nil:
		return fmt.Errorf("%w: not complete within --timeout %v: %d of %d deliveries, %d of %d GroupSends answered, %d receipts",
			ErrNode, cfg.Timeout, delivered, expected, acked+g.sendErrors.Load(), sent, g.receiptIDs.Load())
	case missing > 0 || g.dups.Load() > 0 || acked != sent:
		return fmt.Errorf("%w: exactly-once violated: %d missing, %d duplicates, %d of %d GroupSends acknowledged",
			ErrNode, missing, g.dups.Load(), acked, sent)
	}
	return parent.Err()
}

// create builds the group from member 0 and returns, per sender, the
// device refs a GroupSend must name (every member device but its own) and
// how many group events the members will be delivered.
func (g *groupRun) create(ctx context.Context, c *conn, replies <-chan *pb.ServerFrame) ([][]*pb.DeviceRef, int64, error) {
	const perRequest = 256 // the node's limit per GroupCreate/GroupUpdate list
	handles := make([]string, len(g.devs))
	for i, d := range g.devs {
		handles[i] = d.Handle
	}
	rest := handles[1:]
	first := rest[:min(len(rest), perRequest-1)]
	info, err := g.call(ctx, c, replies, 2, &pb.ClientFrame{Body: &pb.ClientFrame_GroupCreate{GroupCreate: &pb.GroupCreate{Name: "bench", Members: first}}})
	if err != nil {
		return nil, 0, fmt.Errorf("bench: group create: %w", err)
	}
	g.groupID = info.GroupId
	// Each change queues one event to every member after it.
	events := int64(len(info.Members))
	for i, id := len(first), uint64(3); i < len(rest); i, id = i+perRequest, id+1 {
		add := rest[i:min(len(rest), i+perRequest)]
		info, err = g.call(ctx, c, replies, id, &pb.ClientFrame{Body: &pb.ClientFrame_GroupUpdate{GroupUpdate: &pb.GroupUpdate{GroupId: g.groupID, Add: add}}})
		if err != nil {
			return nil, 0, fmt.Errorf("bench: group add: %w", err)
		}
		events += int64(len(info.Members))
	}
	if len(info.Members) != len(g.devs) {
		return nil, 0, fmt.Errorf("%w: group has %d members, want %d", ErrNode, len(info.Members), len(g.devs))
	}
	// Each bench account has exactly the device it registered, so a
	// sender names every member's devices but its own user's.
	lists := make(map[string][]uint32, len(info.DeviceLists))
	for _, dl := range info.DeviceLists {
		lists[dl.User] = dl.DeviceIds
	}
	for _, h := range handles {
		if len(lists[h]) != 1 {
			return nil, 0, fmt.Errorf("%w: GroupInfo lists %d devices for %s, want 1", ErrNode, len(lists[h]), h)
		}
	}
	refs := make([][]*pb.DeviceRef, g.cfg.Senders)
	for s := range refs {
		for _, h := range handles {
			if h != handles[s] {
				refs[s] = append(refs[s], &pb.DeviceRef{User: h, DeviceId: lists[h][0]})
			}
		}
	}
	return refs, events, nil
}

// call writes a group request on member 0's connection and waits for its
// GroupInfo, which member 0's reader passes on.
func (g *groupRun) call(ctx context.Context, c *conn, replies <-chan *pb.ServerFrame, id uint64, f *pb.ClientFrame) (*pb.GroupInfo, error) {
	f.Id = id
	if _, err := c.write(f); err != nil {
		return nil, err
	}
	for {
		select {
		case rf := <-replies:
			if rf.ReplyTo != id {
				continue
			}
			if e := rf.GetError(); e != nil {
				return nil, fmt.Errorf("%w: %s: %s", ErrNode, e.Code, e.Reason)
			}
			info := rf.GetGroupInfo()
			if info == nil {
				return nil, fmt.Errorf("%w: got %T, want GroupInfo", ErrNode, rf.Body)
			}
			return info, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// sendLoop is one sender: paced at Rate/Senders GroupSends/s (open loop),
// or as fast as its window allows.
func (g *groupRun) sendLoop(ctx context.Context, c *conn, stream uint32, refs []*pb.DeviceRef, slots chan struct{}, start int64) {
	cfg := g.cfg
	var interval time.Duration
	t0 := g.clk.t0.Add(time.Duration(start))
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Senders) / float64(cfg.Rate))
		// Spread the senders' first sends over one interval.
		t0 = t0.Add(interval * time.Duration(stream) / time.Duration(cfg.Senders))
	}
	for seq := range uint64(cfg.Messages) {
		if interval > 0 {
			if sleepCtx(ctx, time.Until(t0.Add(interval*time.Duration(seq)))) != nil {
				return
			}
		} else {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		now := g.clk.now()
		g.sentAt[int(stream)*cfg.Messages+int(seq)].Store(now)
		f := &pb.ClientFrame{Id: sendIDFlag | uint64(stream)<<32 | seq, Body: &pb.ClientFrame_GroupSend{GroupSend: &pb.GroupSend{
			MessageId: messageID(stream, seq, g.tag), GroupId: g.groupID, Devices: refs,
			Body: messageBody(cfg.Bytes, now, stream, seq), ClientTimeMs: time.Now().UnixMilli(),
		}}}
		if _, err := c.write(f); err != nil {
			g.noteErr("group send: " + err.Error())
			return
		}
		g.sent.Add(1)
	}
}

// read consumes member m's frames until the connection fails (the run
// closes it to stop): SendAcks and errors of its own GroupSends, group
// messages, group events and receipts, acknowledging every stored Deliver
// in batches like the msgs reader. Replies to member 0's group requests go
// to replies.
func (g *groupRun) read(m int, c *conn, slots chan struct{}, replies chan<- *pb.ServerFrame) {
	var pending []uint64
	for {
		f, err := c.read(0)
		if err != nil {
			return
		}
		switch b := f.Body.(type) {
		case *pb.ServerFrame_SendAck:
			g.answered(m, slots, f.ReplyTo, b.SendAck.MessageId, true)
		case *pb.ServerFrame_Error:
			if f.ReplyTo&sendIDFlag != 0 {
				g.sendErrors.Add(1)
				g.noteErr(b.Error.Code.String() + ": " + b.Error.Reason)
				g.answered(m, slots, f.ReplyTo, nil, false)
			} else {
				g.reply(replies, f)
			}
		case *pb.ServerFrame_GroupInfo:
			g.reply(replies, f)
		case *pb.ServerFrame_Goodbye:
			g.noteErr("goodbye " + b.Goodbye.Code.String() + ": " + b.Goodbye.Reason)
			return
		case *pb.ServerFrame_Deliver:
			d := b.Deliver
			if d.Seq != 0 {
				pending = append(pending, d.Seq)
			}
			switch {
			case d.GetEnvelope() != nil:
				g.envelope(m, d.GetEnvelope())
			case d.GetReceipt() != nil:
				g.receipt(m, d.GetReceipt())
			case d.GetGroupEvent() != nil:
				g.events.Add(1)
			}
		}
		if len(pending) > 0 && (len(pending) >= ackBatch || c.buffered() == 0) {
			if _, err := c.write(&pb.ClientFrame{Body: &pb.ClientFrame_DeliveryAck{DeliveryAck: &pb.DeliveryAck{Seqs: pending}}}); err != nil {
				return
			}
			pending = pending[:0]
		}
	}
}

// reply passes a reply to member 0's group requests on; call waits for
// one at a time, so a full channel means a reply nobody waits for.
func (g *groupRun) reply(replies chan<- *pb.ServerFrame, f *pb.ServerFrame) {
	if replies == nil {
		return
	}
	select {
	case replies <- f:
	default:
		g.noteErr(fmt.Sprintf("unexpected reply %T to request %d", f.Body, f.ReplyTo))
	}
}

// index returns message (stream, seq)'s index, or -1 if the run has none.
func (g *groupRun) index(stream uint32, seq uint64) int {
	if int64(stream) >= int64(g.cfg.Senders) || seq >= uint64(g.cfg.Messages) {
		return -1
	}
	return int(stream)*g.cfg.Messages + int(seq)
}

func (g *groupRun) answered(m int, slots chan struct{}, replyTo uint64, id []byte, ok bool) {
	if slots != nil {
		select {
		case <-slots:
		default:
		}
	}
	stream, seq := uint32(replyTo>>32)&^uint32(sendIDFlag>>32), replyTo&maxSeq
	i := g.index(stream, seq)
	if i < 0 || int(stream) != m {
		g.foreign.Add(1)
		return
	}
	if id != nil {
		if s, q, good := parseMessageID(id, g.tag); !good || s != stream || q != seq {
			g.foreign.Add(1)
			return
		}
	}
	if !ok {
		g.status[i].Store(msgFailed)
		return
	}
	now := g.clk.now()
	g.status[i].Store(msgAcked)
	g.firstTick.Record(now - g.sentAt[i].Load())
	g.acked.Add(1)
	storeMax(&g.lastAck, now)
}

func (g *groupRun) envelope(m int, e *pb.Envelope) {
	sentNs, stream, seq, ok := parseBody(e.Body)
	s2, q2, ok2 := parseMessageID(e.MessageId, g.tag)
	i := g.index(stream, seq)
	if !ok || !ok2 || s2 != stream || q2 != seq || i < 0 || int(stream) == m ||
		e.Type != pb.EnvelopeType_SENDER_KEY || string(e.GroupId) != string(g.groupID) || e.From != g.devs[stream].Handle {
		g.foreign.Add(1)
		return
	}
	now := g.clk.now()
	n := g.got[m][i]
	if n < 255 {
		g.got[m][i]++
	}
	if n > 0 {
		g.dups.Add(1)
		return
	}
	g.delivered.Add(1)
	g.fanout.Record(now - sentNs)
	storeMax(&g.lastDeliver, now)
	if g.reached[i].Add(1) == int32(g.cfg.Size-1) {
		g.lastMember.Record(now - sentNs)
		g.complete.Add(1)
	}
}

// receipt counts the DELIVERED receipts a sender gets for its messages.
func (g *groupRun) receipt(m int, rc *pb.Receipt) {
	for _, id := range rc.MessageIds {
		if stream, _, ok := parseMessageID(id, g.tag); ok && int(stream) == m {
			g.receiptIDs.Add(1)
		}
	}
}

// missing counts (acknowledged message, other member) pairs with no
// delivery. It runs after the readers stopped.
func (g *groupRun) missing() int64 {
	var n int64
	for i := range g.status {
		if g.status[i].Load() != msgAcked {
			continue
		}
		stream := i / g.cfg.Messages
		for m := range g.got {
			if m != stream && g.got[m][i] == 0 {
				n++
			}
		}
	}
	return n
}
