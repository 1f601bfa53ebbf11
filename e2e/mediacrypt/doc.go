// Package mediacrypt encrypts attachments as a streaming, chunked AEAD so a
// file of any size can be encrypted while it is read and decrypted while it
// is downloaded, in constant memory, with truncation, reordering,
// duplication and tampering all detected.
//
// Format (docs/crypto.md, "Media encryption", is the normative description):
//
//	header  = version (1 byte, 0x01) || chunk size (uint32, big endian) || salt (32 bytes)
//	key     = HKDF-SHA256(ikm = media key, salt = salt, info = "Parley media v1"), 32 bytes
//	chunk i = AES-256-GCM(key, nonce = uint88_be(i) || final flag, ad = header, plaintext_i)
//
// Every chunk but the last carries exactly chunk-size bytes of plaintext; the
// last carries 0..chunk-size bytes and is sealed with the final flag 0x01.
// It is empty only when the whole file is empty. This is the STREAM
// construction (Hoang, Reyhanitabar, Rogaway, Vizár), as age uses it.
//
// The package owns the media stream format only. It must not know about
// messages, uploads, blob stores or the e2e sessions that carry the media key
// and hashes; callers move those.
package mediacrypt
