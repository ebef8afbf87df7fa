package ticket

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// testKey returns a fixed signing key, so codes in failures are repeatable.
func testKey(t testing.TB, seed byte) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

// publicOf returns the public half of priv.
func publicOf(priv ed25519.PrivateKey) ed25519.PublicKey {
	return priv.Public().(ed25519.PublicKey)
}

// signFrame signs the concatenation of parts with priv, whatever it holds,
// and encodes it like a code: the way to build malformed but signed codes.
func signFrame(priv ed25519.PrivateKey, parts ...[]byte) string {
	frame := bytes.Join(parts, nil)
	return encodeBase45(append(frame, ed25519.Sign(priv, frame)...))
}

// header returns the version byte, the id of pub's key and a ticket id.
func header(version byte, pub ed25519.PublicKey) []byte {
	id := idOf(pub)
	b := append([]byte{version}, id[:]...)
	return append(b, bytes.Repeat([]byte{0xab}, ticketIDSize)...)
}

// text returns s with a one-byte length before it.
func text(s string) []byte {
	return append([]byte{byte(len(s))}, s...)
}

func TestNewID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := make(map[string]bool)
	for range 100 {
		id := NewID()
		if !hex32.MatchString(id) {
			t.Fatalf("NewID() = %q, want 32 lower-case hex characters", id)
		}
		if seen[id] {
			t.Fatalf("NewID() returned %q twice", id)
		}
		seen[id] = true
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	keys := NewKeys(testKey(t, 1))
	scanner, err := ParsePublicJSON(keys.PublicJSON())
	if err != nil {
		t.Fatalf("ParsePublicJSON: %v", err)
	}
	tests := []struct {
		name   string
		claims Claims
	}{
		{"seat", Claims{TicketID: NewID(), EventID: "arena-2026-06-01", Place: "Stalls C12"}},
		{"standing", Claims{TicketID: NewID(), EventID: "e1", Place: "Standing"}},
		{"no place", Claims{TicketID: NewID(), EventID: "e1"}},
		{"UTF-8 place", Claims{TicketID: NewID(), EventID: "oper", Place: "Parkett links, Reihe 3 – Platz 12 ★"}},
		{"longest", Claims{TicketID: "00000000000000000000000000000000", EventID: strings.Repeat("e", MaxTextLen), Place: strings.Repeat("é", MaxTextLen/2)}},
		{"base45 specials", Claims{TicketID: "ffffffffffffffffffffffffffffffff", EventID: "a b$c%d*e+f-g.h/i:j", Place: " "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, err := keys.Sign(tt.claims)
			if err != nil {
				t.Fatalf("Sign(%+v): %v", tt.claims, err)
			}
			if strings.Trim(code, base45Alphabet) != "" {
				t.Errorf("code %q has characters outside the QR alphanumeric set", code)
			}
			for name, k := range map[string]*Keys{"signer": keys, "scanner": scanner} {
				got, err := k.Verify(code)
				if err != nil {
					t.Fatalf("%s: Verify(%q): %v", name, code, err)
				}
				if got != tt.claims {
					t.Errorf("%s: Verify = %+v, want %+v", name, got, tt.claims)
				}
			}
			again, err := keys.Sign(tt.claims)
			if err != nil || again != code {
				t.Errorf("signing again = %q, %v; want the same code %q", again, err, code)
			}
		})
	}
}

func TestLongestCode(t *testing.T) {
	code, err := NewKeys(testKey(t, 1)).Sign(Claims{TicketID: NewID(), EventID: strings.Repeat("e", MaxTextLen), Place: strings.Repeat("p", MaxTextLen)})
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != maxCodeLen {
		t.Errorf("the longest code has %d characters; Verify allows %d", len(code), maxCodeLen)
	}
}

func TestSignRejectsClaims(t *testing.T) {
	keys := NewKeys(testKey(t, 1))
	good := Claims{TicketID: NewID(), EventID: "e1", Place: "A1"}
	tests := []struct {
		name   string
		edit   func(*Claims)
		reason string
	}{
		{"empty ticket id", func(c *Claims) { c.TicketID = "" }, "ticket id"},
		{"short ticket id", func(c *Claims) { c.TicketID = c.TicketID[:30] }, "ticket id"},
		{"long ticket id", func(c *Claims) { c.TicketID += "00" }, "ticket id"},
		{"upper-case ticket id", func(c *Claims) { c.TicketID = "ABCDEFABCDEFABCDEFABCDEFABCDEFAB" }, "ticket id"},
		{"non-hex ticket id", func(c *Claims) { c.TicketID = strings.Repeat("g", 32) }, "ticket id"},
		{"empty event id", func(c *Claims) { c.EventID = "" }, "empty event id"},
		{"long event id", func(c *Claims) { c.EventID = strings.Repeat("e", MaxTextLen+1) }, "event id: 65 bytes"},
		{"long place", func(c *Claims) { c.Place = strings.Repeat("é", MaxTextLen/2) + "x" }, "place: 65 bytes"},
		{"place not UTF-8", func(c *Claims) { c.Place = "Stalls \xff" }, "place: not UTF-8"},
		{"place with newline", func(c *Claims) { c.Place = "Stalls\nC12" }, "place: control character"},
		{"event id with NUL", func(c *Claims) { c.EventID = "e\x00" }, "event id: control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			code, err := keys.Sign(c)
			if err == nil {
				t.Fatalf("Sign(%+v) = %q, want an error", c, code)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Sign(%+v) error = %v, want it to say %q", c, err, tt.reason)
			}
		})
	}
	t.Run("no signing key", func(t *testing.T) {
		for name, k := range map[string]*Keys{"verify only": NewKeys(nil, publicOf(testKey(t, 1))), "nil": nil} {
			if code, err := k.Sign(good); err == nil {
				t.Errorf("%s: Sign = %q, want an error", name, code)
			}
		}
	})
}

func TestVerifyRejects(t *testing.T) {
	priv := testKey(t, 1)
	pub := publicOf(priv)
	keys := NewKeys(priv)
	stranger := testKey(t, 2)
	// A frame of even length, so one more character leaves one over.
	valid, err := keys.Sign(Claims{TicketID: "0123456789abcdef0123456789abcdef", EventID: "e1", Place: "A12"})
	if err != nil {
		t.Fatal(err)
	}
	validFrame, err := decodeBase45(valid)
	if err != nil {
		t.Fatal(err)
	}
	ok := header(frameVersion, pub)
	strangerID := idOf(publicOf(stranger))

	// flipped returns valid with bit 0 of frame byte i flipped.
	flipped := func(i int) string {
		f := bytes.Clone(validFrame)
		f[i] ^= 1
		return encodeBase45(f)
	}
	// respelled writes the first group of valid with 65536 added: the same
	// bytes to a decoder that drops the overflow.
	respelled := func() string {
		n := int(validFrame[0])<<8 | int(validFrame[1]) + 1<<16
		group := string([]byte{base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/(45*45)]})
		return group + valid[3:]
	}

	tests := []struct {
		name, code, reason string
	}{
		{"empty", "", "shorter than any code"},
		{"short", encodeBase45(validFrame[:minFrameLen-1]), "shorter than any code"},
		{"too long", valid + strings.Repeat("0", maxCodeLen), "longer than any code"},
		{"one character more", valid + "0", "leaves one character over"},
		{"two characters more", valid + "00", "bad signature"},
		{"lower case", strings.ToLower(valid), "bad base45"},
		{"not base45", "{" + valid[1:], "bad base45"},
		{"second spelling", respelled(), "more than two bytes hold"},
		{"unknown version", signFrame(priv, header(0x02, pub), text("e1"), text("A1")), "unknown version 0x02"},
		{"version zero", signFrame(priv, header(0x00, pub), text("e1"), text("A1")), "unknown version 0x00"},
		{"unknown key id", signFrame(stranger, header(frameVersion, publicOf(stranger)), text("e1"), text("A1")), "unknown key id " + hex.EncodeToString(strangerID[:])},
		{"signed by another key", signFrame(stranger, ok, text("e1"), text("A1")), "bad signature"},
		{"signature changed", flipped(len(validFrame) - 1), "bad signature"},
		{"ticket id changed", flipped(headerLen - 1), "bad signature"},
		{"key id changed", flipped(1), "unknown key id"},
		{"trailing bytes", signFrame(priv, ok, text("e1"), text("A1"), []byte{0}), "1 trailing bytes"},
		{"no place", signFrame(priv, ok, text("e1")), "place: missing length"},
		{"event id past the end", signFrame(priv, ok, []byte{10}, []byte("e1")), "event id: length 10 runs past the end"},
		{"place past the end", signFrame(priv, ok, text("e1"), []byte{3}, []byte("A1")), "place: length 3 runs past the end"},
		{"event id too long", signFrame(priv, ok, text(strings.Repeat("e", 65)), text("A1")), "event id: length 65 is more than 64"},
		{"place length not minimal", signFrame(priv, ok, text("e1"), []byte{0x82, 0x00}, []byte("A1")), "place: length 2 takes 2 bytes"},
		{"huge length", signFrame(priv, ok, binary.AppendUvarint(nil, 1<<40), text("A1")), "event id: length 1099511627776 is more than 64"},
		{"length overflows", signFrame(priv, ok, bytes.Repeat([]byte{0xff}, 11), text("A1")), "event id: length overflows"},
		{"empty event id", signFrame(priv, ok, text(""), text("A1")), "empty event id"},
		{"place not UTF-8", signFrame(priv, ok, text("e1"), text("A\xff")), "place: not UTF-8"},
		{"control character", signFrame(priv, ok, text("e1"), text("A\r1")), "place: control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keys.Verify(tt.code)
			if err == nil {
				t.Fatalf("Verify(%q) = %+v, want an error", tt.code, got)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("Verify error = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Verify error = %v, want it to say %q", err, tt.reason)
			}
			if got != (Claims{}) {
				t.Errorf("Verify returned claims %+v with its error", got)
			}
		})
	}
	t.Run("no keys", func(t *testing.T) {
		for name, k := range map[string]*Keys{"empty": NewKeys(nil), "nil": nil} {
			if _, err := k.Verify(valid); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown key id") {
				t.Errorf("%s: Verify error = %v, want ErrInvalid for an unknown key id", name, err)
			}
		}
	})
}

func TestKeyRotation(t *testing.T) {
	oldKey, newKey := testKey(t, 1), testKey(t, 2)
	claims := Claims{TicketID: NewID(), EventID: "e1", Place: "Standing"}
	oldCode, err := NewKeys(oldKey).Sign(claims)
	if err != nil {
		t.Fatal(err)
	}

	rotated := NewKeys(newKey, publicOf(oldKey))
	got, err := rotated.Verify(oldCode)
	if err != nil || got != claims {
		t.Fatalf("after rotation, Verify(old code) = %+v, %v; want %+v", got, err, claims)
	}
	newCode, err := rotated.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	if newCode == oldCode {
		t.Fatal("after rotation, Sign still signs with the old key")
	}
	if _, err := NewKeys(oldKey).Verify(newCode); !errors.Is(err, ErrInvalid) {
		t.Errorf("the old keys accept a code of the new key: %v", err)
	}

	// Once the old key is dropped, its codes stop verifying.
	if _, err := NewKeys(newKey).Verify(oldCode); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "unknown key id") {
		t.Errorf("without the old key, Verify(old code) error = %v, want an unknown key id", err)
	}
}

func TestKeyIDCollision(t *testing.T) {
	// Two keys may share a 4-byte id; a code of either must still verify.
	// Collisions cannot be found on demand, so the second key's id is forced.
	a, b := testKey(t, 1), testKey(t, 2)
	keys := NewKeys(a, publicOf(b))
	keys.public[1].id = keys.public[0].id
	code := signFrame(b, header(frameVersion, publicOf(a)), text("e1"), text("A1"))
	if _, err := keys.Verify(code); err != nil {
		t.Fatalf("Verify of a code signed by the second key with a shared id: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	priv := testKey(f, 1)
	keys := NewKeys(priv)
	for _, c := range []Claims{
		{TicketID: "0123456789abcdef0123456789abcdef", EventID: "e1", Place: "Stalls C12"},
		{TicketID: "ffffffffffffffffffffffffffffffff", EventID: strings.Repeat("e", 64), Place: ""},
	} {
		code, err := keys.Sign(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(code)
		f.Add(code[:len(code)-1])
		f.Add(code + "00")
	}
	f.Add("")
	f.Add("GGW")
	f.Add(signFrame(priv, header(frameVersion, publicOf(priv)), text("e1"), text("A1"), []byte{0}))
	f.Fuzz(func(t *testing.T, code string) {
		claims, err := keys.Verify(code)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Verify(%q) error = %v, not ErrInvalid", code, err)
			}
			return
		}
		// Signing is deterministic, so anything accepted must be exactly
		// what the test key signs for those claims.
		want, err := keys.Sign(claims)
		if err != nil {
			t.Fatalf("Verify(%q) accepted claims %+v that Sign refuses: %v", code, claims, err)
		}
		if want != code {
			t.Fatalf("Verify accepted %q for %+v, which the key signs as %q", code, claims, want)
		}
	})
}
