package gopool

import (
	"sync"
	"testing"
	"time"
)

// TestRunsEveryTask: more tasks than the pool keeps, all at once, each
// blocking until all have started, so the pool must start extra goroutines
// rather than queue (a queued task would deadlock this test).
func TestRunsEveryTask(t *testing.T) {
	for _, p := range []*Pool{New(4), nil} {
		const n = 32
		var started, done sync.WaitGroup
		started.Add(n)
		done.Add(n)
		release := make(chan struct{})
		for range n {
			p.Go(func() {
				started.Done()
				<-release
				done.Done()
			})
		}
		started.Wait()
		if got := p.Workers(); p != nil && got > 4 {
			t.Fatalf("pool holds %d goroutines, max 4", got)
		}
		close(release)
		done.Wait()
		p.Close()
	}
}

// TestReusesWaitingGoroutines: sequential tasks run on goroutines that
// waited between them. Workers never exit before Close, so without reuse
// the fifth task would already run outside the pool.
func TestReusesWaitingGoroutines(t *testing.T) {
	p := New(4)
	defer p.Close()
	for range 100 {
		ran := make(chan struct{})
		p.Go(func() { close(ran) })
		<-ran
		time.Sleep(200 * time.Microsecond) // the worker gets back to waiting
	}
	if n := p.extra.Load(); n != 0 {
		t.Fatalf("%d of 100 sequential tasks ran outside the pool", n)
	}
	if n := p.Workers(); n < 1 || n > 4 {
		t.Fatalf("pool holds %d goroutines, want 1..4", n)
	}
}

// TestCloseReleasesWaiting: after Close the waiting goroutines exit, and Go
// still runs tasks.
func TestCloseReleasesWaiting(t *testing.T) {
	p := New(4)
	ran := make(chan struct{})
	p.Go(func() { close(ran) })
	<-ran
	p.Close()
	waitFor(t, func() bool { return p.Workers() == 0 })
	again := make(chan struct{})
	p.Go(func() { close(again) })
	<-again
}

// waitFor polls cond: a worker counts itself out only after its task
// returned, so the count settles shortly after the task's own signal.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
