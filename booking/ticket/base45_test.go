package ticket

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestBase45RFCExamples(t *testing.T) {
	// The examples of RFC 9285, section 4.3 and 4.4.
	tests := []struct {
		raw, encoded string
	}{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
		{"\x00", "00"},
		{"\xff", "U5"},
		{"\xff\xff", "FGW"},
	}
	for _, tt := range tests {
		t.Run(tt.encoded, func(t *testing.T) {
			if got := encodeBase45([]byte(tt.raw)); got != tt.encoded {
				t.Errorf("encode(%q) = %q, want %q", tt.raw, got, tt.encoded)
			}
			got, err := decodeBase45(tt.encoded)
			if err != nil {
				t.Fatalf("decode(%q): %v", tt.encoded, err)
			}
			if string(got) != tt.raw {
				t.Errorf("decode(%q) = %q, want %q", tt.encoded, got, tt.raw)
			}
			if n := encodedBase45Len(len(tt.raw)); n != len(tt.encoded) {
				t.Errorf("encodedBase45Len(%d) = %d, want %d", len(tt.raw), n, len(tt.encoded))
			}
		})
	}
}

func TestBase45Rejects(t *testing.T) {
	tests := []struct {
		name, encoded, reason string
	}{
		{"one character", "A", "leaves one character over"},
		{"four characters", "BB8A", "leaves one character over"},
		{"lower case", "bb8", "not in the alphabet"},
		{"outside the alphabet", "BB#", "not in the alphabet"},
		{"non-ASCII", "B\xc3\xa9", "not in the alphabet"},
		{"NUL", "BB\x00", "not in the alphabet"},
		// RFC 9285 section 6: "GGW" is 65536, which two bytes cannot hold.
		{"group too big", "GGW", "more than two bytes hold"},
		{"largest group", ":::", "more than two bytes hold"},
		{"last group too big", "BB8V5", "more than a byte holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeBase45(tt.encoded)
			if err == nil {
				t.Fatalf("decode(%q) = %q, want an error", tt.encoded, got)
			}
			if !errors.Is(err, errBase45) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("decode(%q) error = %v, want errBase45 saying %q", tt.encoded, err, tt.reason)
			}
		})
	}
}

func FuzzBase45(f *testing.F) {
	for _, s := range []string{"", "AB", "Hello!!", "base-45", "BB8", "%69 VD92EX0", "GGW", "U5", "V5", "\xff\xfe\x00"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		encoded := encodeBase45(data)
		if len(encoded) != encodedBase45Len(len(data)) {
			t.Fatalf("encode(%q) has %d characters, want %d", data, len(encoded), encodedBase45Len(len(data)))
		}
		decoded, err := decodeBase45(encoded)
		if err != nil {
			t.Fatalf("decode(encode(%q)): %v", data, err)
		}
		if !bytes.Equal(decoded, data) {
			t.Fatalf("decode(encode(%q)) = %q", data, decoded)
		}
		// Garbage never panics, and whatever is accepted is the one
		// spelling of what it decodes to.
		if raw, err := decodeBase45(string(data)); err == nil {
			if again := encodeBase45(raw); again != string(data) {
				t.Fatalf("decode(%q) = %q, which encodes as %q", data, raw, again)
			}
		}
	})
}
