package shield

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	challengeNow = time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)
	keyA         = bytes.Repeat([]byte("a"), 32)
	keyB         = bytes.Repeat([]byte("b"), 48)
)

const testVisitor = "Vb3mZ0q9xH2kLwE5tYc1Aa"

func newChallenger(t testing.TB, keys ...[]byte) *Challenger {
	t.Helper()
	c, err := NewChallenger(keys...)
	if err != nil {
		t.Fatalf("NewChallenger: %v", err)
	}
	return c
}

func testChallenge(bits int) Challenge {
	return NewChallenge("demo", testVisitor, bits, challengeNow.Add(5*time.Minute))
}

// solved is ch with a nonce that solves it.
func solved(t testing.TB, ch Challenge) string {
	t.Helper()
	nonce, ok := Solve(ch, 1<<24)
	if !ok {
		t.Fatalf("no nonce for %+v in 2^24 tries", ch)
	}
	return nonce
}

// unsolving is a nonce that does not solve ch.
func unsolving(t testing.TB, ch Challenge) string {
	t.Helper()
	for n := range 1000 {
		if nonce := itoa(n); !Solved(ch, nonce) {
			return nonce
		}
	}
	t.Fatal("every nonce solves the challenge")
	return ""
}

func TestNewChallenger(t *testing.T) {
	tests := []struct {
		name string
		keys [][]byte
		ok   bool
	}{
		{"one key", [][]byte{keyA}, true},
		{"two keys", [][]byte{keyA, keyB}, true},
		{"long key", [][]byte{bytes.Repeat([]byte("k"), 200)}, true},
		{"no key", nil, false},
		{"short key", [][]byte{keyA[:31]}, false},
		{"short second key", [][]byte{keyA, []byte("short")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewChallenger(tt.keys...)
			if tt.ok != (err == nil) || tt.ok != (c != nil) {
				t.Errorf("NewChallenger = %v, %v; want ok %v", c, err, tt.ok)
			}
		})
	}
}

// The MAC computed from the padded key blocks is HMAC-SHA256.
func TestMACIsHMAC(t *testing.T) {
	for _, key := range [][]byte{keyA, keyB, bytes.Repeat([]byte("k"), 64), bytes.Repeat([]byte("k"), 65), bytes.Repeat([]byte("z"), 200)} {
		for _, msg := range []string{"", "x", strings.Repeat("m", maxPayload)} {
			k := newMACKey(key)
			got := k.sum([]byte(msg))
			h := hmac.New(sha256.New, key)
			h.Write([]byte(msg))
			if want := h.Sum(nil); !bytes.Equal(got[:], want) {
				t.Errorf("key %d bytes, message %d bytes: MAC %x, want %x", len(key), len(msg), got, want)
			}
		}
	}
}

func TestNewChallenge(t *testing.T) {
	expires := time.Date(2027, 3, 1, 10, 5, 0, 999_000_000, time.FixedZone("X", 3600))
	a := NewChallenge("demo", testVisitor, 16, expires)
	b := NewChallenge("demo", testVisitor, 16, expires)
	if len(a.ID) != 22 {
		t.Errorf("ID %q is %d characters, want 22", a.ID, len(a.ID))
	}
	if raw, err := base64.RawURLEncoding.DecodeString(a.ID); err != nil || len(raw) != 16 {
		t.Errorf("ID %q is not 16 bytes of base64url: %v", a.ID, err)
	}
	if a.ID == b.ID {
		t.Error("two challenges have the same ID")
	}
	if want := time.Date(2027, 3, 1, 9, 5, 0, 0, time.UTC); a.Expires != want {
		t.Errorf("Expires = %v, want %v", a.Expires, want)
	}
	if a.Room != "demo" || a.Visitor != testVisitor || a.Bits != 16 {
		t.Errorf("challenge = %+v", a)
	}
}

func TestBitsClamped(t *testing.T) {
	c := newChallenger(t, keyA)
	tests := []struct{ bits, want int }{
		{-5, MinBits}, {0, MinBits}, {1, 1}, {20, 20}, {32, 32}, {33, MaxBits}, {1 << 40, MaxBits},
	}
	for _, tt := range tests {
		ch := testChallenge(tt.bits)
		if ch.Bits != tt.want {
			t.Errorf("NewChallenge bits %d: Bits = %d, want %d", tt.bits, ch.Bits, tt.want)
		}
		// A hand-made challenge is clamped by Token too.
		ch.Bits = tt.bits
		got, err := c.Parse(c.Token(ch), challengeNow)
		if err != nil || got.Bits != tt.want {
			t.Errorf("Token bits %d: parsed Bits = %d, %v; want %d", tt.bits, got.Bits, err, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	c := newChallenger(t, keyA)
	for _, ch := range []Challenge{
		testChallenge(16),
		NewChallenge("a", "b", 1, challengeNow.Add(time.Second)),
		NewChallenge(strings.Repeat("r_-9", 16), strings.Repeat("Zz-_", 16), 32, challengeNow.Add(24*time.Hour)),
	} {
		token := c.Token(ch)
		got, err := c.Parse(token, challengeNow)
		if err != nil {
			t.Fatalf("Parse(Token(%+v)): %v", ch, err)
		}
		if got != ch {
			t.Errorf("round trip: got %+v, want %+v", got, ch)
		}
		if want := 44 + (4*(27+len(ch.Room)+len(ch.Visitor))+2)/3; len(token) != want {
			t.Errorf("token is %d bytes, want %d", len(token), want)
		}
		if strings.Trim(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") != "" {
			t.Errorf("token %q is not URL- and cookie-safe", token)
		}
	}
}

func TestTokenSize(t *testing.T) {
	c := newChallenger(t, keyA)
	// A 22-character visitor id and the longest room id.
	if n := len(c.Token(NewChallenge(strings.Repeat("r", 64), testVisitor, 20, challengeNow))); n >= 200 {
		t.Errorf("token is %d bytes, want under 200", n)
	}
	// The longest room and visitor ids.
	if n := len(c.Token(NewChallenge(strings.Repeat("r", 64), strings.Repeat("v", 64), 20, challengeNow))); n > 251 {
		t.Errorf("token is %d bytes, want at most 251", n)
	}
}

func TestTokenRefusesWhatCannotBeAChallenge(t *testing.T) {
	c := newChallenger(t, keyA)
	tests := map[string]func(*Challenge){
		"empty room":       func(ch *Challenge) { ch.Room = "" },
		"room too long":    func(ch *Challenge) { ch.Room = strings.Repeat("r", 65) },
		"room uppercase":   func(ch *Challenge) { ch.Room = "Demo" },
		"room slash":       func(ch *Challenge) { ch.Room = "a/b" },
		"empty visitor":    func(ch *Challenge) { ch.Visitor = "" },
		"visitor too long": func(ch *Challenge) { ch.Visitor = strings.Repeat("v", 65) },
		"visitor padding":  func(ch *Challenge) { ch.Visitor = "abc=" },
		"visitor dot":      func(ch *Challenge) { ch.Visitor = "a.b" },
		"empty ID":         func(ch *Challenge) { ch.ID = "" },
		"short ID":         func(ch *Challenge) { ch.ID = ch.ID[:21] },
		"ID not base64":    func(ch *Challenge) { ch.ID = strings.Repeat("!", 22) },
		"ID loose bits":    func(ch *Challenge) { ch.ID = ch.ID[:21] + "B" },
	}
	for name, edit := range tests {
		t.Run(name, func(t *testing.T) {
			ch := testChallenge(16)
			ch.ID = ch.ID[:21] + "A" // the last character carries 4 unused bits
			edit(&ch)
			if token := c.Token(ch); token != "" {
				t.Errorf("Token = %q, want \"\"", token)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	c := newChallenger(t, keyA)
	ch := testChallenge(12)
	token := c.Token(ch)
	nonce := solved(t, ch)
	other := testChallenge(12)
	otherNonce := solved(t, other)

	tests := []struct {
		name          string
		token, nonce  string
		room, visitor string
		now           time.Time
		want          error
	}{
		{"valid", token, nonce, "demo", testVisitor, challengeNow, nil},
		{"valid a second before expiry", token, nonce, "demo", testVisitor, ch.Expires.Add(-time.Second), nil},
		{"expired at Expires", token, nonce, "demo", testVisitor, ch.Expires, ErrChallengeExpired},
		{"expired after Expires", token, nonce, "demo", testVisitor, ch.Expires.Add(time.Hour), ErrChallengeExpired},
		{"other room", token, nonce, "other", testVisitor, challengeNow, ErrChallengeMismatch},
		{"other visitor", token, nonce, "demo", "someone-else", challengeNow, ErrChallengeMismatch},
		{"unsolved", token, unsolving(t, ch), "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"another challenge's nonce", token, unsolvingOther(t, ch, otherNonce), "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"empty nonce", token, "", "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"letters", token, "12a4", "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"hex", token, "0x1f", "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"21 digits", token, strings.Repeat("1", 21), "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"leading plus", token, "+" + nonce, "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"leading minus", token, "-" + nonce, "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"space", token, " " + nonce, "demo", testVisitor, challengeNow, ErrChallengeUnsolved},
		{"garbage token", "garbage", nonce, "demo", testVisitor, challengeNow, ErrChallengeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Verify(tt.token, tt.nonce, tt.room, tt.visitor, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if err == nil && got != ch {
				t.Errorf("Verify = %+v, want %+v", got, ch)
			}
			if err != nil && got != (Challenge{}) {
				t.Errorf("Verify returned %+v with an error", got)
			}
		})
	}
}

// unsolvingOther is nonce if it does not also solve ch by chance (1 in 4096
// at 12 bits), else a nonce that does not.
func unsolvingOther(t *testing.T, ch Challenge, nonce string) string {
	if Solved(ch, nonce) {
		return unsolving(t, ch)
	}
	return nonce
}

// Solved takes 1 to 20 ASCII digits, leading zeros included, and nothing
// else; a well-formed nonce is then judged by its hash alone.
func TestSolvedNonceForms(t *testing.T) {
	ch := Challenge{ID: "x", Bits: 1}
	tests := []struct {
		nonce string
		form  bool
	}{
		{"0", true},
		{"007", true},
		{"18446744073709551615", true},
		{strings.Repeat("9", 20), true},
		{"", false},
		{strings.Repeat("9", 21), false},
		{"1e3", false},
		{"+1", false},
		{"-1", false},
		{"1 ", false},
		{"\u0661", false}, // an Arabic-Indic one is a digit, but not ASCII
	}
	for _, tt := range tests {
		sum := sha256.Sum256([]byte(ch.ID + ":" + tt.nonce))
		want := tt.form && sum[0] < 0x80
		if got := Solved(ch, tt.nonce); got != want {
			t.Errorf("Solved(%q) = %v, want %v", tt.nonce, got, want)
		}
	}
	// At 1 bit half of all hashes pass: make sure the bad forms above were
	// refused for their form, by finding a hash that passes for each.
	for _, tt := range tests {
		if tt.form {
			continue
		}
		for id := range 64 {
			ch := Challenge{ID: itoa(id), Bits: 1}
			if sum := sha256.Sum256([]byte(ch.ID + ":" + tt.nonce)); sum[0] < 0x80 {
				if Solved(ch, tt.nonce) {
					t.Errorf("Solved(%q) = true for a nonce that is not 1 to 20 digits", tt.nonce)
				}
				break
			}
		}
	}
}

// Solved counts leading zero bits across byte boundaries exactly.
func TestSolvedCountsBits(t *testing.T) {
	ch := Challenge{ID: "count"}
	for n := range 5000 {
		nonce := itoa(n)
		sum := sha256.Sum256([]byte(ch.ID + ":" + nonce))
		zeros := 0
		for _, b := range sum {
			if b != 0 {
				for b&0x80 == 0 {
					zeros++
					b <<= 1
				}
				break
			}
			zeros += 8
		}
		for bits := MinBits; bits <= 16; bits++ {
			ch.Bits = bits
			if got, want := Solved(ch, nonce), zeros >= bits; got != want {
				t.Fatalf("nonce %s (%d zero bits) at %d bits: Solved = %v, want %v", nonce, zeros, bits, got, want)
			}
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func TestSolve(t *testing.T) {
	ch := testChallenge(12)
	nonce, ok := Solve(ch, 1<<24)
	if !ok {
		t.Fatal("Solve found no nonce at 12 bits")
	}
	if !Solved(ch, nonce) {
		t.Errorf("Solved rejects Solve's nonce %q", nonce)
	}
	// Solve counts up from 0: no smaller nonce solves it.
	for n := range 1 << 16 {
		if s := itoa(n); s == nonce {
			break
		} else if Solved(ch, s) {
			t.Fatalf("nonce %s solves it too, and comes before %s", s, nonce)
		}
	}
	if _, ok := Solve(ch, 0); ok {
		t.Error("Solve with max 0 found a nonce")
	}
	c := newChallenger(t, keyA)
	if _, err := c.Verify(c.Token(ch), nonce, ch.Room, ch.Visitor, challengeNow); err != nil {
		t.Errorf("Verify rejects Solve's nonce: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	c := newChallenger(t, keyA)
	ch := testChallenge(16)
	token := c.Token(ch)
	dot := strings.IndexByte(token, '.')
	payload, mac := token[:dot], token[dot+1:]

	// flip changes the character at i to another base64url character that
	// keeps the token decodable.
	flip := func(s string, i int) string {
		r := byte('A')
		if s[i] == 'A' {
			r = 'B'
		}
		return s[:i] + string(r) + s[i+1:]
	}
	rawPayload, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	resign := func(p []byte) string {
		k := newMACKey(keyB)
		sum := k.sum(p)
		return base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	// signed makes a token with keyA from a raw payload, as if usher had made
	// it: the content checks, not the MAC, must reject these.
	signed := func(p []byte) string {
		k := newMACKey(keyA)
		sum := k.sum(p)
		return base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	edit := func(f func(p []byte) []byte) []byte {
		return f(bytes.Clone(rawPayload))
	}

	tests := map[string]string{
		"empty":                 "",
		"garbage":               "not a token at all",
		"dot only":              ".",
		"no MAC":                payload,
		"no MAC after the dot":  payload + ".",
		"no payload":            "." + mac,
		"truncated payload":     payload[:len(payload)-4] + "." + mac,
		"truncated MAC":         payload + "." + mac[:len(mac)-1],
		"truncated by one":      token[:len(token)-1],
		"longer MAC":            token + "A",
		"tampered payload":      flip(payload, 12) + "." + mac,
		"tampered last payload": flip(payload, len(payload)-1) + "." + mac,
		"tampered MAC":          payload + "." + flip(mac, 5),
		"loose MAC bits":        payload + "." + mac[:42] + string(mac[42]^1),
		"padded":                payload + "." + mac + "=",
		"standard alphabet":     strings.NewReplacer("-", "+", "_", "/").Replace(token) + "+",
		"two dots":              payload + "." + mac + "." + mac,
		"other key":             resign(rawPayload),
		"too long":              token + strings.Repeat("A", 600),
		"whitespace":            " " + token,
		"line break in payload": payload[:10] + "\r\n" + payload[10:] + "." + mac,
		"line break in MAC":     payload + "." + mac[:10] + "\n" + mac[10:],
		"bad version":           signed(edit(func(p []byte) []byte { p[0] = 2; return p })),
		"bits 0":                signed(edit(func(p []byte) []byte { p[1] = 0; return p })),
		"bits 33":               signed(edit(func(p []byte) []byte { p[1] = 33; return p })),
		"room length 0":         signed(edit(func(p []byte) []byte { p[26] = 0; return p })),
		"room runs over":        signed(edit(func(p []byte) []byte { p[26] = byte(len(p) - 27); return p })),
		"room uppercase":        signed(edit(func(p []byte) []byte { p[27] = 'D'; return p })),
		"visitor not base64":    signed(edit(func(p []byte) []byte { p[len(p)-1] = '='; return p })),
		"short payload":         signed(rawPayload[:26]),
		"empty payload":         signed(nil),
	}
	for name, tok := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := c.Parse(tok, challengeNow)
			if !errors.Is(err, ErrChallengeInvalid) {
				t.Errorf("Parse = %+v, %v; want %v", got, err, ErrChallengeInvalid)
			}
			if got != (Challenge{}) {
				t.Errorf("Parse returned %+v with an error", got)
			}
			if _, err := c.Verify(tok, "0", "demo", testVisitor, challengeNow); !errors.Is(err, ErrChallengeInvalid) {
				t.Errorf("Verify error = %v, want %v", err, ErrChallengeInvalid)
			}
		})
	}
	// The content checks pass what usher makes: signed() itself is sound.
	if _, err := c.Parse(signed(rawPayload), challengeNow); err != nil {
		t.Errorf("a payload signed with the key: %v", err)
	}
}

func TestParseExpired(t *testing.T) {
	c := newChallenger(t, keyA)
	ch := testChallenge(16)
	token := c.Token(ch)
	for _, now := range []time.Time{ch.Expires, ch.Expires.Add(time.Nanosecond), ch.Expires.Add(24 * time.Hour)} {
		if _, err := c.Parse(token, now); !errors.Is(err, ErrChallengeExpired) || errors.Is(err, ErrChallengeInvalid) {
			t.Errorf("at Expires%+v: error = %v, want %v only", now.Sub(ch.Expires), err, ErrChallengeExpired)
		}
	}
	if _, err := c.Parse(token, ch.Expires.Add(-time.Nanosecond)); err != nil {
		t.Errorf("a nanosecond before Expires: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	old := newChallenger(t, keyA)
	ch := testChallenge(12)
	nonce := solved(t, ch)
	oldToken := old.Token(ch)

	rotated := newChallenger(t, keyB, keyA)
	if _, err := rotated.Verify(oldToken, nonce, "demo", testVisitor, challengeNow); err != nil {
		t.Errorf("a token of the old key, with the old key still listed: %v", err)
	}
	newToken := rotated.Token(ch)
	if newToken == oldToken {
		t.Error("the rotated challenger still signs with the old key")
	}
	if _, err := newChallenger(t, keyB).Verify(newToken, nonce, "demo", testVisitor, challengeNow); err != nil {
		t.Errorf("a token of the new key: %v", err)
	}
	if _, err := newChallenger(t, keyB).Verify(oldToken, nonce, "demo", testVisitor, challengeNow); !errors.Is(err, ErrChallengeInvalid) {
		t.Errorf("a token of a removed key: error = %v, want %v", err, ErrChallengeInvalid)
	}
	if _, err := old.Parse(newToken, challengeNow); !errors.Is(err, ErrChallengeInvalid) {
		t.Errorf("a token of a key the challenger never had: error = %v, want %v", err, ErrChallengeInvalid)
	}
}

// Verify alone accepts a solution again: single use is the caller's job,
// and the documentation says so.
func TestVerifyIsNotSingleUse(t *testing.T) {
	c := newChallenger(t, keyA)
	ch := testChallenge(8)
	token, nonce := c.Token(ch), solved(t, ch)
	for range 2 {
		if _, err := c.Verify(token, nonce, "demo", testVisitor, challengeNow); err != nil {
			t.Fatal(err)
		}
	}
}

func TestParseAllocations(t *testing.T) {
	c := newChallenger(t, keyA, keyB)
	token := c.Token(testChallenge(16))
	garbage := strings.Repeat("A", 200) + "." + strings.Repeat("A", 43)
	if n := testing.AllocsPerRun(100, func() { _, _ = c.Parse(garbage, challengeNow) }); n != 0 {
		t.Errorf("Parse of garbage allocates %v times, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = c.Parse(token, challengeNow) }); n > 1 {
		t.Errorf("Parse of a token allocates %v times, want at most 1", n)
	}
}

func FuzzParse(f *testing.F) {
	c := newChallenger(f, keyA)
	ch := testChallenge(16)
	token := c.Token(ch)
	f.Add(token)
	f.Add(token[:len(token)-1])
	f.Add(c.Token(NewChallenge(strings.Repeat("r", 64), strings.Repeat("v", 64), 32, challengeNow.Add(time.Hour))))
	f.Add("")
	f.Add(".")
	f.Add("AAAA.AAAA")
	f.Add(strings.Repeat("A", 600))
	f.Add(token[:30] + "\r" + token[30:]) // the decoder skips line breaks
	other := newChallenger(f, keyB)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := c.Parse(s, challengeNow)
		if err != nil {
			if got != (Challenge{}) {
				t.Fatalf("Parse(%q) returned %+v with error %v", s, got, err)
			}
			return
		}
		// Whatever Parse accepts is a token c made, byte for byte: the MAC
		// covers it, and it has one spelling.
		if again := c.Token(got); again != s {
			t.Fatalf("Parse accepted %q, but its challenge makes %q", s, again)
		}
		if !validRoom(got.Room) || !validVisitor(got.Visitor) || len(got.ID) != 22 || got.Bits < MinBits || got.Bits > MaxBits {
			t.Fatalf("Parse(%q) = %+v, outside the forms", s, got)
		}
		if _, err := other.Parse(s, challengeNow); err == nil {
			t.Fatalf("a challenger with another key accepted %q", s)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	c := newChallenger(b, keyA)
	ch := testChallenge(12)
	token, nonce := c.Token(ch), solved(b, ch)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(token, nonce, "demo", testVisitor, challengeNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseGarbage(b *testing.B) {
	c := newChallenger(b, keyA, keyB)
	garbage := strings.Repeat("A", 200) + "." + strings.Repeat("A", 43)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Parse(garbage, challengeNow); err == nil {
			b.Fatal("garbage accepted")
		}
	}
}
