package ticket

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"

	qrcode "github.com/skip2/go-qrcode"
)

// MaxQRSize is the largest image QR draws, in pixels on a side.
const MaxQRSize = 4096

// QR renders code as a PNG image of a QR code with error correction level M
// (about 15 % of the symbol may be damaged) and a quiet zone of four modules.
// The image is about size × size pixels: every module is drawn as a whole
// number of pixels, so the side is the multiple of the module count nearest
// to size, and at least one pixel per module. A code's characters are all in
// the QR alphanumeric set, which keeps the symbol small: a code with ids and
// a place of about a dozen characters each is a version 6 or 7 symbol (49 or
// 53 modules a side with the quiet zone), the longest code a version 11 (69).
// size must be between 1 and MaxQRSize.
func QR(code string, size int) ([]byte, error) {
	if code == "" {
		return nil, errors.New("render QR code: empty code")
	}
	if size < 1 || size > MaxQRSize {
		return nil, fmt.Errorf("render QR code: size %d is not between 1 and %d pixels", size, MaxQRSize)
	}
	q, err := qrcode.New(code, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("render QR code: %w", err)
	}
	// Bitmap includes the quiet zone.
	modules := q.Bitmap()
	scale := max(1, (size+len(modules)/2)/len(modules))
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestCompression}
	if err := enc.Encode(&buf, drawModules(modules, scale)); err != nil {
		return nil, fmt.Errorf("render QR code: encode PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// drawModules draws modules, true for dark, scale pixels a side each.
func drawModules(modules [][]bool, scale int) image.Image {
	side := len(modules) * scale
	img := image.NewPaletted(image.Rect(0, 0, side, side), color.Palette{color.White, color.Black})
	// The palette's zero index is white, so only dark modules are drawn.
	for y, row := range modules {
		for x, dark := range row {
			if !dark {
				continue
			}
			for py := y * scale; py < (y+1)*scale; py++ {
				start := img.PixOffset(x*scale, py)
				for i := range scale {
					img.Pix[start+i] = 1
				}
			}
		}
	}
	return img
}
