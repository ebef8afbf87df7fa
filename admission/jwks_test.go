package admission

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestJWKSRoundTrip(t *testing.T) {
	signing, old, older := testKey(1), testKey(2), testKey(3)
	k := NewKeySet(signing, publicOf(old), publicOf(older))

	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(k.JWKS(), &doc); err != nil {
		t.Fatalf("JWKS is not JSON: %v\n%s", err, k.JWKS())
	}
	wantOrder := []string{KeyID(publicOf(signing)), KeyID(publicOf(old)), KeyID(publicOf(older))}
	if len(doc.Keys) != len(wantOrder) {
		t.Fatalf("JWKS has %d keys, want %d", len(doc.Keys), len(wantOrder))
	}
	for i, key := range doc.Keys {
		pub := publicOf([]ed25519.PrivateKey{signing, old, older}[i])
		want := map[string]string{
			"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
			"x":   base64.RawURLEncoding.EncodeToString(pub),
			"kid": wantOrder[i],
		}
		if !maps.Equal(key, want) {
			t.Errorf("key %d = %v, want %v", i, key, want)
		}
	}

	parsed, err := ParseJWKS(k.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	if parsed.SigningKID() != "" {
		t.Errorf("a parsed set can sign, with kid %q", parsed.SigningKID())
	}
	for _, kid := range wantOrder {
		got, ok := parsed.PublicKey(kid)
		want, _ := k.PublicKey(kid)
		if !ok || !got.Equal(want) {
			t.Errorf("parsed set: PublicKey(%s) = %x, %v; want %x", kid, got, ok, want)
		}
	}

	// A token the original set signs verifies with the parsed one.
	clock := newTestClock()
	token := mustSign(t, NewTokens(k, nil, TokenOptions{Now: clock.Now}), testPass())
	if _, err := NewTokens(nil, parsed, TokenOptions{Now: clock.Now}).Verify(token, KindPass, "demo"); err != nil {
		t.Errorf("token checked against the parsed JWKS: %v", err)
	}
}

func TestJWKSIsACopy(t *testing.T) {
	k := NewKeySet(testKey(1))
	first := k.JWKS()
	clear(first)
	if _, err := ParseJWKS(k.JWKS()); err != nil {
		t.Errorf("JWKS after a caller scribbled on its copy: %v", err)
	}
}

func TestParseJWKS(t *testing.T) {
	a, b := publicOf(testKey(1)), publicOf(testKey(2))
	x := func(pub []byte) string { return base64.RawURLEncoding.EncodeToString(pub) }
	okp := func(pub []byte, extra string) string {
		return `{"kty":"OKP","crv":"Ed25519","x":"` + x(pub) + `"` + extra + `}`
	}
	rsa := `{"kty":"RSA","n":"sXch","e":"AQAB","kid":"r1","alg":"RS256","use":"sig"}`
	ec := `{"kty":"EC","crv":"P-256","x":"f83O","y":"x_FE","kid":"e1"}`
	tests := []struct {
		name    string
		doc     string
		want    []string // kids
		wantErr string
	}{
		{"one key", `{"keys":[` + okp(a, "") + `]}`, []string{KeyID(a)}, ""},
		{"kid, alg and use as usher writes them", `{"keys":[` + okp(a, `,"kid":"`+KeyID(a)+`","alg":"EdDSA","use":"sig"`) + `]}`, []string{KeyID(a)}, ""},
		{"published kid ignored", `{"keys":[` + okp(a, `,"kid":"mine"`) + `]}`, []string{KeyID(a)}, ""},
		{"RSA and EC keys skipped", `{"keys":[` + rsa + `,` + ec + `,` + okp(b, "") + `]}`, []string{KeyID(b)}, ""},
		{"X25519 skipped", `{"keys":[{"kty":"OKP","crv":"X25519","x":"` + x(a) + `"},` + okp(b, "") + `]}`, []string{KeyID(b)}, ""},
		{"encryption key skipped", `{"keys":[` + okp(a, `,"use":"enc"`) + `,` + okp(b, "") + `]}`, []string{KeyID(b)}, ""},
		{"other alg skipped", `{"keys":[` + okp(a, `,"alg":"ES256"`) + `,` + okp(b, "") + `]}`, []string{KeyID(b)}, ""},
		{"short x skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + x(a[:31]) + `"},` + okp(b, "") + `]}`, []string{KeyID(b)}, ""},
		{"x not base64url skipped", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + strings.Repeat("+", 43) + `"},` + okp(b, "") + `]}`, []string{KeyID(b)}, ""},
		{"key of the wrong shape skipped", `{"keys":[{"kty":7},"text",null,` + okp(b, "") + `]}`, []string{KeyID(b)}, ""},
		{"duplicate merged", `{"keys":[` + okp(a, "") + `,` + okp(a, "") + `]}`, []string{KeyID(a)}, ""},
		{"malformed JSON", `{"keys":[`, nil, "parse JWKS"},
		{"not an object", `[` + okp(a, "") + `]`, nil, "parse JWKS"},
		{"keys not an array", `{"keys":{}}`, nil, "parse JWKS"},
		{"empty", ``, nil, "parse JWKS"},
		{"null", `null`, nil, "no usable"},
		{"no keys", `{"keys":[]}`, nil, "no usable"},
		{"only RSA", `{"keys":[` + rsa + `]}`, nil, "no usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseJWKS([]byte(tt.doc))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseJWKS error = %v, want one that says %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for kid := range k.keys {
				got = append(got, kid)
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.want))
			if !slices.Equal(got, want) {
				t.Errorf("kids = %v, want %v", got, want)
			}
		})
	}
}

func FuzzParseJWKS(f *testing.F) {
	f.Add(NewKeySet(testKey(1), publicOf(testKey(2))).JWKS())
	f.Add([]byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"sXch","e":"AQAB"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseJWKS(data)
		if err != nil {
			return
		}
		if len(k.keys) == 0 {
			t.Fatal("ParseJWKS returned a set without keys")
		}
		if k.SigningKID() != "" {
			t.Fatal("ParseJWKS returned a set that signs")
		}
		for kid, pub := range k.keys {
			if KeyID(pub) != kid {
				t.Fatalf("key %x filed under %q, not its thumbprint", pub, kid)
			}
		}
		again, err := ParseJWKS(k.JWKS())
		if err != nil {
			t.Fatalf("the set's own JWKS does not parse: %v", err)
		}
		if len(again.keys) != len(k.keys) {
			t.Fatalf("round trip kept %d of %d keys", len(again.keys), len(k.keys))
		}
		for kid := range k.keys {
			if _, ok := again.PublicKey(kid); !ok {
				t.Fatalf("round trip lost key %s", kid)
			}
		}
	})
}
