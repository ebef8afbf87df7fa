package admission

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/queue/queuetest"
)

// t0 is the time every test starts at.
var t0 = time.Unix(1_800_000_000, 0).UTC()

// testClock is a clock that moves only when a test moves it.
type testClock = queuetest.Clock

func newTestClock() *testClock { return queuetest.NewClock(t0) }

// testKey returns a fixed key, so that fuzz corpora stay meaningful.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func publicOf(priv ed25519.PrivateKey) ed25519.PublicKey {
	return priv.Public().(ed25519.PublicKey)
}

// testPass is a pass for room "demo", valid from t0 for ten minutes.
func testPass() Claims {
	return Claims{
		Kind:     KindPass,
		Room:     "demo",
		Visitor:  "AAAAAAAAAAAAAAAAAAAAAA",
		Seq:      7,
		IssuedAt: t0,
		Expires:  t0.Add(10 * time.Minute),
	}
}

func mustSign(t testing.TB, tk *Tokens, c Claims) []byte {
	t.Helper()
	s, err := tk.Sign(c)
	if err != nil {
		t.Fatalf("Sign(%+v): %v", c, err)
	}
	return []byte(s)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// jsonWith returns base as JSON after applying changes; a nil value deletes
// the member.
func jsonWith(base, changes map[string]any) string {
	m := maps.Clone(base)
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	data, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// forge signs header.payload with priv, whatever they say.
func forge(priv ed25519.PrivateKey, header, payload string) []byte {
	in := b64(header) + "." + b64(payload)
	return []byte(in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in))))
}

// segments splits a token into its three parts.
func segments(t *testing.T, token []byte) (header, payload, sig string) {
	t.Helper()
	parts := strings.Split(string(token), ".")
	if len(parts) != 3 {
		t.Fatalf("token %q has %d parts, want 3", token, len(parts))
	}
	return parts[0], parts[1], parts[2]
}

func TestSignVerifyRoundTrip(t *testing.T) {
	priv := testKey(1)
	keys := NewKeySet(priv)
	tests := []struct {
		name   string
		claims Claims
	}{
		{"ticket with account", Claims{Kind: KindTicket, Room: "finals", Visitor: NewVisitorID(), Seq: 1234, Account: "acct-42", IssuedAt: t0, Expires: t0.Add(time.Hour)}},
		{"ticket with a generation", Claims{Kind: KindTicket, Room: "finals", Visitor: NewVisitorID(), Seq: 1234, Gen: 7, IssuedAt: t0, Expires: t0.Add(time.Hour)}},
		{"ticket that proved itself", Claims{Kind: KindTicket, Room: "finals", Visitor: NewVisitorID(), Seq: 99, Gen: 2, Proved: true, IssuedAt: t0, Expires: t0.Add(time.Hour)}},
		{"pass without account", testPass()},
		{"sequence zero", Claims{Kind: KindTicket, Room: "r", Visitor: "v", IssuedAt: t0.Add(-time.Minute), Expires: t0.Add(time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := NewTokens(keys, keys, TokenOptions{Now: newTestClock().Now})
			token := mustSign(t, tk, tt.claims)
			got, err := tk.Verify(token, tt.claims.Kind, tt.claims.Room)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tt.claims {
				t.Errorf("Verify = %+v, want %+v", got, tt.claims)
			}

			header, payload, _ := segments(t, token)
			var h map[string]any
			if err := json.Unmarshal(mustDecode(t, header), &h); err != nil {
				t.Fatal(err)
			}
			wantHeader := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": KeyID(publicOf(priv))}
			if !maps.Equal(h, wantHeader) {
				t.Errorf("header = %v, want %v", h, wantHeader)
			}
			var p map[string]any
			if err := json.Unmarshal(mustDecode(t, payload), &p); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{
				"kind": string(tt.claims.Kind),
				"aud":  tt.claims.Room, // a single string, not an array
				"sub":  tt.claims.Visitor,
				"seq":  float64(tt.claims.Seq),
				"iat":  float64(tt.claims.IssuedAt.Unix()),
				"exp":  float64(tt.claims.Expires.Unix()),
			}
			if tt.claims.Account != "" {
				want["uid"] = tt.claims.Account
			}
			if tt.claims.Gen != 0 {
				want["gen"] = float64(tt.claims.Gen)
			}
			if tt.claims.Proved {
				want["pow"] = true
			}
			if !maps.Equal(p, want) {
				t.Errorf("payload = %v, want %v", p, want)
			}
		})
	}
}

func mustDecode(t *testing.T, seg string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatalf("decode %q: %v", seg, err)
	}
	return b
}

func TestSignDefaultsIssuedAtToNow(t *testing.T) {
	clock := newTestClock()
	keys := NewKeySet(testKey(1))
	tk := NewTokens(keys, nil, TokenOptions{Now: clock.Now})
	c := testPass()
	c.IssuedAt = time.Time{}
	got, err := tk.Verify(mustSign(t, tk, c), KindPass, "demo")
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !got.IssuedAt.Equal(t0) {
		t.Errorf("IssuedAt = %v, want the clock's %v", got.IssuedAt, t0)
	}
}

func TestSignRejectsBadClaims(t *testing.T) {
	keys := NewKeySet(testKey(1))
	tests := []struct {
		name   string
		signer *KeySet
		change func(*Claims)
		want   string
	}{
		{"no signer", nil, func(*Claims) {}, "no signing key"},
		{"verify-only set", NewKeySet(nil, publicOf(testKey(1))), func(*Claims) {}, "no signing key"},
		{"empty kind", keys, func(c *Claims) { c.Kind = "" }, "kind"},
		{"unknown kind", keys, func(c *Claims) { c.Kind = "admin" }, "kind"},
		{"empty room", keys, func(c *Claims) { c.Room = "" }, "empty room"},
		{"empty visitor", keys, func(c *Claims) { c.Visitor = "" }, "empty visitor"},
		{"zero expiry", keys, func(c *Claims) { c.Expires = time.Time{} }, "zero expiry"},
		{"expires before issued", keys, func(c *Claims) { c.Expires = c.IssuedAt.Add(-time.Second) }, "not after"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := NewTokens(tt.signer, keys, TokenOptions{Now: newTestClock().Now})
			c := testPass()
			tt.change(&c)
			s, err := tk.Sign(c)
			if err == nil {
				t.Fatalf("Sign(%+v) = %q, want an error", c, s)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Sign error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	priv := testKey(1)
	kid := KeyID(publicOf(priv))
	stranger := testKey(2)
	keys := NewKeySet(priv)
	signer := NewTokens(keys, nil, TokenOptions{Now: newTestClock().Now})
	good := mustSign(t, signer, testPass())
	goodHeader, goodPayload, goodSig := segments(t, good)

	header := map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid}
	payload := map[string]any{"kind": "pass", "aud": "demo", "sub": "AAAAAAAAAAAAAAAAAAAAAA", "seq": 7,
		"iat": t0.Unix(), "exp": t0.Add(10 * time.Minute).Unix()}
	goodJSON := jsonWith(payload, nil)
	withHeader := func(changes map[string]any) []byte { return forge(priv, jsonWith(header, changes), goodJSON) }
	withClaims := func(changes map[string]any) []byte {
		return forge(priv, jsonWith(header, nil), jsonWith(payload, changes))
	}

	tests := []struct {
		name   string
		token  []byte
		kind   Kind
		room   string
		reason string
	}{
		{"alg none", []byte(b64(jsonWith(header, map[string]any{"alg": "none"})) + "." + b64(goodJSON) + "."), KindPass, "demo", "signing method none is invalid"},
		{"alg none with a real signature", withHeader(map[string]any{"alg": "none"}), KindPass, "demo", "signing method none is invalid"},
		{"HS256 keyed with the public key", func() []byte {
			in := b64(jsonWith(header, map[string]any{"alg": "HS256"})) + "." + b64(goodJSON)
			mac := hmac.New(sha256.New, publicOf(priv))
			mac.Write([]byte(in))
			return []byte(in + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)))
		}(), KindPass, "demo", "signing method HS256 is invalid"},
		{"RS256 header on an Ed25519 signature", withHeader(map[string]any{"alg": "RS256"}), KindPass, "demo", "signing method RS256 is invalid"},
		{"ES256 header", withHeader(map[string]any{"alg": "ES256"}), KindPass, "demo", "signing method ES256 is invalid"},
		{"alg that does not exist", withHeader(map[string]any{"alg": "Ed25519"}), KindPass, "demo", "unavailable"},
		{"alg missing", withHeader(map[string]any{"alg": nil}), KindPass, "demo", "unspecified"},
		{"unknown kid", forge(stranger, jsonWith(header, map[string]any{"kid": KeyID(publicOf(stranger))}), goodJSON), KindPass, "demo", "unknown kid"},
		{"known kid, signed by another key", forge(stranger, jsonWith(header, nil), goodJSON), KindPass, "demo", "signature is invalid"},
		{"missing kid", withHeader(map[string]any{"kid": nil}), KindPass, "demo", "missing kid"},
		{"empty kid", withHeader(map[string]any{"kid": ""}), KindPass, "demo", "missing kid"},
		{"kid not a string", withHeader(map[string]any{"kid": 12}), KindPass, "demo", "missing kid"},
		{"flipped signature byte", func() []byte {
			sig := mustDecode(t, goodSig)
			sig[10] ^= 0x01
			return []byte(goodHeader + "." + goodPayload + "." + base64.RawURLEncoding.EncodeToString(sig))
		}(), KindPass, "demo", "signature is invalid"},
		{"changed payload", []byte(goodHeader + "." + b64(jsonWith(payload, map[string]any{"seq": 1})) + "." + goodSig), KindPass, "demo", "signature is invalid"},
		{"signature spelled with non-zero padding bits", func() []byte {
			// 64 bytes leave the last character 4 unused bits, so it is one
			// of A, Q, g, w; the next character differs only in those bits
			// and decodes to the same signature unless decoding is strict.
			last := goodSig[len(goodSig)-1]
			if !strings.ContainsRune("AQgw", rune(last)) {
				t.Fatalf("signature ends in %q, a character with bits in use", last)
			}
			alt := goodSig[:len(goodSig)-1] + string(last+1)
			return []byte(goodHeader + "." + goodPayload + "." + alt)
		}(), KindPass, "demo", "base64"},
		{"expired beyond leeway", withClaims(map[string]any{"iat": t0.Add(-time.Hour).Unix(), "exp": t0.Add(-6 * time.Second).Unix()}), KindPass, "demo", "expired"},
		{"issued in the future beyond leeway", withClaims(map[string]any{"iat": t0.Add(6 * time.Second).Unix()}), KindPass, "demo", "issued in the future"},
		{"wrong room", good, KindPass, "other", "another room"},
		{"wrong kind", good, KindTicket, "demo", "wrong kind"},
		{"unknown kind", withClaims(map[string]any{"kind": "admin"}), KindPass, "demo", "unknown kind"},
		{"missing sub", withClaims(map[string]any{"sub": nil}), KindPass, "demo", "missing sub"},
		{"empty sub", withClaims(map[string]any{"sub": ""}), KindPass, "demo", "missing sub"},
		{"missing aud", withClaims(map[string]any{"aud": nil}), KindPass, "", "missing aud"},
		{"aud as an array", withClaims(map[string]any{"aud": []string{"demo"}}), KindPass, "demo", "malformed"},
		{"missing exp", withClaims(map[string]any{"exp": nil}), KindPass, "demo", "missing exp"},
		{"missing iat", withClaims(map[string]any{"iat": nil}), KindPass, "demo", "missing iat"},
		{"seq not a number", withClaims(map[string]any{"seq": "7"}), KindPass, "demo", "malformed"},
		{"payload not JSON", forge(priv, jsonWith(header, nil), "pass for demo"), KindPass, "demo", "malformed"},
		{"header not JSON", forge(priv, "EdDSA", goodJSON), KindPass, "demo", "malformed"},
		{"garbage", []byte("not a token"), KindPass, "demo", "malformed"},
		{"three empty parts", []byte(".."), KindPass, "demo", "malformed"},
		{"four parts", append(append([]byte{}, good...), ".x"...), KindPass, "demo", "malformed"},
		{"two parts", []byte(goodHeader + "." + goodPayload), KindPass, "demo", "malformed"},
		{"binary", []byte{0xff, 0x00, '.', 0xfe, '.', 0x01}, KindPass, "demo", "malformed"},
		{"too long", bytes.Repeat([]byte("a"), maxTokenLen+1), KindPass, "demo", "longer than"},
		{"empty", nil, KindPass, "demo", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := NewTokens(keys, keys, TokenOptions{Now: newTestClock().Now})
			c, err := tk.Verify(tt.token, tt.kind, tt.room)
			if err == nil {
				t.Fatalf("Verify accepted %q: %+v", tt.token, c)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v does not wrap ErrInvalidToken", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not give the reason %q", err, tt.reason)
			}
			if c != (Claims{}) {
				t.Errorf("rejected token returned claims %+v", c)
			}
		})
	}
}

func TestVerifyLeeway(t *testing.T) {
	keys := NewKeySet(testKey(1))
	tests := []struct {
		name   string
		leeway time.Duration
		iat    time.Duration // from t0
		exp    time.Duration // from t0
		ok     bool
	}{
		{"expired within the default leeway", 0, -time.Hour, -4 * time.Second, true},
		{"expired by exactly the default leeway", 0, -time.Hour, -5 * time.Second, false},
		{"expired beyond the default leeway", 0, -time.Hour, -6 * time.Second, false},
		{"issued within the default leeway ahead", 0, 5 * time.Second, time.Hour, true},
		{"issued beyond the default leeway ahead", 0, 6 * time.Second, time.Hour, false},
		{"no leeway, expired a second ago", -1, -time.Hour, -time.Second, false},
		{"no leeway, expires in a second", -1, -time.Hour, time.Second, true},
		{"no leeway, issued a second ahead", -1, time.Second, time.Hour, false},
		{"a minute of leeway, expired 59 s ago", time.Minute, -time.Hour, -59 * time.Second, true},
		{"a minute of leeway, expired 61 s ago", time.Minute, -time.Hour, -61 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock()
			tk := NewTokens(keys, nil, TokenOptions{Now: clock.Now, Leeway: tt.leeway})
			c := testPass()
			c.IssuedAt, c.Expires = t0.Add(tt.iat), t0.Add(tt.exp)
			_, err := tk.Verify(mustSign(t, tk, c), KindPass, "demo")
			if tt.ok && err != nil {
				t.Errorf("Verify: %v, want accepted", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify error = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	oldKey, newKey := testKey(1), testKey(2)
	clock := newTestClock()
	before := NewKeySet(oldKey)
	oldToken := mustSign(t, NewTokens(before, nil, TokenOptions{Now: clock.Now}), testPass())

	during := NewKeySet(newKey, publicOf(oldKey))
	tk := NewTokens(during, nil, TokenOptions{Now: clock.Now})
	if _, err := tk.Verify(oldToken, KindPass, "demo"); err != nil {
		t.Errorf("token of the old key, kept to verify: %v", err)
	}
	newToken := mustSign(t, tk, testPass())
	header, _, _ := segments(t, newToken)
	var h struct{ Kid string }
	if err := json.Unmarshal(mustDecode(t, header), &h); err != nil {
		t.Fatal(err)
	}
	if h.Kid != KeyID(publicOf(newKey)) || h.Kid == before.SigningKID() {
		t.Errorf("new token's kid = %q, want the new key's %q", h.Kid, KeyID(publicOf(newKey)))
	}
	if _, err := tk.Verify(newToken, KindPass, "demo"); err != nil {
		t.Errorf("token of the new key: %v", err)
	}

	after := NewKeySet(newKey)
	tk = NewTokens(after, nil, TokenOptions{Now: clock.Now})
	if _, err := tk.Verify(oldToken, KindPass, "demo"); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "unknown kid") {
		t.Errorf("token of the removed key: error %v, want unknown kid", err)
	}
	if _, err := tk.Verify(newToken, KindPass, "demo"); err != nil {
		t.Errorf("token of the new key after removal of the old: %v", err)
	}
}

func TestVerifyWithoutKeys(t *testing.T) {
	signer := NewTokens(NewKeySet(testKey(1)), nil, TokenOptions{Now: newTestClock().Now})
	token := mustSign(t, signer, testPass())
	tk := NewTokens(nil, nil, TokenOptions{Now: newTestClock().Now})
	if _, err := tk.Verify(token, KindPass, "demo"); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("Verify with no keys: error %v, want ErrInvalidToken", err)
	}
}

func TestNewVisitorID(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		id := NewVisitorID()
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(id) != 22 || len(b) != 16 {
			t.Fatalf("NewVisitorID() = %q: %d chars, %d bytes, %v; want 22 chars of base64url for 16 bytes", id, len(id), len(b), err)
		}
		if seen[id] {
			t.Fatalf("NewVisitorID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestCookieNames(t *testing.T) {
	if got := TicketCookie("finals"); got != "usher_ticket_finals" {
		t.Errorf("TicketCookie = %q", got)
	}
	if got := PassCookie("finals"); got != "usher_pass_finals" {
		t.Errorf("PassCookie = %q", got)
	}
}

func FuzzVerify(f *testing.F) {
	priv := testKey(1)
	keys := NewKeySet(priv)
	clock := newTestClock()
	tk := NewTokens(keys, nil, TokenOptions{Now: clock.Now, CacheSize: 64})
	ticket := testPass()
	ticket.Kind, ticket.Account = KindTicket, "acct"
	signed := map[string]Claims{}
	for _, c := range []Claims{testPass(), ticket} {
		signed[string(mustSign(f, tk, c))] = c
	}
	for token := range signed {
		f.Add([]byte(token))
		f.Add([]byte(strings.Replace(token, ".", "..", 1)))
	}
	f.Add(forge(priv, `{"alg":"none","kid":"`+keys.SigningKID()+`"}`, `{"kind":"pass","aud":"demo","sub":"x","iat":1800000000,"exp":1800000600}`))
	f.Add(forge(priv, `{"alg":"EdDSA","kid":"`+keys.SigningKID()+`"}`, `{"kind":"pass","aud":["demo"],"sub":"x","iat":1800000000,"exp":1800000600}`))
	f.Add([]byte("e30.e30.e30"))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, token []byte) {
		for _, kind := range []Kind{KindTicket, KindPass} {
			for _, room := range []string{"demo", "other"} {
				got, err := tk.Verify(token, kind, room)
				if err != nil {
					if !errors.Is(err, ErrInvalidToken) {
						t.Fatalf("error %v does not wrap ErrInvalidToken", err)
					}
					continue
				}
				want, ok := signed[string(token)]
				if !ok {
					t.Fatalf("accepted %q, which the test did not sign, as %+v", token, got)
				}
				if want.Kind != kind || want.Room != room || got != want {
					t.Fatalf("accepted the %s for %q as a %s for %q: %+v", want.Kind, want.Room, kind, room, got)
				}
			}
		}
	})
}

func BenchmarkSign(b *testing.B) {
	tk := NewTokens(NewKeySet(testKey(1)), nil, TokenOptions{})
	c := testPass()
	c.IssuedAt, c.Expires = time.Now(), time.Now().Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Sign(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassUncached(b *testing.B) {
	tk := NewTokens(NewKeySet(testKey(1)), nil, TokenOptions{CacheSize: -1})
	c := testPass()
	c.IssuedAt, c.Expires = time.Now(), time.Now().Add(time.Hour)
	token := mustSign(b, tk, c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
			b.Fatal(err)
		}
	}
}
