package endtoend_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestKill9LosesNothing is issue 3 point 7: whatever `send` acknowledged
// with the first tick survives kill -9 of the node and reaches the offline
// recipient exactly once, in each sender's order.
func TestKill9LosesNothing(t *testing.T) {
	t.Parallel()
	sequential := 50
	const burstSenders, burstPerSender, killAfter = 4, 8, 6
	if testing.Short() {
		sequential = 15
	}

	data := filepath.Join(t.TempDir(), "data")
	n := startNode(t, data)
	addr := n.tcp
	bob := newDevice(t, addr)
	bob.register(t, "bob")
	senders := map[string]*device{"alice": newDevice(t, addr)}
	for i := range burstSenders {
		senders[fmt.Sprintf("sender%d", i)] = newDevice(t, addr)
	}
	for name, d := range senders {
		d.register(t, name)
	}
	// acked[sender] lists the message numbers whose `send` printed ✓.
	acked := map[string][]int{}

	// Phase 1: sequential sends, kill -9 right after the last first tick.
	for i := range sequential {
		senders["alice"].sendOK(t, "bob", msgText("alice", i))
		acked["alice"] = append(acked["alice"], i)
	}
	killNode(n)
	n = startNode(t, data, "--listen", addr)

	// Phase 2: several senders at once; kill -9 while sends are in flight.
	// A sender stops at its first failed send, so its acknowledged messages
	// are a prefix of its numbers; the failed one may or may not have been
	// stored before the kill (then it must still arrive only once).
	var (
		mu     sync.Mutex
		total  int // acknowledged burst sends
		failed int // burst sends cut off by the kill (in flight or refused)
		wg     sync.WaitGroup
		killed sync.Once
		down   atomic.Bool // set just before the kill
	)
	for s := range burstSenders {
		name := fmt.Sprintf("sender%d", s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range burstPerSender {
				r := senders[name].run(t, "send", "bob", msgText(name, i))
				if r.code != 0 || !strings.Contains(r.stdout, "✓ sent") {
					if !down.Load() {
						t.Errorf("a send failed while the node was up: %s", r)
					}
					mu.Lock()
					failed++
					mu.Unlock()
					return
				}
				mu.Lock()
				acked[name] = append(acked[name], i)
				total++
				kill := total == killAfter
				mu.Unlock()
				if kill {
					killed.Do(func() {
						down.Store(true)
						killNode(n)
					})
				}
			}
		}()
	}
	wg.Wait()
	if n.running() {
		t.Fatalf("the burst finished (%d acknowledged) without reaching the kill at %d", total, killAfter)
	}
	burstAcked := total
	n = startNode(t, data, "--listen", addr)

	r := bob.must(t, "recv", "--json")
	msgs, _ := messagesOf(t, r)
	checkExactlyOnce(t, msgs, acked)
	t.Logf("acknowledged: %d sequential + %d in the burst (%d burst sends cut off); bob received %d", sequential, burstAcked, failed, len(msgs))

	r = bob.must(t, "recv", "--json", "--timeout", "3s")
	if again, _ := messagesOf(t, r); len(again) != 0 {
		t.Errorf("a second recv showed %d more messages (duplicates?): %q", len(again), texts(again))
	}
}

func msgText(sender string, i int) string { return fmt.Sprintf("%s-%03d", sender, i) }

// checkExactlyOnce checks that msgs holds every acknowledged message once,
// nothing twice, nothing foreign, and each sender's messages in order.
func checkExactlyOnce(t *testing.T, msgs []recvLine, acked map[string][]int) {
	t.Helper()
	seenID := map[string]bool{}
	got := map[string][]int{}
	for _, m := range msgs {
		if seenID[m.ID] {
			t.Errorf("message id %s (%q) received twice", m.ID, m.Text)
		}
		seenID[m.ID] = true
		sender, num, ok := strings.Cut(m.Text, "-")
		i, err := strconv.Atoi(num)
		if !ok || err != nil || sender != m.From {
			t.Errorf("unexpected message %+v", m)
			continue
		}
		got[sender] = append(got[sender], i)
	}
	for sender, nums := range got {
		for k := 1; k < len(nums); k++ {
			if nums[k] <= nums[k-1] {
				t.Errorf("%s's messages out of order or repeated: %v", sender, nums)
				break
			}
		}
	}
	for sender, want := range acked {
		have := map[int]bool{}
		for _, i := range got[sender] {
			have[i] = true
		}
		var lost []int
		for _, i := range want {
			if !have[i] {
				lost = append(lost, i)
			}
		}
		if len(lost) > 0 {
			t.Errorf("%s: acknowledged messages %v never arrived (received %v)", sender, lost, got[sender])
		}
		// Beyond the acknowledged prefix at most the one in-flight send
		// may have been stored.
		if extra := len(got[sender]) - len(want); extra > 1 {
			t.Errorf("%s: %d messages arrived that were never acknowledged: received %v, acknowledged %v", sender, extra, got[sender], want)
		}
	}
}
