package oidctest_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"

	"github.com/usherhq/usher/internal/oidctest"
)

// TestMint checks that minted tokens verify with go-oidc, as the admin API
// verifies bearer tokens, and that each bad variant is refused for its own
// reason.
func TestMint(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name    string
		mint    oidctest.Mint
		wantSub string
		// wantErr is a part of the verifier's error message; "" means the
		// token verifies.
		wantErr     string
		wantExpired bool
	}{
		{name: "defaults", wantSub: "operator-1"},
		{
			name:    "subject and claims",
			mint:    oidctest.Mint{Subject: "svc-dashboard", Claims: map[string]any{"roles": []string{"usher-operator"}}},
			wantSub: "svc-dashboard",
		},
		{
			name:    "extra audience",
			mint:    oidctest.Mint{Audience: []string{"usher-test", "usher-admin-api"}},
			wantSub: "operator-1",
		},
		{name: "wrong issuer", mint: oidctest.Mint{Issuer: "http://127.0.0.1:1"}, wantErr: "issued by a different provider"},
		{name: "wrong audience", mint: oidctest.Mint{Audience: []string{"someone-else"}}, wantErr: "audience"},
		{name: "no audience", mint: oidctest.Mint{Audience: []string{}}, wantErr: "audience"},
		{name: "expired", mint: oidctest.Mint{Expiry: now.Add(-time.Minute), IssuedAt: now.Add(-time.Hour)}, wantExpired: true},
		{name: "stranger key", mint: oidctest.Mint{Key: oidctest.StrangerKey}, wantErr: "signature"},
	}
	p := oidctest.New(t, oidctest.Options{})
	op, _ := discover(t, p, "", 0)
	verifier := op.Verifier(&oidc.Config{ClientID: p.ClientID()})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := p.Mint(t, tt.mint)
			tok, err := verifier.Verify(t.Context(), raw)
			var expired *oidc.TokenExpiredError
			switch {
			case tt.wantExpired:
				if !errors.As(err, &expired) {
					t.Fatalf("verify: %v, want a TokenExpiredError", err)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("verify: %v, want an error about %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("verify: %v", err)
			default:
				if tok.Subject != tt.wantSub {
					t.Errorf("sub = %q, want %q", tok.Subject, tt.wantSub)
				}
				var claims struct {
					Roles []string `json:"roles"`
				}
				if err := tok.Claims(&claims); err != nil {
					t.Fatal(err)
				}
				if want, _ := tt.mint.Claims["roles"].([]string); !slices.Equal(claims.Roles, want) {
					t.Errorf("roles = %q, want %q", claims.Roles, want)
				}
			}
		})
	}
}

// TestMintStrangerKeepsKid checks that a stranger token cannot be told from
// a good one by its header: only the signature is wrong.
func TestMintStrangerKeepsKid(t *testing.T) {
	p := oidctest.New(t, oidctest.Options{})
	good := kid(t, p.Mint(t, oidctest.Mint{}))
	stranger := kid(t, p.Mint(t, oidctest.Mint{Key: oidctest.StrangerKey}))
	if good == "" || good != stranger {
		t.Errorf("kid %q for the stranger, %q for the provider: want the same, non-empty", stranger, good)
	}
}

// TestRotateKey checks that tokens signed before a rotation keep verifying,
// both with a verifier that cached the old JWKS and with a fresh one.
func TestRotateKey(t *testing.T) {
	p := oidctest.New(t, oidctest.Options{})
	op, _ := discover(t, p, "", 0)
	cached := op.Verifier(&oidc.Config{ClientID: p.ClientID()})
	old := p.Mint(t, oidctest.Mint{})
	if _, err := cached.Verify(t.Context(), old); err != nil {
		t.Fatalf("verify before rotation: %v", err)
	}

	p.RotateKey()
	rotated := p.Mint(t, oidctest.Mint{})
	if kid(t, old) == kid(t, rotated) {
		t.Fatalf("kid %q unchanged by RotateKey", kid(t, old))
	}
	var jwks struct {
		Keys []struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	getJSON(t, p.URL+"/jwks", "", 200, &jwks)
	var kids []string
	for _, k := range jwks.Keys {
		if k.Kty != "RSA" || k.Alg != "RS256" {
			t.Errorf("key %q is %s/%s, want RSA/RS256", k.Kid, k.Kty, k.Alg)
		}
		kids = append(kids, k.Kid)
	}
	if want := []string{kid(t, old), kid(t, rotated)}; !slices.Equal(kids, want) {
		t.Errorf("JWKS kids = %q, want %q", kids, want)
	}

	fresh := op.Verifier(&oidc.Config{ClientID: p.ClientID()})
	for name, v := range map[string]*oidc.IDTokenVerifier{"cached": cached, "fresh": fresh} {
		for _, tok := range []string{old, rotated} {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Errorf("%s verifier, token with kid %q: %v", name, kid(t, tok), err)
			}
		}
	}
}

// TestMisuse checks that the provider fails the test, instead of signing
// something surprising, when it is asked for what it cannot do.
func TestMisuse(t *testing.T) {
	tests := []struct {
		name    string
		misuse  func(tb testing.TB, p *oidctest.Provider) string
		wantErr string
	}{
		{
			name:    "Mint with an unknown key",
			misuse:  func(tb testing.TB, p *oidctest.Provider) string { return p.Mint(tb, oidctest.Mint{Key: "mine"}) },
			wantErr: `unknown Key "mine"`,
		},
		{
			name: "Mint with iss in Claims",
			misuse: func(tb testing.TB, p *oidctest.Provider) string {
				return p.Mint(tb, oidctest.Mint{Claims: map[string]any{"iss": "x"}})
			},
			wantErr: `claim "iss"`,
		},
		{
			name: "Mint with an unencodable claim",
			misuse: func(tb testing.TB, p *oidctest.Provider) string {
				return p.Mint(tb, oidctest.Mint{Claims: map[string]any{"f": func() {}}})
			},
			wantErr: "sign token",
		},
		{
			name: "SetUser without a subject",
			misuse: func(_ testing.TB, p *oidctest.Provider) string {
				p.SetUser(oidctest.User{Email: "x@venue.example"})
				return ""
			},
			wantErr: "empty Subject",
		},
		{
			name: "SetUser with a reserved claim",
			misuse: func(_ testing.TB, p *oidctest.Provider) string {
				p.SetUser(oidctest.User{Subject: "eve", Claims: map[string]any{"aud": "everyone"}})
				return ""
			},
			wantErr: `claim "aud"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			p := oidctest.New(rec, oidctest.Options{})
			if got := tt.misuse(rec, p); got != "" {
				t.Errorf("returned %q, want no token", got)
			}
			if !strings.Contains(rec.failed(), tt.wantErr) {
				t.Errorf("failures %q, want one about %q", rec.failed(), tt.wantErr)
			}
			// The user is unchanged: minted tokens still name the default.
			if sub := subject(t, p.Mint(t, oidctest.Mint{})); sub != "operator-1" {
				t.Errorf("user changed to %q by a refused call", sub)
			}
		})
	}
}

// kid returns the kid of a token's header, without verifying it.
func kid(t *testing.T, raw string) string {
	t.Helper()
	tok, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	k, _ := tok.Header["kid"].(string)
	return k
}

// subject returns the sub claim of a token, without verifying it.
func subject(t *testing.T, raw string) string {
	t.Helper()
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, claims); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	sub, _ := claims["sub"].(string)
	return sub
}
