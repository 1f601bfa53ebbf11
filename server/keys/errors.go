package keys

import "errors"

// ErrIdentityMismatch means an upload carried an identity key other than the
// one the device registered with.
var ErrIdentityMismatch = errors.New("keys: identity key differs from the registered one")
