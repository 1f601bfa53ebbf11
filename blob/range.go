package blob

import "fmt"

// ClampRange checks a read request against a blob of size bytes and returns
// the number of bytes it covers. It is the one definition of Open's range
// rules, shared by every store.
func ClampRange(size, offset, length int64) (int64, error) {
	if offset < 0 || offset > size || length < -1 {
		return 0, fmt.Errorf("%w: offset %d length %d of %d bytes", ErrInvalidRange, offset, length, size)
	}
	n := size - offset
	if length >= 0 && length < n {
		n = length
	}
	return n, nil
}
