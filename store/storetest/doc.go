// Package storetest is the conformance suite every store.Store
// implementation must pass: Run for behaviour on a fresh store and
// RunDurable for what must survive Close and reopen. It owns only the
// contract's tests; it must not import an implementation.
//
// Beyond the comments in package store, the suite pins down these points of
// the contract:
//   - times are compared with time.Time.Equal (location and monotonic
//     readings need not survive);
//   - an Entry with a zero Expires never expires;
//   - seqs start above 0 (so after=0 reads a whole queue);
//   - prekey operations and KeyCounts on an unknown device fail with
//     ErrNotFound, and so does RevokeInvite of an unknown code;
//   - CreateInvite refuses a code that exists;
//   - Ack returns the deleted entries with their payloads; a seq named twice
//     is returned once;
//   - after Close every method fails with ErrClosed, a second Close does not
//     panic, and Close returns while other goroutines keep calling the store
//     (each of their calls then succeeds or fails with ErrClosed).
package storetest
