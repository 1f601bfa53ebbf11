//go:build linux

package park

import (
	"fmt"
	"sync"
	"syscall"
	"time"
)

// events: readable, or the peer shut down its side; one event per ADD
// (EPOLLONESHOT), so the lot sees each parking at most once. EPOLLERR and
// EPOLLHUP are always reported.
const events = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// pipeIdx is the slot index the wake-up pipe's event carries.
const pipeIdx = ^uint32(0)

// Lot is the parking lot. Create it with New; Close ends it.
type Lot struct {
	opt  Options
	base time.Time // clock zero: times are monotonic ns since base
	epfd int
	pipe [2]int        // Close writes pipe[1]; the loop watches pipe[0]
	done chan struct{} // closed when the loop returned
	del  func(fd uintptr)
	noop func(fd uintptr)

	mu      sync.Mutex
	slots   []slot
	free    []uint32
	parked  int
	buckets map[int64][]ticket // sweep tick → parkings to look at then
	swept   int64              // the last tick swept
	closed  bool
}

// slot is one owner's place; rc is non-nil while something is parked in
// it. gen counts the slot's parkings, so a ticket names exactly one.
type slot struct {
	rc       syscall.RawConn
	wake     func()
	deadline int64 // ns since base; 0: none
	gen      uint32
	owned    bool
}

// New starts a lot and its goroutine.
func New(o Options) (*Lot, error) {
	o = o.withDefaults()
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("park: epoll_create1: %w", err)
	}
	l := &Lot{opt: o, base: time.Now(), epfd: epfd, done: make(chan struct{}), buckets: make(map[int64][]ticket)}
	if err := syscall.Pipe2(l.pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("park: pipe: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(-1)} // pipeIdx
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.pipe[0], &ev); err != nil {
		l.closeFDs()
		return nil, fmt.Errorf("park: watch pipe: %w", err)
	}
	l.del = func(fd uintptr) { _ = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) }
	l.noop = func(uintptr) {}
	l.swept = l.tick(l.now())
	go l.loop()
	return l, nil
}

func (l *Lot) closeFDs() {
	syscall.Close(l.pipe[0])
	syscall.Close(l.pipe[1])
	syscall.Close(l.epfd)
}

func (l *Lot) tick(ns int64) int64 { return ns / int64(l.opt.Resolution) }

// now is the lot's monotonic clock, immune to wall-clock steps.
func (l *Lot) now() int64 { return int64(time.Since(l.base)) }

// Park watches rc's socket and calls wake once, on the lot's goroutine,
// when it is readable or closed, when deadline (if not zero) has passed,
// on Wake(slot), or when the lot closes. wake must not block; the caller
// must not read the socket until wake ran. sl is the caller's slot from an
// earlier Park, or zero to get one: Park returns it, even with an error,
// and the caller keeps it until Free. On error nothing is parked and wake
// is never called.
func (l *Lot) Park(sl Slot, rc syscall.RawConn, deadline time.Time, wake func()) (Slot, error) {
	var dl int64
	if !deadline.IsZero() {
		dl = max(int64(deadline.Sub(l.base)), 1) // monotonic when deadline came from time.Now
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return sl, ErrClosed
	}
	if sl == 0 {
		var idx uint32
		if n := len(l.free); n > 0 {
			idx, l.free = l.free[n-1], l.free[:n-1]
		} else {
			idx = uint32(len(l.slots))
			l.slots = append(l.slots, slot{})
		}
		l.slots[idx].owned = true
		sl = Slot(idx + 1)
	}
	idx := uint32(sl - 1)
	s := &l.slots[idx]
	if !s.owned || s.rc != nil {
		return sl, fmt.Errorf("park: slot %d is not the caller's or already parked", sl)
	}
	if s.gen++; s.gen == 0 {
		s.gen = 1
	}
	t := mkTicket(idx, s.gen)
	// The watch is added under mu so that nothing can take the parking
	// before the socket is registered: a take always finds it registered
	// (or its socket closed) and its DEL cannot precede this ADD.
	ev := syscall.EpollEvent{Events: events, Fd: int32(idx), Pad: int32(s.gen)}
	var cerr error
	err := rc.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		if cerr == syscall.EEXIST { // left from a parking whose DEL was skipped
			cerr = syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		}
	})
	if err == nil {
		err = cerr
	}
	if err != nil {
		return sl, fmt.Errorf("park: watch socket: %w", err)
	}
	s.rc, s.wake, s.deadline = rc, wake, dl
	l.parked++
	l.scheduleLocked(t, dl, l.now())
	return sl, nil
}

// Wake ends what is parked in sl now, calling its wake on this goroutine,
// and reports whether anything was (false: woken already, or never
// parked).
func (l *Lot) Wake(sl Slot) bool {
	l.mu.Lock()
	rc, wake, ok := l.takeSlotLocked(sl)
	l.mu.Unlock()
	if ok {
		l.release(rc, wake)
	}
	return ok
}

// Free gives sl back: its owner is done with the socket. Anything still
// parked there is unwatched without waking.
func (l *Lot) Free(sl Slot) {
	l.mu.Lock()
	rc, _, ok := l.takeSlotLocked(sl)
	if idx := int(sl) - 1; idx >= 0 && idx < len(l.slots) && l.slots[idx].owned {
		l.slots[idx].owned = false
		l.free = append(l.free, uint32(idx))
	}
	l.mu.Unlock()
	if ok {
		_ = rc.Control(l.del)
	}
}

// Parked is the number of parkings in the lot.
func (l *Lot) Parked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.parked
}

// Close stops the lot and wakes every parking. Park fails afterwards;
// Wake and Free still work (there is nothing left to wake).
func (l *Lot) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	if _, err := syscall.Write(l.pipe[1], []byte{0}); err != nil {
		return fmt.Errorf("park: stop loop: %w", err)
	}
	<-l.done
	var all []parking
	l.mu.Lock()
	for i := range l.slots {
		if rc, wake, ok := l.takeSlotLocked(Slot(i + 1)); ok {
			all = append(all, parking{rc, wake})
		}
	}
	l.buckets = nil
	l.mu.Unlock()
	for _, p := range all {
		l.release(p.rc, p.wake)
	}
	l.closeFDs()
	return nil
}

type parking struct {
	rc   syscall.RawConn
	wake func()
}

// takeLocked ends parking t if it is still parked.
func (l *Lot) takeLocked(t ticket) (syscall.RawConn, func(), bool) {
	idx, gen := t.split()
	if int(idx) >= len(l.slots) || l.slots[idx].gen != gen {
		return nil, nil, false
	}
	return l.takeSlotLocked(Slot(idx + 1))
}

// takeSlotLocked ends whatever is parked in sl.
func (l *Lot) takeSlotLocked(sl Slot) (syscall.RawConn, func(), bool) {
	idx := int(sl) - 1
	if idx < 0 || idx >= len(l.slots) || l.slots[idx].rc == nil {
		return nil, nil, false
	}
	s := &l.slots[idx]
	rc, wake := s.rc, s.wake
	s.rc, s.wake, s.deadline = nil, nil, 0
	l.parked--
	return rc, wake, true
}

// release unwatches a taken parking's socket and wakes its owner. The DEL
// runs inside Control, so it cannot hit a descriptor number that was closed
// and reused; a closed socket left the epoll set when it closed.
func (l *Lot) release(rc syscall.RawConn, wake func()) {
	_ = rc.Control(l.del)
	wake()
}

// scheduleLocked puts t in the bucket of its deadline or of its next
// recheck, whichever comes first.
func (l *Lot) scheduleLocked(t ticket, deadline, now int64) {
	at := now + int64(l.opt.Recheck)
	if deadline != 0 && deadline < at {
		at = deadline
	}
	res := int64(l.opt.Resolution)
	tk := max((at+res-1)/res, l.swept+1)
	l.buckets[tk] = append(l.buckets[tk], t)
}

func (l *Lot) loop() {
	defer close(l.done)
	evs := make([]syscall.EpollEvent, 256)
	res := int64(l.opt.Resolution)
	for {
		now := l.now()
		l.mu.Lock()
		next := (l.swept + 1) * res
		l.mu.Unlock()
		ms := max((next-now+int64(time.Millisecond)-1)/int64(time.Millisecond), 0)
		n, err := syscall.EpollWait(l.epfd, evs, int(ms))
		if err != nil && err != syscall.EINTR {
			time.Sleep(l.opt.Resolution) // not expected; do not spin
		}
		for _, ev := range evs[:max(n, 0)] {
			idx := uint32(ev.Fd)
			if idx == pipeIdx {
				return
			}
			l.wakeTicket(mkTicket(idx, uint32(ev.Pad)))
		}
		l.sweep(l.now())
	}
}

// wakeTicket ends parking t, if still parked, and wakes its owner.
func (l *Lot) wakeTicket(t ticket) {
	l.mu.Lock()
	rc, wake, ok := l.takeLocked(t)
	l.mu.Unlock()
	if ok {
		l.release(rc, wake)
	}
}

// sweep wakes the parkings whose deadline passed or whose socket was closed
// under them, and reschedules the others it looked at.
func (l *Lot) sweep(now int64) {
	var due []parking
	l.mu.Lock()
	until := l.tick(now)
	if until <= l.swept {
		l.mu.Unlock()
		return
	}
	look := func(tk int64) {
		b := l.buckets[tk]
		delete(l.buckets, tk)
		for _, t := range b {
			idx, gen := t.split()
			s := &l.slots[idx]
			if s.rc == nil || s.gen != gen {
				continue // woken since, maybe parked again: then it has a newer ticket
			}
			if s.deadline != 0 && s.deadline <= now || s.rc.Control(l.noop) != nil {
				rc, wake, _ := l.takeLocked(t)
				due = append(due, parking{rc, wake})
				continue
			}
			l.scheduleLocked(t, s.deadline, now)
		}
	}
	if until-l.swept > int64(len(l.buckets)) { // a long gap: fewer buckets than ticks
		for tk := range l.buckets {
			if tk <= until {
				look(tk)
			}
		}
	} else {
		for tk := l.swept + 1; tk <= until; tk++ {
			look(tk)
		}
	}
	l.swept = until
	l.mu.Unlock()
	for _, p := range due {
		l.release(p.rc, p.wake)
	}
}
