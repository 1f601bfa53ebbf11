package client

import (
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/protocol"
	"github.com/parley-im/parley/protocol/pb"
)

// paddingBucket: padded Content lengths are multiples of this, so the
// ciphertext size reveals only a bucket, not the text's length.
const paddingBucket = 160

// encodeContent serialises c with random padding so the result's length is
// a multiple of paddingBucket. c.Padding is overwritten.
func encodeContent(rand io.Reader, c *pb.Content) ([]byte, error) {
	c.Padding = nil
	base := proto.Size(c)
	// The padding field costs 1 tag byte + 1-2 length bytes + its data; try
	// the next buckets until one fits exactly.
	for target := (base/paddingBucket + 1) * paddingBucket; target <= base+3*paddingBucket; target += paddingBucket {
		for lenBytes := 1; lenBytes <= 2; lenBytes++ {
			n := target - base - 1 - lenBytes
			if n < 0 || (n < 128) != (lenBytes == 1) {
				continue
			}
			pad := make([]byte, n)
			if _, err := io.ReadFull(rand, pad); err != nil {
				return nil, fmt.Errorf("padding: %w", err)
			}
			c.Padding = pad
			b, err := proto.Marshal(c)
			if err != nil {
				return nil, fmt.Errorf("encode content: %w", err)
			}
			if len(b)%paddingBucket == 0 {
				return b, nil
			}
		}
	}
	return nil, fmt.Errorf("encode content: no padding fits %d bytes", base)
}

// decodeContent parses a decrypted plaintext. Unknown fields are kept by
// protobuf (a newer sender's additions), a body we do not know yields a
// Content with a nil Body that callers ignore.
func decodeContent(b []byte) (*pb.Content, error) {
	if len(b) > protocol.MaxCiphertextSize {
		return nil, fmt.Errorf("content of %d bytes: too large", len(b))
	}
	var c pb.Content
	if err := proto.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("decode content: %w", err)
	}
	if t := c.GetText(); t != nil && len(t.GetBody()) > MaxTextSize {
		return nil, fmt.Errorf("content text of %d bytes: too large", len(t.GetBody()))
	}
	if rr := c.GetReadReceipt(); rr != nil {
		if len(rr.GetMessageIds()) > maxReceiptIDs {
			return nil, fmt.Errorf("read receipt with %d ids: too many", len(rr.GetMessageIds()))
		}
		for _, id := range rr.GetMessageIds() {
			if len(id) != protocol.MessageIDSize {
				return nil, fmt.Errorf("read receipt: id of %d bytes", len(id))
			}
		}
	}
	if at := c.GetAttachment(); at != nil {
		if err := validateAttachment(at); err != nil {
			return nil, err
		}
	}
	if g := c.GetSyncGroupId(); len(g) != 0 && len(g) != GroupIDSize {
		return nil, fmt.Errorf("content sync_group_id of %d bytes", len(g))
	}
	if m := c.GetSyncMessageId(); len(m) != 0 && len(m) != protocol.MessageIDSize {
		return nil, fmt.Errorf("content sync_message_id of %d bytes", len(m))
	}
	if s := c.GetSyncTo(); s != "" {
		if err := protocol.ValidateHandle(s); err != nil {
			return nil, fmt.Errorf("content sync_to: %w", err)
		}
	}
	return &c, nil
}

// maxReceiptIDs bounds the ids of one read receipt (and one MarkRead call).
const maxReceiptIDs = 256
