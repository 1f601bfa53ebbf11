package presence

import (
	"slices"
	"sync"
)

// MaxSubscriptions bounds one subscriber's users.
const MaxSubscriptions = 256

// Sub is one connection's subscription set. Viewer is the subscribing
// user; Push is called with the change (lastSeenMS is the disconnect
// time when going offline) (never under the registry's lock) for each change
// of a subscribed user and must not block.
type Sub struct {
	Viewer string
	Push   func(target string, online bool, lastSeenMS int64)
	users  []string // guarded by Registry.mu
}

// Registry is safe for concurrent use. The zero value is not usable; call
// New.
type Registry struct {
	mu     sync.Mutex
	online map[string]int               // guarded by mu: user → authenticated connections
	subs   map[string]map[*Sub]struct{} // guarded by mu: target → subscribers
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{online: make(map[string]int), subs: make(map[string]map[*Sub]struct{})}
}

// Connect counts one more connection of user. When it is the first, it
// returns the subscribers to tell (first is true).
func (r *Registry) Connect(user string) (first bool, subs []*Sub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.online[user]++
	if r.online[user] != 1 {
		return false, nil
	}
	return true, r.subsLocked(user)
}

// Disconnect counts one connection less. When it was the last, it returns
// the subscribers to tell (last is true).
func (r *Registry) Disconnect(user string) (last bool, subs []*Sub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.online[user] - 1
	if n > 0 {
		r.online[user] = n
		return false, nil
	}
	delete(r.online, user)
	return true, r.subsLocked(user)
}

func (r *Registry) subsLocked(user string) []*Sub {
	m := r.subs[user]
	out := make([]*Sub, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	return out
}

// Online reports whether user has an authenticated connection.
func (r *Registry) Online(user string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.online[user] > 0
}

// Subscribe replaces s's subscriptions with users (deduplicated; the
// caller bounds the count by MaxSubscriptions).
func (r *Registry) Subscribe(s *Sub, users []string) {
	users = slices.Compact(slices.Sorted(slices.Values(users)))
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropLocked(s)
	s.users = users
	for _, u := range users {
		m := r.subs[u]
		if m == nil {
			m = make(map[*Sub]struct{})
			r.subs[u] = m
		}
		m[s] = struct{}{}
	}
}

// Unsubscribe drops every subscription of s.
func (r *Registry) Unsubscribe(s *Sub) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropLocked(s)
}

func (r *Registry) dropLocked(s *Sub) {
	for _, u := range s.users {
		if m := r.subs[u]; m != nil {
			delete(m, s)
			if len(m) == 0 {
				delete(r.subs, u)
			}
		}
	}
	s.users = nil
}

// Subscribers counts the subscriptions to user (for tests and metrics).
func (r *Registry) Subscribers(user string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.subs[user])
}
