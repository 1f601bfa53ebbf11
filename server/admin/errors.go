package admin

import "errors"

// ErrUnauthorized is returned by Client when the node refused the token.
var ErrUnauthorized = errors.New("admin: token refused")

// ErrNotFound is returned by Client when the named object does not exist.
var ErrNotFound = errors.New("admin: not found")
