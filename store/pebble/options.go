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
	// point read and delete within one memtable at tens of thousands of
	// messages per second, so most queue churn never reaches an sstable
	// search. Pebble's default is 4 MB.
	DefaultMemTableSize = 32 << 20
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
