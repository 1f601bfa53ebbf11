package blob

import "fmt"

// MaxKeyLen bounds a key so that it fits in a file name and an S3 object
// name with room for the stores' own prefixes and suffixes.
const MaxKeyLen = 128

// ValidKey checks a key: 1 to MaxKeyLen bytes of ASCII letters, digits, '-'
// and '_'. There is no '.', '/' or '\\', so a key can never name a parent
// directory, a subdirectory, a hidden file or a store's temporary files; the
// node's random URL-safe base64 identifiers fit as they are.
func ValidKey(key string) error {
	if len(key) == 0 || len(key) > MaxKeyLen {
		return fmt.Errorf("%w: length %d not in 1..%d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return fmt.Errorf("%w: byte %#x at %d", ErrInvalidKey, c, i)
		}
	}
	return nil
}

// ValidPrefix checks a List prefix: empty, or a key's first bytes.
func ValidPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidKey(prefix)
}
