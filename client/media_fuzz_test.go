package client

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/parley-im/parley/e2e/mediacrypt"
	"github.com/parley-im/parley/protocol/pb"
)

// FuzzDecodeAttachment: whatever a sender puts in an Attachment, decoding
// either refuses it or yields one whose fields are within bounds, and the
// metadata the SDK exposes is safe to use as a file name.
func FuzzDecodeAttachment(f *testing.F) {
	good := &pb.Attachment{
		Url: "https://node.example/media/v1/blobs/AAAAAAAAAAAAAAAAAAAAAA", Key: bytes.Repeat([]byte{1}, 32),
		PlaintextSha256: make([]byte, 32), CiphertextSha256: make([]byte, 32), Size: 1000,
		CiphertextSize: mediacrypt.CiphertextSize(1000), Mime: "image/jpeg", FileName: "../../etc/passwd", Caption: "hi",
	}
	f.Add(mustMarshal(good))
	bad := proto.Clone(good).(*pb.Attachment)
	bad.Url = "file:///etc/passwd"
	f.Add(mustMarshal(bad))
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		at, err := decodeAttachment(b)
		if err != nil {
			return
		}
		if len(at.GetKey()) != 32 || len(at.GetThumbnail()) > MaxThumbnailSize || len(at.GetCaption()) > MaxCaptionSize || validMediaURL(at.GetUrl()) != nil {
			t.Fatalf("accepted out-of-bounds attachment %v", at)
		}
		name := cleanFileName(at.GetFileName())
		if name == "" || name == "." || name == ".." || bytes.ContainsAny([]byte(name), "/\\\x00") || len(name) > maxFileNameSize {
			t.Fatalf("unsafe file name %q from %q", name, at.GetFileName())
		}
		// The Content path applies the same checks.
		c, err := decodeContent(mustMarshal(&pb.Content{Body: &pb.Content_Attachment{Attachment: at}}))
		if err != nil || c.GetAttachment() == nil {
			t.Fatalf("decodeContent refused an attachment decodeAttachment accepted: %v", err)
		}
	})
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/100", "bytes 5-4/10", "bytes 0-9/*", "bytes -1-5/10", "bytes 9-9/9", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseContentRangeStart(s)
		if err == nil && n < 0 {
			t.Fatalf("%q: negative start %d", s, n)
		}
	})
}

func TestThumbnail(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 1200, 800))
	for y := 0; y < 800; y++ {
		for x := 0; x < 1200; x++ {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x ^ y), 255})
		}
	}
	p := filepath.Join(t.TempDir(), "pic.png")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	th, w, h, err := makeThumbnail(f)
	f.Close()
	if err != nil || w != 1200 || h != 800 || len(th) == 0 || len(th) > MaxThumbnailSize {
		t.Fatalf("thumbnail: %d bytes, %dx%d, %v", len(th), w, h, err)
	}
	small, err := jpeg.Decode(bytes.NewReader(th))
	if err != nil || small.Bounds().Dx() != thumbEdge || small.Bounds().Dy() != thumbEdge*800/1200 {
		t.Fatalf("thumbnail image: %v %v", small.Bounds(), err)
	}
}
