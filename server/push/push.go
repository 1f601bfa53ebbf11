package push

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/store"
)

// Headers of a webhook call. The signature is
// hex(HMAC-SHA256(secret, timestamp + "." + body)), so a captured call
// cannot be replayed with another timestamp.
const (
	SignatureHeader = "X-Parley-Signature" // "sha256=" + hex
	TimestampHeader = "X-Parley-Timestamp" // Unix seconds
)

// Notice is one device's entry in a batch.
type Notice struct {
	Device   string `json:"device"` // "user.device"
	Token    string `json:"token"`
	Platform string `json:"platform"`
	Count    int    `json:"count"` // entries queued for it in this window
}

// Batch is the webhook's JSON body.
type Batch struct {
	Notices []Notice `json:"notices"`
}

// Config configures a Service. Zero values take the documented defaults.
type Config struct {
	// URL is the gateway's webhook (http or https). Required.
	URL string
	// Secret keys the HMAC signature. Required.
	Secret []byte
	// Token looks up a device's push token; store.ErrNotFound: none.
	Token func(ctx context.Context, a protocol.Address) (store.PushToken, error)
	// Online reports whether a device has a session now: such a device
	// gets no push even if it was offline when its entry was queued.
	Online func(a protocol.Address) bool
	// Window is how long notices gather before a batch is sent. Default 500 ms.
	Window time.Duration
	// MaxBatch sends a batch early once this many devices wait. Default 100.
	MaxBatch int
	// QueueSize bounds the devices waiting; beyond it the oldest notice is
	// dropped. Default 10000.
	QueueSize int
	// Attempts bounds the calls per batch (first + retries). Default 6.
	Attempts int
	// Backoff is the first retry delay, doubled per retry up to MaxBackoff.
	// Defaults 250 ms and 30 s.
	Backoff, MaxBackoff time.Duration
	// HTTP defaults to a client with a 10 s timeout.
	HTTP *http.Client
	// Logger defaults to discard.
	Logger *slog.Logger
	// Now is the clock for the signature timestamp. Default time.Now.
	Now func() time.Time
	// OnBatch, OnDrop and OnNotices feed metrics; each may be nil.
	OnBatch   func(ok bool)
	OnDrop    func()
	OnNotices func(n int)
}

// Service is the supervised push sender.
type Service struct {
	cfg  Config
	wake chan struct{}

	mu      sync.Mutex
	counts  map[protocol.Address]int // guarded by mu: devices waiting → entries
	order   []protocol.Address       // guarded by mu: arrival order, oldest first
	dropped int                      // guarded by mu: order entries whose count was dropped
}

// New checks cfg and makes a Service; run it with Serve.
func New(cfg Config) (*Service, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: push URL %q: want http(s)://host/path", ErrConfig, cfg.URL)
	}
	if len(cfg.Secret) == 0 {
		return nil, fmt.Errorf("%w: push secret is empty", ErrConfig)
	}
	if cfg.Token == nil || cfg.Online == nil {
		return nil, fmt.Errorf("%w: Token and Online are required", ErrConfig)
	}
	defD := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defI := func(i *int, v int) {
		if *i <= 0 {
			*i = v
		}
	}
	defD(&cfg.Window, 500*time.Millisecond)
	defD(&cfg.Backoff, 250*time.Millisecond)
	defD(&cfg.MaxBackoff, 30*time.Second)
	defI(&cfg.MaxBatch, 100)
	defI(&cfg.QueueSize, 10000)
	defI(&cfg.Attempts, 6)
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, wake: make(chan struct{}, 1), counts: make(map[protocol.Address]int)}, nil
}

func (s *Service) String() string { return "push" }

// Notify records that n entries were queued for a device that had no
// session. It never blocks.
func (s *Service) Notify(a protocol.Address, n int) {
	if s == nil || n <= 0 {
		return
	}
	s.mu.Lock()
	if _, ok := s.counts[a]; ok {
		s.counts[a] += n
		s.mu.Unlock()
		return
	}
	s.counts[a] = n
	s.order = append(s.order, a)
	drops := 0
	for len(s.counts) > s.cfg.QueueSize {
		old := s.order[0]
		s.order = s.order[1:]
		if _, ok := s.counts[old]; ok {
			delete(s.counts, old)
			drops++
		}
	}
	full := len(s.counts) >= s.cfg.MaxBatch
	s.mu.Unlock()
	for range drops {
		if s.cfg.OnDrop != nil {
			s.cfg.OnDrop()
		}
	}
	if full {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// Pending is how many devices wait for a push.
func (s *Service) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}

// Serve sends batches until ctx ends; what is still waiting then is
// dropped (the devices' queues are intact: they drain on next connect).
func (s *Service) Serve(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Window)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-s.wake:
		}
		for {
			batch := s.take()
			if len(batch) == 0 {
				break
			}
			s.send(ctx, batch)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if len(batch) < s.cfg.MaxBatch {
				break
			}
		}
	}
}

type waiting struct {
	addr  protocol.Address
	count int
}

// take removes up to MaxBatch waiting devices, oldest first.
func (s *Service) take() []waiting {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []waiting
	i := 0
	for ; i < len(s.order) && len(out) < s.cfg.MaxBatch; i++ {
		a := s.order[i]
		if c, ok := s.counts[a]; ok {
			out = append(out, waiting{a, c})
			delete(s.counts, a)
		}
	}
	s.order = append(s.order[:0:0], s.order[i:]...)
	return out
}

// send turns waiting devices into notices (skipping those online now or
// without a token) and posts them, retrying with backoff.
func (s *Service) send(ctx context.Context, ws []waiting) {
	var b Batch
	for _, w := range ws {
		if s.cfg.Online(w.addr) {
			continue
		}
		tok, err := s.cfg.Token(ctx, w.addr)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			s.cfg.Logger.Warn("push token lookup failed", "device", w.addr.String(), "err", err)
			continue
		}
		b.Notices = append(b.Notices, Notice{Device: w.addr.String(), Token: tok.Token, Platform: tok.Platform, Count: w.count})
	}
	if len(b.Notices) == 0 {
		return
	}
	body, err := json.Marshal(b)
	if err != nil {
		s.cfg.Logger.Error("push batch", "err", err)
		return
	}
	delay := s.cfg.Backoff
	for attempt := 1; ; attempt++ {
		err := s.post(ctx, body)
		if s.cfg.OnBatch != nil {
			s.cfg.OnBatch(err == nil)
		}
		if err == nil {
			if s.cfg.OnNotices != nil {
				s.cfg.OnNotices(len(b.Notices))
			}
			return
		}
		if attempt >= s.cfg.Attempts {
			s.cfg.Logger.Warn("push batch dropped after retries", "devices", len(b.Notices), "attempts", attempt, "err", err)
			return
		}
		s.cfg.Logger.Debug("push batch failed; retrying", "attempt", attempt, "in", delay, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, s.cfg.MaxBackoff)
	}
}

func (s *Service) post(ctx context.Context, body []byte) error {
	ts := strconv.FormatInt(s.cfg.Now().Unix(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrGateway, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(TimestampHeader, ts)
	req.Header.Set(SignatureHeader, "sha256="+Sign(s.cfg.Secret, ts, body))
	resp, err := s.cfg.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrGateway, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: %s", ErrGateway, resp.Status)
	}
	return nil
}

// Sign computes the signature a gateway checks: hex HMAC-SHA256 over
// timestamp "." body.
func Sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header value ("sha256=HEX") in constant time:
// what a gateway written in Go would call.
func Verify(secret []byte, timestamp string, body []byte, header string) bool {
	want := "sha256=" + Sign(secret, timestamp, body)
	return hmac.Equal([]byte(header), []byte(want))
}
