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
//	c | addr                            last seq handed out to the device
//	x | expires (8) | addr | seq (8)    expiry index (entries with an expiry)
//
// A device's queue is one ordered range, so draining it is one iterator scan
// from after+1. The seq counter is a key of its own, written in the same
// batch as the entries, because a fully acknowledged queue has no entry left
// to recover the last seq from, and seqs must never be reused. The expiry
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
// from the c keys, commits the batch with one sync, then answers every caller.
// Senders that arrive during a sync therefore share the next one, and because
// seqs are assigned and committed by the same goroutine and a batch becomes
// visible atomically, a reader polling ReadQueue(after=last seen) can never
// see seq N before all lower seqs of that device. Stats reports syncs and
// entries so the group-commit factor can be exported as a metric.
//
// EnqueueAsync returns once the request is on the committer's channel; the
// channel is FIFO and the committer stages requests in arrival order, so
// batches handed over one after another by one goroutine get increasing
// seqs even though their callers wait elsewhere (a session keeps up to 32
// Sends in flight this way without reordering the recipient's queue).
//
// AckAndEnqueue stages the deletions and, from the entries that existed, the
// receipts its callback builds, in one batch: the callback runs on the
// committer between the reads and the writes of that request, reads the
// store through the context it is given (reads with that context skip
// closeMu: the committer holds the database open by construction, and taking
// closeMu there could deadlock behind a pending Close), and a panic or a bad
// entry from it fails that request alone.
//
// Sync policy: a batch is committed with a sync when any request in it needs
// one: Enqueue, EnqueueAsync, Ack (whose contract promises a durable
// deletion), ExpireQueues, and AckAndEnqueue when it queued receipts. A batch
// of AckAndEnqueue deletions that queued nothing (acks of receipts, of sync
// copies, of silent envelopes) is committed without a sync (Stats.Unsynced).
// Pebble's WAL is one sequential log, so the next synced batch makes those
// deletions durable too; a crash before that brings the entries back and
// they are delivered again, which devices absorb (duplicate message ids are
// dropped; a DELIVERED receipt applied twice changes nothing). The saving is
// one fsync per message at the end of its life. Nothing is lost this way:
// only a deletion can be undone by a crash, never an acknowledged write.
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
