package pebble

import (
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Logger receives the store's own logs and Pebble's (Pebble's info
	// messages at debug level). Nil discards them.
	Logger *slog.Logger
	// Now is the clock used to hide expired entries from ReadQueue and
	// QueueDepth. Nil means time.Now.
	Now func() time.Time
	// MaxPayload bounds one queue entry's payload; Enqueue rejects larger
	// ones with ErrTooLarge. Zero means DefaultMaxPayload.
	MaxPayload int
	// MaxGroup bounds how many Enqueue/Ack requests share one batch and one
	// sync. Zero means DefaultMaxGroup.
	MaxGroup int
	// CacheSize is Pebble's block cache in bytes. Zero means
	// DefaultCacheSize.
	CacheSize int64
	// MemTableSize is the size of one Pebble memtable in bytes. Zero means
	// DefaultMemTableSize.
	MemTableSize uint64
	// MinSyncInterval is the least time between the starts of two WAL
	// syncs: batches applied sooner wait for their sync (not for being
	// applied or visible) and share it with what arrives meanwhile. Zero
	// means DefaultMinSyncInterval; negative means never wait.
	MinSyncInterval time.Duration

	// fs, set by tests only, is the filesystem Pebble uses (nil: the
	// OS's); visible_test.go holds the WAL's sync with it.
	fs vfs.FS
}

const (
	// DefaultMaxPayload leaves room above protocol.MaxFrameSize for the
	// router's envelope around a ciphertext.
	DefaultMaxPayload = 256 << 10
	// DefaultMaxGroup keeps one group's batch, and so the latency of its
	// first caller, bounded.
	DefaultMaxGroup = 512
	// MaxReadLimit caps ReadQueue's limit so one call cannot pull a whole
	// 30-day backlog into memory.
	MaxReadLimit = 10000
	// DefaultCacheSize is the block cache. Pebble's own default (8 MB) is
	// for embedding in small tools; a node reads account, device and
	// prekey records on every connection and Send.
	DefaultCacheSize = 64 << 20
	// DefaultMemTableSize keeps a delivered-and-acknowledged entry's put,
	// point read and delete within one memtable at 100,000 messages per
	// second (it fills in about 130 ms there, delivery p99 is ~60 ms), so
	// most queue churn never reaches an sstable search. Smaller inserts
	// faster, flushes in shorter bursts and holds 24 MiB less: 8 MiB
	// against the 32 MiB of rounds 1–5 was equal at max (104.8–117.4 k vs
	// 89.5–108.7 k msgs/s) and in a deep drain, with delivery p50 1.07–1.33
	// vs 1.25–1.52 ms at 20,000/s after warm-up; Pebble's default 4 MiB
	// drained a deep backlog a third slower (docs/benchmarks.md, sixth
	// round).
	DefaultMemTableSize = 8 << 20
	// DefaultMinSyncInterval trades at most this much first-tick latency,
	// and only when syncs come faster than 1/interval, for fewer fsyncs.
	DefaultMinSyncInterval = 500 * time.Microsecond
	// expireChunk bounds the deletions ExpireQueues puts in one batch, so a
	// large expiry does not stall senders waiting on the committer.
	expireChunk = 1000
)

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.MaxGroup <= 0 {
		o.MaxGroup = DefaultMaxGroup
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.MinSyncInterval == 0 {
		o.MinSyncInterval = DefaultMinSyncInterval
	}
	return o
}
