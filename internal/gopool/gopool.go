// Package gopool runs short tasks on goroutines that outlive them.
//
// A goroutine starts on a 2 KiB stack; a session's pump or ack worker,
// started for each burst of work and gone when idle (so an idle connection
// costs no goroutine), grew that stack again on every start: copying
// stacks was 6 % of the node's CPU at 20,000 msgs/s (docs/benchmarks.md).
// A Pool keeps up to a fixed number of finished goroutines waiting for the
// next task, so most tasks start on a stack that has grown already.
//
// The pool owns only its goroutines: it knows nothing of sessions, and a
// task must recover its own panics (one that escapes crashes the process,
// as it would from a plain go statement).
package gopool

import (
	"sync"
	"sync/atomic"
)

// Pool runs tasks on reused goroutines. The zero value is not usable; a
// nil *Pool runs every task on a new goroutine.
type Pool struct {
	work    chan func()
	max     int32
	workers atomic.Int32 // goroutines of the pool, busy or waiting
	extra   atomic.Int64 // tasks that found the pool full and ran on a goroutine of their own
	quit    chan struct{}
	once    sync.Once
}

// New makes a pool that keeps at most max goroutines.
func New(max int) *Pool {
	return &Pool{work: make(chan func()), max: int32(max), quit: make(chan struct{})}
}

// Go runs task on a waiting goroutine of the pool, or on a new one (which
// joins the pool if it has room). It never blocks.
func (p *Pool) Go(task func()) {
	if p == nil {
		go task()
		return
	}
	select {
	case p.work <- task: // a waiting worker took it
		return
	default:
	}
	if p.workers.Add(1) > p.max {
		p.workers.Add(-1)
		p.extra.Add(1)
		go task()
		return
	}
	go p.worker(task)
}

func (p *Pool) worker(task func()) {
	defer p.workers.Add(-1)
	for {
		task()
		select {
		case task = <-p.work:
		case <-p.quit:
			return
		}
	}
}

// Close lets waiting goroutines exit; tasks already running finish, and
// Go still works afterwards (on new goroutines that exit when done).
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.once.Do(func() { close(p.quit) })
}

// Workers counts the pool's goroutines, busy or waiting.
func (p *Pool) Workers() int {
	if p == nil {
		return 0
	}
	return int(p.workers.Load())
}
