package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/client/storage"
	"github.com/parley-im/parley/client/storage/memkv"
	"github.com/parley-im/parley/protocol/pb"
)

func TestContentPaddingBuckets(t *testing.T) {
	tests := []struct {
		name string
		text string
	}{
		{"empty", ""},
		{"short", "hi"},
		{"edge-of-bucket", strings.Repeat("x", 150)},
		{"two-byte-length", strings.Repeat("y", 300)},
		{"max", strings.Repeat("z", MaxTextSize)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &pb.Content{Body: &pb.Content_Text{Text: &pb.Text{Body: tt.text}}, SentAtMs: 1_700_000_000_000}
			b, err := encodeContent(rand.Reader, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(b)%paddingBucket != 0 {
				t.Fatalf("padded length %d is not a multiple of %d", len(b), paddingBucket)
			}
			if len(b) > len(tt.text)+2*paddingBucket {
				t.Fatalf("padded length %d wastes more than two buckets for %d bytes", len(b), len(tt.text))
			}
			got, err := decodeContent(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.GetText().GetBody() != tt.text || got.GetSentAtMs() != c.SentAtMs {
				t.Fatalf("round trip changed the content")
			}
		})
	}
	// Same length texts must give the same ciphertext-visible length.
	a, _ := encodeContent(rand.Reader, &pb.Content{Body: &pb.Content_Text{Text: &pb.Text{Body: "a"}}})
	b, _ := encodeContent(rand.Reader, &pb.Content{Body: &pb.Content_Text{Text: &pb.Text{Body: strings.Repeat("b", 100)}}})
	if len(a) != len(b) {
		t.Fatalf("1 and 100 byte texts fall in different buckets: %d vs %d", len(a), len(b))
	}
}

func TestDecodeContentRejects(t *testing.T) {
	tests := []struct {
		name string
		c    *pb.Content
	}{
		{"receipt-bad-id", &pb.Content{Body: &pb.Content_ReadReceipt{ReadReceipt: &pb.ReadReceipt{MessageIds: [][]byte{{1, 2}}}}}},
		{"bad-sync-to", &pb.Content{SyncTo: "Bob!"}},
		{"text-too-long", &pb.Content{Body: &pb.Content_Text{Text: &pb.Text{Body: strings.Repeat("x", MaxTextSize+1)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeContent(mustMarshal(tt.c)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := decodeContent(bytes.Repeat([]byte{0}, 20<<10)); err == nil {
		t.Fatal("accepted oversized content")
	}
}

func TestTxnOverlay(t *testing.T) {
	ctx := context.Background()
	st := memkv.New()
	if err := storage.Set(ctx, st, []byte("a"), []byte("old")); err != nil {
		t.Fatal(err)
	}
	tx := newTxn(st)
	tx.Set([]byte("a"), []byte("new"))
	tx.Set([]byte("b"), []byte("b1"))
	child := tx.child()
	child.Delete([]byte("a"))
	if _, err := child.Get(ctx, []byte("a")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("child sees deleted key: %v", err)
	}
	if v, _ := tx.Get(ctx, []byte("a")); string(v) != "new" {
		t.Fatalf("parent changed before merge: %q", v)
	}
	if v, _ := st.Get(ctx, []byte("a")); string(v) != "old" {
		t.Fatalf("storage changed before commit: %q", v)
	}
	tx.merge(child)
	if err := tx.commit(ctx, st); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, []byte("a")); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after commit a: %v", err)
	}
	if v, _ := st.Get(ctx, []byte("b")); string(v) != "b1" {
		t.Fatalf("after commit b: %q", v)
	}
}
