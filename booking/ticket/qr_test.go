package ticket

import (
	"bytes"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

// scan decodes the QR code in a PNG image, as a door scanner would.
func scan(t *testing.T, pngData []byte) (*gozxing.Result, image.Image) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		t.Fatalf("QR did not return a valid PNG: %v", err)
	}
	bitmap, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("read image: %v", err)
	}
	result, err := gozxingqr.NewQRCodeReader().Decode(bitmap, nil)
	if err != nil {
		t.Fatalf("decode QR code: %v", err)
	}
	return result, img
}

func TestQR(t *testing.T) {
	keys := NewKeys(testKey(t, 1))
	typical, err := keys.Sign(Claims{TicketID: NewID(), EventID: "arena-2026-06-01", Place: "Stalls C12"})
	if err != nil {
		t.Fatal(err)
	}
	longest, err := keys.Sign(Claims{TicketID: NewID(), EventID: strings.Repeat("e", MaxTextLen), Place: strings.Repeat("p", MaxTextLen)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name             string
		code             string
		size             int
		minSide, maxSide int
	}{
		// A typical code is a version 7 symbol, 45 modules and a quiet
		// zone of 4 on each side: 53 modules, 5 pixels each for 256.
		{"typical", typical, 256, 265, 265},
		{"one pixel a module", typical, 53, 53, 53},
		{"smaller than the symbol", typical, 10, 53, 53},
		{"large", typical, 1024, 1007, 1007},
		{"longest code", longest, 256, 230, 290},
		{"any text", "https://example.org/t/1", 200, 150, 250},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := QR(tt.code, tt.size)
			if err != nil {
				t.Fatalf("QR: %v", err)
			}
			result, img := scan(t, data)
			if got := result.GetText(); got != tt.code {
				t.Errorf("scanned %q, want %q", got, tt.code)
			}
			meta := result.GetResultMetadata()
			if level := meta[gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL]; level != "M" {
				t.Errorf("error correction level %v, want M", level)
			}
			b := img.Bounds()
			if b.Dx() != b.Dy() || b.Dx() < tt.minSide || b.Dx() > tt.maxSide {
				t.Errorf("image is %d×%d pixels, want a square of %d to %d", b.Dx(), b.Dy(), tt.minSide, tt.maxSide)
			}
		})
	}
	t.Run("alphanumeric mode", func(t *testing.T) {
		data, err := QR(typical, 256)
		if err != nil {
			t.Fatal(err)
		}
		result, _ := scan(t, data)
		if segments, ok := result.GetResultMetadata()[gozxing.ResultMetadataType_BYTE_SEGMENTS]; ok {
			t.Errorf("the code was written in byte mode (%d segments); Base45 should fit alphanumeric mode", len(segments.([][]byte)))
		}
	})
	t.Run("quiet zone", func(t *testing.T) {
		data, err := QR(typical, 53)
		if err != nil {
			t.Fatal(err)
		}
		_, img := scan(t, data)
		for i := range 4 {
			for j := range 53 {
				for _, p := range []image.Point{{i, j}, {j, i}, {52 - i, j}, {j, 52 - i}} {
					if r, _, _, _ := img.At(p.X, p.Y).RGBA(); r != 0xffff {
						t.Fatalf("pixel %v in the quiet zone is not white", p)
					}
				}
			}
		}
	})
}

func TestQRErrors(t *testing.T) {
	tests := []struct {
		name string
		code string
		size int
	}{
		{"empty code", "", 256},
		{"zero size", "ABC", 0},
		{"negative size", "ABC", -5},
		{"huge size", "ABC", MaxQRSize + 1},
		{"too long for a QR code", strings.Repeat("A", 5000), 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if data, err := QR(tt.code, tt.size); err == nil {
				t.Errorf("QR(%d characters, %d) = %d bytes, want an error", len(tt.code), tt.size, len(data))
			}
		})
	}
}
