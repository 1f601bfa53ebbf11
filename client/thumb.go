package client

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders for thumbnails
	"image/jpeg"
	_ "image/png"
	"io"
	"os"
)

// Thumbnail limits: the edge of the thumbnail, and the largest picture we
// agree to decode (a decompression bomb would otherwise take gigabytes).
const (
	thumbEdge      = 96
	maxThumbPixels = 40_000_000
	maxThumbInput  = 64 << 20
)

// makeThumbnail decodes an image file and returns a small JPEG (at most
// MaxThumbnailSize bytes) plus the picture's own width and height.
func makeThumbnail(f *os.File) ([]byte, int, int, error) {
	cfg, _, err := image.DecodeConfig(io.NewSectionReader(f, 0, maxThumbInput))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("thumbnail: %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxThumbPixels {
		return nil, cfg.Width, cfg.Height, errors.New("thumbnail: picture too large to decode")
	}
	img, _, err := image.Decode(io.NewSectionReader(f, 0, maxThumbInput))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("thumbnail: %w", err)
	}
	small := shrink(img, thumbEdge)
	for _, q := range []int{70, 50, 30, 15} {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, small, &jpeg.Options{Quality: q}); err != nil {
			return nil, 0, 0, fmt.Errorf("thumbnail: %w", err)
		}
		if buf.Len() <= MaxThumbnailSize {
			return buf.Bytes(), cfg.Width, cfg.Height, nil
		}
	}
	return nil, cfg.Width, cfg.Height, errors.New("thumbnail: does not fit")
}

// shrink scales img to fit edge×edge, averaging a 2×2 grid of samples per
// output pixel (cheap, and good enough for a preview).
func shrink(img image.Image, edge int) image.Image {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	tw, th := edge, edge
	if w > h {
		th = max(1, h*edge/w)
	} else {
		tw = max(1, w*edge/h)
	}
	tw, th = min(tw, w), min(th, h)
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := 0; y < th; y++ {
		for x := 0; x < tw; x++ {
			var r, g, bl, a uint32
			for _, d := range [4][2]int{{1, 1}, {3, 1}, {1, 3}, {3, 3}} {
				sx := b.Min.X + (4*x+d[0])*w/(4*tw)
				sy := b.Min.Y + (4*y+d[1])*h/(4*th)
				cr, cg, cb, ca := img.At(sx, sy).RGBA()
				r, g, bl, a = r+cr, g+cg, bl+cb, a+ca
			}
			out.SetRGBA(x, y, color.RGBA{uint8(r >> 10), uint8(g >> 10), uint8(bl >> 10), uint8(a >> 10)})
		}
	}
	return out
}
