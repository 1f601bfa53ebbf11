package e2e

// chain is one symmetric-key chain of the Double Ratchet, named by the
// sender's ratchet public key. For our sending chain ratchetPriv is set.
type chain struct {
	ratchetKey  PublicKey
	ratchetPriv PrivateKey
	key         [32]byte
	index       uint32       // counter of the next message key
	skipped     []skippedKey // receiving chains only, oldest first
}

type skippedKey struct {
	index uint32
	seed  [32]byte
}

// pendingPreKey is what Alice repeats in every message until Bob answers:
// the prekey ids and base key (and KEM ciphertext) he needs to derive the
// same session.
type pendingPreKey struct {
	preKeyID       *uint32
	signedPreKeyID uint32
	baseKey        PublicKey
	kemPreKeyID    *uint32
	kemCiphertext  []byte
	timestamp      int64 // unix seconds; informational
}

// sessionState is one Double Ratchet session.
type sessionState struct {
	version        uint8 // message version: versionKyber or versionPreKyber
	localIdentity  PublicKey
	remoteIdentity PublicKey
	rootKey        [32]byte
	prevCounter    uint32
	hasSender      bool
	sender         chain
	receivers      []chain // oldest first, at most maxReceiverChains
	pending        *pendingPreKey
	remoteRegID    uint32
	localRegID     uint32
	aliceBaseKey   []byte // 33-byte base key that started the session
}

func (s *sessionState) clone() *sessionState {
	c := *s
	c.sender.skipped = nil
	c.receivers = make([]chain, len(s.receivers))
	for i, r := range s.receivers {
		c.receivers[i] = r
		c.receivers[i].skipped = append([]skippedKey(nil), r.skipped...)
	}
	if s.pending != nil {
		p := *s.pending
		p.kemCiphertext = append([]byte(nil), s.pending.kemCiphertext...)
		c.pending = &p
	}
	c.aliceBaseKey = append([]byte(nil), s.aliceBaseKey...)
	return &c
}

// receiverChain returns the index of the receiving chain for key, or -1.
func (s *sessionState) receiverChain(key PublicKey) int {
	for i := range s.receivers {
		if s.receivers[i].ratchetKey.Equal(key) {
			return i
		}
	}
	return -1
}

func (s *sessionState) addReceiverChain(c chain) {
	s.receivers = append(s.receivers, c)
	if len(s.receivers) > maxReceiverChains {
		s.receivers = append(s.receivers[:0:0], s.receivers[len(s.receivers)-maxReceiverChains:]...)
	}
}

// SessionRecord holds the current session with one remote device and up to
// 40 archived ones (older sessions are still tried on decrypt, which is how
// simultaneous initiation and late messages resolve).
type SessionRecord struct {
	current  *sessionState
	previous []*sessionState // newest first
}

// archiveCurrent moves the current state to the front of the archive.
func (r *SessionRecord) archiveCurrent() {
	if r.current == nil {
		return
	}
	r.previous = append([]*sessionState{r.current}, r.previous...)
	if len(r.previous) > maxArchivedStates {
		r.previous = r.previous[:maxArchivedStates]
	}
	r.current = nil
}

// promote makes archived state i (replaced by s) current, archiving the old
// current one.
func (r *SessionRecord) promote(i int, s *sessionState) {
	r.previous = append(r.previous[:i:i], r.previous[i+1:]...)
	r.archiveCurrent()
	r.current = s
}

// findBaseKey reports whether any state was started by this Alice base key
// with this version (a retransmitted prekey message).
func (r *SessionRecord) findBaseKey(version uint8, baseKey []byte) bool {
	states := append([]*sessionState{r.current}, r.previous...)
	for _, s := range states {
		if s != nil && s.version == version && string(s.aliceBaseKey) == string(baseKey) {
			return true
		}
	}
	return false
}
