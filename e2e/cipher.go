package e2e

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// maxPlaintextLen leaves room for padding, header and MAC within maxMessageLen.
const maxPlaintextLen = maxMessageLen - 4096

// Encrypt encrypts plaintext for remote with the current session, advancing
// the sending chain. Until the remote has answered, the result is a
// PreKeyMessage carrying what it needs to start the session.
//
// Operations on one remote address must be serialised by the caller (the
// record is loaded, advanced and stored); different addresses may run
// concurrently.
func Encrypt(ctx context.Context, cfg Config, s Stores, remote Address, plaintext []byte) (Ciphertext, error) {
	if len(plaintext) > maxPlaintextLen {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: plaintext of %d bytes exceeds %d", remote, len(plaintext), maxPlaintextLen)
	}
	rec, err := s.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, err)
	}
	if rec == nil || rec.current == nil || !rec.current.hasSender {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, ErrNoSession)
	}
	st := rec.current
	trusted, err := s.Identity.IsTrustedIdentity(ctx, remote, st.remoteIdentity, Sending)
	if err != nil {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, err)
	}
	if !trusted {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, ErrUntrustedIdentity)
	}

	seed := chainStep(&st.sender.key, messageKeySeed)
	mk := deriveMessageKeys(&seed, st.sender.index)
	body, err := encryptCBC(&mk, plaintext)
	if err != nil {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, err)
	}
	msg, err := encodeSignalMessage(st.version, &mk.macKey, st.sender.ratchetKey, st.sender.index, st.prevCounter,
		body, st.localIdentity, st.remoteIdentity)
	if err != nil {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, err)
	}
	out := Ciphertext{Type: WhisperMessage, Body: msg}
	if st.pending != nil {
		msg, err = encodePreKeySignalMessage(st.version, st.localRegID, st.pending, st.localIdentity, msg)
		if err != nil {
			return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, err)
		}
		out = Ciphertext{Type: PreKeyMessage, Body: msg}
	}
	st.sender.key = chainStep(&st.sender.key, chainKeySeed)
	st.sender.index++

	if _, err := s.Identity.SaveIdentity(ctx, remote, st.remoteIdentity); err != nil {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, err)
	}
	if err := s.Sessions.StoreSession(ctx, remote, rec); err != nil {
		return Ciphertext{}, fmt.Errorf("encrypt to %s: %w", remote, err)
	}
	return out, nil
}

// Decrypt decrypts a message from remote. A PreKeyMessage may start a new
// session (consuming the named one-time prekeys only once the message has
// authenticated). Nothing is stored unless decryption succeeds, so a forged,
// replayed or corrupted message leaves the session untouched.
func Decrypt(ctx context.Context, cfg Config, s Stores, remote Address, msg Ciphertext) ([]byte, error) {
	if len(msg.Body) > maxMessageLen {
		return nil, fmt.Errorf("decrypt from %s: %d bytes: %w", remote, len(msg.Body), ErrInvalidMessage)
	}
	switch msg.Type {
	case WhisperMessage:
		return decryptWhisper(ctx, cfg, s, remote, msg.Body)
	case PreKeyMessage:
		return decryptPreKey(ctx, cfg, s, remote, msg.Body)
	default:
		return nil, fmt.Errorf("decrypt from %s: message type %d: %w", remote, int(msg.Type), ErrInvalidMessage)
	}
}

func decryptWhisper(ctx context.Context, cfg Config, s Stores, remote Address, body []byte) ([]byte, error) {
	sm, err := parseSignalMessage(body)
	if err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	rec, err := s.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	if rec == nil || (rec.current == nil && len(rec.previous) == 0) {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, ErrNoSession)
	}
	pt, err := decryptWithRecord(cfg, rec, sm)
	if err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	if err := commitReceived(ctx, s, remote, rec); err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	return pt, nil
}

func decryptPreKey(ctx context.Context, cfg Config, s Stores, remote Address, body []byte) ([]byte, error) {
	m, err := parsePreKeySignalMessage(body)
	if err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	trusted, err := s.Identity.IsTrustedIdentity(ctx, remote, m.identityKey, Receiving)
	if err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	if !trusted {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, ErrUntrustedIdentity)
	}
	rec, err := s.Sessions.LoadSession(ctx, remote)
	if err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	if rec == nil {
		rec = &SessionRecord{}
	}
	use, err := processPreKeyMessage(ctx, cfg, s, rec, m)
	if err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	pt, err := decryptWithRecord(cfg, rec, m.message)
	if err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	if err := commitReceived(ctx, s, remote, rec); err != nil {
		return nil, fmt.Errorf("decrypt from %s: %w", remote, err)
	}
	if use.preKeyID != nil {
		if err := s.PreKeys.RemovePreKey(ctx, *use.preKeyID); err != nil {
			return nil, fmt.Errorf("decrypt from %s: remove prekey: %w", remote, err)
		}
	}
	if use.kemPreKeyID != nil {
		if err := s.KEMPreKeys.MarkKEMPreKeyUsed(ctx, *use.kemPreKeyID); err != nil {
			return nil, fmt.Errorf("decrypt from %s: mark KEM prekey: %w", remote, err)
		}
	}
	return pt, nil
}

// commitReceived checks the (now authenticated) sender identity against the
// identity store and persists the advanced record.
func commitReceived(ctx context.Context, s Stores, remote Address, rec *SessionRecord) error {
	id := rec.current.remoteIdentity
	trusted, err := s.Identity.IsTrustedIdentity(ctx, remote, id, Receiving)
	if err != nil {
		return err
	}
	if !trusted {
		return ErrUntrustedIdentity
	}
	if _, err := s.Identity.SaveIdentity(ctx, remote, id); err != nil {
		return err
	}
	return s.Sessions.StoreSession(ctx, remote, rec)
}

// decryptWithRecord tries the current state, then each archived one; the
// state that decrypts becomes current. Each attempt works on a copy, so a
// failed attempt changes nothing.
func decryptWithRecord(cfg Config, rec *SessionRecord, sm *signalMessage) ([]byte, error) {
	var firstErr error
	if rec.current != nil {
		st := rec.current.clone()
		pt, err := decryptWithState(cfg, st, sm)
		if err == nil {
			rec.current = st
			return pt, nil
		}
		if errors.Is(err, ErrDuplicateMessage) {
			return nil, err
		}
		firstErr = err
	}
	for i, prev := range rec.previous {
		st := prev.clone()
		pt, err := decryptWithState(cfg, st, sm)
		if err == nil {
			rec.promote(i, st)
			return pt, nil
		}
		if errors.Is(err, ErrDuplicateMessage) {
			return nil, err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil || !errors.Is(firstErr, ErrTooManySkipped) {
		return nil, fmt.Errorf("no session state decrypts the message: %w", ErrInvalidMessage)
	}
	return nil, firstErr
}

// decryptWithState runs the receiving half of the Double Ratchet on st.
func decryptWithState(cfg Config, st *sessionState, sm *signalMessage) ([]byte, error) {
	if sm.version != st.version {
		return nil, fmt.Errorf("message version %d, session %d: %w", sm.version, st.version, ErrInvalidMessage)
	}
	if !st.hasSender {
		return nil, fmt.Errorf("session has no sending chain: %w", ErrInvalidMessage)
	}
	idx := st.receiverChain(sm.ratchetKey)
	if idx < 0 {
		if sm.counter > cfg.maxSkip() {
			return nil, fmt.Errorf("counter %d on a new chain: %w", sm.counter, ErrTooManySkipped)
		}
		if err := dhRatchet(cfg, st, sm.ratchetKey); err != nil {
			return nil, err
		}
		idx = len(st.receivers) - 1
	}
	mk, err := receiveKey(cfg, &st.receivers[idx], sm.counter)
	if err != nil {
		return nil, err
	}
	if !sm.verifyMAC(&mk.macKey, st.remoteIdentity, st.localIdentity) {
		return nil, fmt.Errorf("bad MAC: %w", ErrInvalidMessage)
	}
	pt, err := decryptCBC(&mk, sm.ciphertext)
	if err != nil {
		return nil, err
	}
	// The remote has our session: stop sending prekey messages.
	st.pending = nil
	return pt, nil
}

// dhRatchet performs the DH ratchet step for a new remote ratchet key: a new
// receiving chain from DH(our current ratchet key, theirs), then a fresh
// ratchet key pair and a new sending chain from DH(new key, theirs).
func dhRatchet(cfg Config, st *sessionState, theirs PublicKey) error {
	root1, recvCK, err := createChain(&st.rootKey, theirs, st.sender.ratchetPriv)
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrInvalidMessage)
	}
	ours, err := GenerateKeyPair(cfg.rand())
	if err != nil {
		return err
	}
	root2, sendCK, err := createChain(&root1, theirs, ours.Private)
	if err != nil {
		return fmt.Errorf("%v: %w", err, ErrInvalidMessage)
	}
	st.addReceiverChain(chain{ratchetKey: theirs, key: recvCK})
	if st.sender.index > 0 {
		st.prevCounter = st.sender.index - 1
	} else {
		st.prevCounter = 0
	}
	st.rootKey = root2
	st.sender = chain{ratchetKey: ours.Public, ratchetPriv: ours.Private, key: sendCK}
	return nil
}

// receiveKey returns the message keys for counter on c: a stored skipped key
// for a late message, or the chain advanced to counter (storing the keys it
// skips, at most MaxSkip of them, oldest dropped first).
func receiveKey(cfg Config, c *chain, counter uint32) (messageKeys, error) {
	if counter < c.index {
		for i, k := range c.skipped {
			if k.index == counter {
				c.skipped = append(c.skipped[:i:i], c.skipped[i+1:]...)
				return deriveMessageKeys(&k.seed, counter), nil
			}
		}
		return messageKeys{}, fmt.Errorf("counter %d already received: %w", counter, ErrDuplicateMessage)
	}
	limit := cfg.maxSkip()
	if counter-c.index > limit {
		return messageKeys{}, fmt.Errorf("counter %d is %d ahead of the chain (limit %d): %w",
			counter, counter-c.index, limit, ErrTooManySkipped)
	}
	for c.index < counter {
		c.skipped = append(c.skipped, skippedKey{index: c.index, seed: chainStep(&c.key, messageKeySeed)})
		c.key = chainStep(&c.key, chainKeySeed)
		c.index++
	}
	if over := len(c.skipped) - int(limit); over > 0 {
		c.skipped = append(c.skipped[:0:0], c.skipped[over:]...)
	}
	seed := chainStep(&c.key, messageKeySeed)
	c.key = chainStep(&c.key, chainKeySeed)
	c.index++
	return deriveMessageKeys(&seed, counter), nil
}

// encryptCBC is AES-256-CBC with PKCS#7 padding, as libsignal encrypts
// message bodies.
func encryptCBC(mk *messageKeys, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(mk.cipherKey[:])
	if err != nil {
		return nil, err
	}
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	buf := make([]byte, len(plaintext)+pad)
	copy(buf, plaintext)
	for i := len(plaintext); i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	cipher.NewCBCEncrypter(block, mk.iv[:]).CryptBlocks(buf, buf)
	return buf, nil
}

func decryptCBC(mk *messageKeys, ct []byte) ([]byte, error) {
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("ciphertext length %d: %w", len(ct), ErrInvalidMessage)
	}
	block, err := aes.NewCipher(mk.cipherKey[:])
	if err != nil {
		return nil, err
	}
	buf := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, mk.iv[:]).CryptBlocks(buf, ct)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize {
		return nil, fmt.Errorf("bad padding: %w", ErrInvalidMessage)
	}
	for _, b := range buf[len(buf)-pad:] {
		if int(b) != pad {
			return nil, fmt.Errorf("bad padding: %w", ErrInvalidMessage)
		}
	}
	return buf[:len(buf)-pad], nil
}
