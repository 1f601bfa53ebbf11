package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/parley-im/parley/server/limits"
	"time"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
	"github.com/parley-im/parley/store"
)

// Config configures a Service. Zero values take the documented defaults.
type Config struct {
	Store store.Store
	// LowThreshold: a fetch that leaves fewer one-time prekeys or KEM prekeys
	// than this triggers Notify. Default 20.
	LowThreshold int
	// FetchRate is the bundles one requesting device may fetch per minute.
	// Default 120.
	FetchRate int
	// FetchBurst is how many bundles a device may fetch at once before
	// FetchRate applies: large enough for the first message to a full group
	// (one bundle per member device). Default 2048.
	FetchBurst int
	// PairRate and PairBurst bound the bundles one requesting device may take
	// from the devices of ONE user (per hour, and at once), so the large
	// burst above cannot be used to drain a single user's prekeys. Defaults
	// 20 per hour, burst 20.
	PairRate, PairBurst int
	// Notify is called (synchronously, so keep it cheap) when a fetch took a
	// device's stock under LowThreshold. Nil: nobody is told.
	Notify func(addr protocol.Address, low *pb.PrekeysLow)
	Now    func() time.Time
}

// Service is the keys service. Safe for concurrent use.
type Service struct {
	cfg     Config
	limiter *limits.Bucket[protocol.Address] // per requesting device
	pairs   *limits.Bucket[fetchPair]        // per requesting device and target user
}

// fetchPair is the key of the per-target limit.
type fetchPair struct {
	requester protocol.Address
	target    string
}

// New returns a keys service over cfg.Store.
func New(cfg Config) *Service {
	if cfg.LowThreshold <= 0 {
		cfg.LowThreshold = 20
	}
	if cfg.FetchRate <= 0 {
		cfg.FetchRate = 120
	}
	if cfg.FetchBurst <= 0 {
		cfg.FetchBurst = 2048
	}
	if cfg.PairRate <= 0 {
		cfg.PairRate = 20
	}
	if cfg.PairBurst <= 0 {
		cfg.PairBurst = 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{
		cfg:     cfg,
		limiter: limits.NewBucket[protocol.Address](cfg.FetchRate, cfg.FetchBurst, cfg.Now),
		pairs:   limits.NewBucketRate[fetchPair](float64(cfg.PairRate)/60, cfg.PairBurst, cfg.Now),
	}
}

// Threshold is the low-water mark devices are told about.
func (s *Service) Threshold() int { return s.cfg.LowThreshold }

// ValidateUpload checks an upload's shape: key lengths, type bytes, no
// duplicate ids. requireBase demands the keys a fresh registration needs
// (identity key, signed prekey, last-resort KEM key).
func ValidateUpload(u *pb.UploadKeys, requireBase bool) error {
	if u == nil {
		if requireBase {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "keys missing")
		}
		return nil
	}
	if requireBase {
		switch {
		case len(u.IdentityKey) == 0:
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "identity key missing")
		case u.SignedPreKey == nil:
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "signed prekey missing")
		case u.LastResortKemPreKey == nil:
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "last-resort KEM prekey missing")
		}
	}
	if len(u.IdentityKey) > 0 {
		if err := checkEC(u.IdentityKey); err != nil {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "identity key: %v", err)
		}
	}
	if k := u.SignedPreKey; k != nil {
		if err := checkEC(k.PublicKey); err != nil {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "signed prekey: %v", err)
		}
		if len(k.Signature) != SignatureSize {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "signed prekey: signature must be %d bytes", SignatureSize)
		}
	}
	if k := u.LastResortKemPreKey; k != nil {
		if err := checkKEM(k); err != nil {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "last-resort KEM prekey: %v", err)
		}
	}
	if len(u.PreKeys) > MaxStock || len(u.KemPreKeys) > MaxStock {
		return protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d prekeys per upload", MaxStock)
	}
	seen := make(map[uint32]bool, len(u.PreKeys))
	for _, k := range u.PreKeys {
		if err := checkEC(k.GetPublicKey()); err != nil {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "prekey %d: %v", k.GetId(), err)
		}
		if seen[k.GetId()] {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "prekey id %d twice", k.GetId())
		}
		seen[k.GetId()] = true
	}
	clear(seen)
	for _, k := range u.KemPreKeys {
		if err := checkKEM(k); err != nil {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "KEM prekey %d: %v", k.GetId(), err)
		}
		if seen[k.GetId()] {
			return protocol.Errorf(pb.ErrorCode_INVALID_ARGUMENT, "KEM prekey id %d twice", k.GetId())
		}
		seen[k.GetId()] = true
	}
	return nil
}

func checkEC(k []byte) error {
	if len(k) != ECPublicKeySize || k[0] != ECKeyType {
		return fmt.Errorf("want %d bytes starting 0x%02x", ECPublicKeySize, ECKeyType)
	}
	return nil
}

func checkKEM(k *pb.KEMPreKey) error {
	if k == nil || len(k.PublicKey) != KEMPublicKeySize || k.PublicKey[0] != KEMKeyType {
		return fmt.Errorf("want %d bytes starting 0x%02x", KEMPublicKeySize, KEMKeyType)
	}
	if len(k.Signature) != SignatureSize {
		return fmt.Errorf("signature must be %d bytes", SignatureSize)
	}
	return nil
}

// Upload stores a device's prekeys after ValidateUpload. registeredIdentity
// is the identity key the device registered with; an upload naming another
// one is refused (ErrIdentityMismatch wrapped in an INVALID_ARGUMENT error).
// It returns the stock after the upload.
func (s *Service) Upload(ctx context.Context, addr protocol.Address, u *pb.UploadKeys, registeredIdentity []byte) (store.KeyCounts, error) {
	if err := ValidateUpload(u, false); err != nil {
		return store.KeyCounts{}, err
	}
	if len(u.IdentityKey) > 0 && !bytes.Equal(u.IdentityKey, registeredIdentity) {
		return store.KeyCounts{}, &protocol.Error{Code: pb.ErrorCode_INVALID_ARGUMENT, Reason: ErrIdentityMismatch.Error()}
	}
	st := s.cfg.Store
	if len(u.PreKeys) > 0 || len(u.KemPreKeys) > 0 {
		have, err := st.KeyCounts(ctx, addr)
		if err != nil {
			return store.KeyCounts{}, fmt.Errorf("keys: count %s: %w", addr, err)
		}
		if have.PreKeys+len(u.PreKeys) > MaxStock || have.KEMPreKeys+len(u.KemPreKeys) > MaxStock {
			return store.KeyCounts{}, protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d one-time keys of each kind may be stored", MaxStock)
		}
	}
	if k := u.SignedPreKey; k != nil {
		if err := st.SetSignedPreKey(ctx, addr, store.SignedPreKey{ID: k.Id, PublicKey: k.PublicKey, Signature: k.Signature}); err != nil {
			return store.KeyCounts{}, fmt.Errorf("keys: signed prekey %s: %w", addr, err)
		}
	}
	if k := u.LastResortKemPreKey; k != nil {
		if err := st.SetLastResortKEMPreKey(ctx, addr, store.KEMPreKey{ID: k.Id, PublicKey: k.PublicKey, Signature: k.Signature}); err != nil {
			return store.KeyCounts{}, fmt.Errorf("keys: last-resort KEM prekey %s: %w", addr, err)
		}
	}
	if len(u.PreKeys) > 0 {
		ks := make([]store.PreKey, len(u.PreKeys))
		for i, k := range u.PreKeys {
			ks[i] = store.PreKey{ID: k.Id, PublicKey: k.PublicKey}
		}
		if err := st.AddPreKeys(ctx, addr, ks); err != nil {
			return store.KeyCounts{}, fmt.Errorf("keys: prekeys %s: %w", addr, err)
		}
	}
	if len(u.KemPreKeys) > 0 {
		ks := make([]store.KEMPreKey, len(u.KemPreKeys))
		for i, k := range u.KemPreKeys {
			ks[i] = store.KEMPreKey{ID: k.Id, PublicKey: k.PublicKey, Signature: k.Signature}
		}
		if err := st.AddKEMPreKeys(ctx, addr, ks); err != nil {
			return store.KeyCounts{}, fmt.Errorf("keys: KEM prekeys %s: %w", addr, err)
		}
	}
	c, err := st.KeyCounts(ctx, addr)
	if err != nil {
		return store.KeyCounts{}, fmt.Errorf("keys: count %s: %w", addr, err)
	}
	return c, nil
}

// Count returns a device's one-time key stock.
func (s *Service) Count(ctx context.Context, addr protocol.Address) (store.KeyCounts, error) {
	c, err := s.cfg.Store.KeyCounts(ctx, addr)
	if err != nil {
		return c, fmt.Errorf("keys: count %s: %w", addr, err)
	}
	return c, nil
}

// Low reports whether counts are under the threshold, as the PrekeysLow
// frame to send (nil when the stock is fine).
func (s *Service) Low(c store.KeyCounts) *pb.PrekeysLow {
	t := s.cfg.LowThreshold
	if c.PreKeys >= t && c.KEMPreKeys >= t {
		return nil
	}
	return &pb.PrekeysLow{PreKeys: uint32(c.PreKeys), KemPreKeys: uint32(c.KEMPreKeys), Threshold: uint32(t)}
}

// Fetch hands requester one bundle per requested device of user (every
// enabled device when deviceIDs is empty), consuming one-time keys. Each
// bundle costs the requester one token; without enough tokens nothing is
// consumed and the error is RATE_LIMITED with retry_after_ms.
func (s *Service) Fetch(ctx context.Context, requester protocol.Address, user string, deviceIDs []uint32) (*pb.Bundles, error) {
	if protocol.ValidateHandle(user) != nil {
		return nil, protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no user %q", user)
	}
	if len(deviceIDs) > MaxDevicesPerFetch {
		return nil, protocol.Errorf(pb.ErrorCode_TOO_LARGE, "at most %d devices per fetch", MaxDevicesPerFetch)
	}
	devs, err := s.cfg.Store.Devices(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no user %q", user)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: devices of %s: %w", user, err)
	}
	var want []protocol.Address
	if len(deviceIDs) == 0 {
		for _, d := range devs {
			if !d.Disabled {
				want = append(want, d.Address)
			}
		}
	} else {
		for _, id := range deviceIDs {
			found := false
			for _, d := range devs {
				if d.Address.Device == id && !d.Disabled {
					found = true
					want = append(want, d.Address)
					break
				}
			}
			if !found {
				return nil, protocol.Errorf(pb.ErrorCode_NOT_FOUND, "no device %s.%d", user, id)
			}
		}
	}
	if len(want) == 0 {
		return nil, protocol.Errorf(pb.ErrorCode_NOT_FOUND, "user %q has no devices", user)
	}
	if ok, wait := s.pairs.TakeN(fetchPair{requester, user}, len(want)); !ok {
		return nil, &protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Reason: "too many bundle fetches for " + user, RetryAfterMS: uint64(max(wait.Milliseconds(), 1))}
	}
	if ok, wait := s.limiter.TakeN(requester, len(want)); !ok {
		return nil, &protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Reason: "too many bundle fetches", RetryAfterMS: uint64(max(wait.Milliseconds(), 1))}
	}
	out := &pb.Bundles{User: user, Bundles: make([]*pb.Bundle, 0, len(want))}
	for _, a := range want {
		b, err := s.cfg.Store.TakeBundle(ctx, a)
		if errors.Is(err, store.ErrNotFound) {
			return nil, protocol.Errorf(pb.ErrorCode_NOT_FOUND, "device %s has no keys", a)
		}
		if err != nil {
			return nil, fmt.Errorf("keys: bundle %s: %w", a, err)
		}
		out.Bundles = append(out.Bundles, bundleProto(b))
		s.checkLow(ctx, a, b)
	}
	return out, nil
}

// checkLow notifies when this fetch is the one that crossed the threshold,
// so a device is told once per crossing, not on every fetch after.
func (s *Service) checkLow(ctx context.Context, a protocol.Address, b store.Bundle) {
	if s.cfg.Notify == nil {
		return
	}
	c, err := s.cfg.Store.KeyCounts(ctx, a)
	if err != nil {
		return
	}
	t := s.cfg.LowThreshold
	crossed := (b.PreKey != nil && c.PreKeys == t-1) || (!b.KEMLastResort && c.KEMPreKeys == t-1)
	if low := s.Low(c); low != nil && crossed {
		s.cfg.Notify(a, low)
	}
}

func bundleProto(b store.Bundle) *pb.Bundle {
	out := &pb.Bundle{
		DeviceId:       b.Device.Address.Device,
		RegistrationId: b.Device.RegistrationID,
		IdentityKey:    b.Device.IdentityKey,
		SignedPreKey:   &pb.SignedPreKey{Id: b.SignedPreKey.ID, PublicKey: b.SignedPreKey.PublicKey, Signature: b.SignedPreKey.Signature},
		KemPreKey:      &pb.KEMPreKey{Id: b.KEMPreKey.ID, PublicKey: b.KEMPreKey.PublicKey, Signature: b.KEMPreKey.Signature},
	}
	if b.PreKey != nil {
		out.PreKey = &pb.PreKey{Id: b.PreKey.ID, PublicKey: b.PreKey.PublicKey}
	}
	return out
}
