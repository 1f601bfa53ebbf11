// Package pebble is the node's embedded default store: store.Store on one
// Pebble (github.com/cockroachdb/pebble/v2) directory. It owns that
// directory's on-disk format and nothing else; it must not import the
// server, the SDK or the transport, and it never interprets key material or
// queue payloads.
//
// # Key layout
//
// Every key starts with one byte naming its kind, so each kind is one ordered
// range. Names (handles, invite codes) are written as a one-byte length and
// the bytes, so no name is a prefix of another; an address is
// name | device id (4 bytes, big-endian).
//
//	a | handle                          account
//	d | addr                            device (a user's devices are adjacent, by id)
//	n | noise key (32)                  addr: index for DeviceByKey
//	s | addr                            signed prekey
//	l | addr                            last-resort KEM prekey
//	o | addr | id (4, BE)               one-time prekey
//	m | addr | id (4, BE)               one-time KEM prekey
//	i | code                            invite
//	q | addr | seq (8, BE)              queue entry: version | expires | payload
//	c | addr                            seq ceiling: no seq above it handed out yet
//	x | expires (8) | addr | seq (8)    expiry index (entries with an expiry)
//
// A device's queue is one ordered range, so draining it is one iterator scan
// from after+1. The seq counter is a key of its own, written in the same
// batch as the entries, because a fully acknowledged queue has no entry left
// to recover the last seq from, and seqs must never be reused. It holds a
// ceiling that reserves the next 1,024 seqs, so it is rewritten once per
// 1,024 entries of a device rather than with every batch; a reopened store
// continues above the ceiling (seqs may skip, never repeat).
//
// Queue and expiry keys are each written once, so acknowledgement and
// expiry remove them with SingleDelete: when the deletion meets its Set in
// a flush or compaction both vanish, and a message acknowledged while it
// is still in the memtable never reaches an sstable at all. A plain Delete
// would leave a tombstone to be rewritten by every compaction down to the
// last level. The expiry
// index orders entries by expiry time (the sign bit of the Unix nanoseconds
// flipped so the order is numeric), so ExpireQueues costs what it deletes;
// ReadQueue and QueueDepth still filter expired entries themselves, so an
// entry is invisible from the moment it expires. A zero Expires means the
// entry never expires and has no index key.
//
// Values use a small versioned binary format (codec.go); every decoder
// rejects unknown versions, short input, oversized fields and trailing bytes,
// and has a fuzz target.
//
// # Group commit
//
// Enqueue, EnqueueAsync, Ack, AckAndEnqueue and ExpireQueues are requests to
// one committer goroutine. It
// takes every request pending on its channel (up to Options.MaxGroup), stages
// them in one batch, assigning seqs from per-device counters loaded lazily
// from the c keys, and commits the batch without a sync: it is readable at
// once. A second goroutine, the syncer, makes applied batches durable by
// writing an empty record with Sync (Pebble syncs the WAL through it, and
// the WAL holds batches in the order they became visible), then answers
// their callers in apply order. Batches applied while a sync runs, or
// within Options.MinSyncInterval of the last one, share the next sync; the
// committer never waits for the interval, so neither visibility nor an
// ack's answer does. Because seqs are
// assigned and applied by the same goroutine and a batch becomes visible
// atomically, a reader polling ReadQueue(after=last seen) can never see seq
// N before all lower seqs of that device. Stats reports syncs and entries
// so the group-commit factor can be exported as a metric.
//
// Visible before durable: EnqueueAsync's onVisible runs on the committer
// right after the apply, so the node hands a message to its recipient's
// session while the disk syncs, and the sender's first tick (Done) waits
// for the sync. Delivery latency then does not include an fdatasync (1 ms
// and more under load here, docs/benchmarks.md). A crash in that gap can
// lose the node's copy of a message a device already has; its sender was
// never answered (docs/protocol.md, "Delivery does not wait for the
// disk"). AckAndEnqueue's requests, which promise no sync of their own,
// are answered at the apply as well.
//
// EnqueueAsync returns once the request is on the committer's channel; the
// channel is FIFO and the committer stages requests in arrival order, so
// batches handed over one after another by one goroutine get increasing
// seqs even though their callers wait elsewhere (a session keeps up to 32
// Sends in flight this way without reordering the recipient's queue).
//
// AckAndEnqueue and Ack do their reads before the request reaches the
// committer (readAck), on the caller's goroutine, so concurrent acks read
// in parallel and the committer only writes: the entries that exist are
// found in a cache of recently written entries (recent.go: every way an
// entry leaves the queue removes it there first) or by a point read, and
// AckAndEnqueue's callback builds the receipts from them, reading the
// store through the context it is given (reads with that context skip
// closeMu, which readAck already holds). The acks of one device are
// serialised from their reads to their commit by a striped lock, so two
// acks of the same seq cannot both find it; a panic or a bad entry from the
// callback fails that request alone. The deletions and the receipts are
// then staged in one batch.
//
// Sync policy: a batch is committed with a sync when any request in it needs
// one: Enqueue, EnqueueAsync, Ack (whose contract promises a durable
// deletion) and ExpireQueues. AckAndEnqueue never waits for a sync of its
// own, with or without receipts (Stats.Unsynced): its batch is atomic and
// Pebble's WAL is one sequential log, so the next synced batch makes it
// durable, and a crash before that loses the deletions and the receipts
// together. The entries then come back and are delivered again; the device
// drops them as duplicates and acknowledges them again, which makes the
// receipts again. A DELIVERED receipt is therefore never lost, only
// delayed, and one applied twice changes nothing. (kill -9 loses nothing:
// the WAL write is in the page cache.) The saving is one fsync per message
// at the end of its life, and a recipient's next frame no longer waits
// behind its ack's sync.
//
// Devices are cached in memory (devcache.go): only CreateAccount writes
// them, it invalidates the handle, and a generation counter stops a reader
// that raced a write from caching what it read before it.
//
// Account, key and invite writes commit directly with a sync. CreateAccount
// and invite changes are serialised by one mutex; prekey changes by a
// per-device striped mutex, which makes TakeBundle's read-and-delete atomic.
//
// Close stops accepting work, answers requests still queued with
// store.ErrClosed, waits for the batch in flight and closes Pebble.
package pebble
