package media

import "errors"

// Sentinel errors. Grant and the token check wrap them, so callers use
// errors.Is.
var (
	// ErrTooLarge: a requested size is over Config.MaxSize.
	ErrTooLarge = errors.New("media: size over the node's limit")
	// ErrInvalidSize: a size is zero, negative or unparseable.
	ErrInvalidSize = errors.New("media: invalid size")
	// ErrBadToken: a slot token is malformed or its MAC does not match.
	ErrBadToken = errors.New("media: invalid slot token")
	// ErrExpiredToken: a slot token is authentic but past its expiry.
	ErrExpiredToken = errors.New("media: slot token expired")
	// ErrBadConfig: Config is missing something New needs.
	ErrBadConfig = errors.New("media: bad config")
)
