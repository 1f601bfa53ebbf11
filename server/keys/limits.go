package keys

// Key sizes in libsignal's serialisation. The node checks only lengths and
// type bytes: verifying signatures is the fetching device's job, and the node
// must stay ignorant of the crypto so it can never be made to vouch for a key.
const (
	ECPublicKeySize  = 33   // 0x05 || X25519 u-coordinate
	ECKeyType        = 0x05 // libsignal's Curve25519 type byte
	KEMPublicKeySize = 1 + 1568
	KEMKeyType       = 0x0A // ML-KEM-1024 in libsignal's numbering
	SignatureSize    = 64   // XEdDSA

	// MaxStock bounds the one-time prekeys (and, separately, KEM prekeys) a
	// device may keep on the node, so repeated uploads cannot fill the disk.
	MaxStock = 1000
	// MaxDevicesPerFetch bounds how many bundles one FetchBundles may ask for.
	MaxDevicesPerFetch = 16
)
