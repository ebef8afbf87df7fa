package oidctest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/errgroup"

	"github.com/usherhq/usher/internal/oidctest"
)

// TestCodeFlow logs in the way the admin dashboard does, with go-oidc and
// x/oauth2 and a browser that stops at every redirect, and checks every
// claim the application would read.
func TestCodeFlow(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		style  oauth2.AuthStyle
	}{
		{name: "public client", secret: "", style: oauth2.AuthStyleAutoDetect},
		{name: "secret in basic auth", secret: "s3cret/+=", style: oauth2.AuthStyleInHeader},
		{name: "secret in body", secret: "s3cret/+=", style: oauth2.AuthStyleInParams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			p := oidctest.New(t, oidctest.Options{ClientSecret: tt.secret})
			p.SetUser(oidctest.User{
				Subject: "alice",
				Email:   "alice@venue.example",
				Name:    "Alice Operator",
				Claims: map[string]any{
					"roles":        []string{"usher-operator"},
					"realm_access": map[string]any{"roles": []string{"usher-admin"}},
				},
			})
			op, cfg := discover(t, p, tt.secret, tt.style)

			verifier := oauth2.GenerateVerifier()
			authURL := cfg.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier), oidc.Nonce("nonce-456"))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := noRedirects().Do(req)
			if err != nil {
				t.Fatalf("authorize: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusFound {
				t.Fatalf("authorize: status %d, want 302", resp.StatusCode)
			}
			loc, err := resp.Location()
			if err != nil {
				t.Fatalf("authorize: %v", err)
			}
			if got := loc.Scheme + "://" + loc.Host + loc.Path; got != callbackURL {
				t.Errorf("redirected to %s, want %s", got, callbackURL)
			}
			if got := loc.Query().Get("state"); got != "state-123" {
				t.Errorf("state = %q, want state-123", got)
			}
			code := loc.Query().Get("code")
			if code == "" {
				t.Fatalf("no code in redirect %s", loc)
			}

			tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.ExpiresIn != 3600 {
				t.Errorf("token_type %q expires_in %d, want Bearer 3600", tok.TokenType, tok.ExpiresIn)
			}
			rawID, ok := tok.Extra("id_token").(string)
			if !ok {
				t.Fatal("token response has no id_token")
			}
			idVerifier := op.Verifier(&oidc.Config{ClientID: p.ClientID()})
			idToken, err := idVerifier.Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("verify ID token: %v", err)
			}
			if idToken.Nonce != "nonce-456" || idToken.Subject != "alice" || idToken.Issuer != p.URL {
				t.Errorf("nonce %q sub %q iss %q, want nonce-456 alice %s", idToken.Nonce, idToken.Subject, idToken.Issuer, p.URL)
			}
			if !slices.Equal(idToken.Audience, []string{p.ClientID()}) {
				t.Errorf("aud = %q, want [%s]", idToken.Audience, p.ClientID())
			}
			if got := idToken.Expiry.Sub(idToken.IssuedAt); got != time.Hour {
				t.Errorf("exp - iat = %v, want 1h", got)
			}
			checkProfile(t, "ID token", idToken.Claims)
			if err := idToken.VerifyAccessToken(tok.AccessToken); err != nil {
				t.Errorf("at_hash: %v", err)
			}

			// The admin API verifies access tokens as JWTs for the same client.
			accessToken, err := idVerifier.Verify(ctx, tok.AccessToken)
			if err != nil {
				t.Fatalf("verify access token: %v", err)
			}
			if accessToken.Subject != "alice" {
				t.Errorf("access token sub = %q, want alice", accessToken.Subject)
			}
			checkProfile(t, "access token", accessToken.Claims)

			info, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			if info.Subject != "alice" || info.Email != "alice@venue.example" {
				t.Errorf("userinfo sub %q email %q, want alice alice@venue.example", info.Subject, info.Email)
			}
			checkProfile(t, "userinfo", info.Claims)

			want := oidctest.Stats{Authorizations: 1, TokenExchanges: 1, JWKSFetches: 1, DiscoveryFetches: 1, UserinfoRequests: 1}
			if got := p.Stats(); got != want {
				t.Errorf("stats = %+v, want %+v", got, want)
			}
		})
	}
}

// checkProfile asserts the claims SetUser gave alice in TestCodeFlow.
func checkProfile(t *testing.T, what string, decode func(any) error) {
	t.Helper()
	var claims struct {
		Email       string   `json:"email"`
		Name        string   `json:"name"`
		Roles       []string `json:"roles"`
		RealmAccess struct {
			Roles []string `json:"roles"`
		} `json:"realm_access"`
	}
	if err := decode(&claims); err != nil {
		t.Fatalf("%s claims: %v", what, err)
	}
	if claims.Email != "alice@venue.example" || claims.Name != "Alice Operator" {
		t.Errorf("%s: email %q name %q, want alice@venue.example, Alice Operator", what, claims.Email, claims.Name)
	}
	if !slices.Equal(claims.Roles, []string{"usher-operator"}) || !slices.Equal(claims.RealmAccess.Roles, []string{"usher-admin"}) {
		t.Errorf("%s: roles %q realm roles %q, want [usher-operator] [usher-admin]", what, claims.Roles, claims.RealmAccess.Roles)
	}
}

// TestDefaultUser checks who signs in when the test names nobody.
func TestDefaultUser(t *testing.T) {
	p := oidctest.New(t, oidctest.Options{})
	op, cfg := discover(t, p, "", oauth2.AuthStyleInParams)
	code, verifier := login(t, p, cfg)
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idToken, err := op.Verifier(&oidc.Config{ClientID: "usher-test"}).Verify(t.Context(), tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != "operator-1" || claims["email"] != "op@venue.example" {
		t.Errorf("sub %v email %v, want operator-1 op@venue.example", claims["sub"], claims["email"])
	}
	if _, ok := claims["nonce"]; ok {
		t.Errorf("nonce = %v, want none when the request had none", claims["nonce"])
	}
}

// TestTokenRefusals breaks one part of the exchange at a time. Then it tries
// the correct exchange with the same code: only a failed client
// authentication leaves the code usable.
func TestTokenRefusals(t *testing.T) {
	const secret = "s3cret"
	tests := []struct {
		name      string
		secret    string
		style     oauth2.AuthStyle
		exchange  func(ctx context.Context, cfg oauth2.Config, code, verifier string, clock *fakeClock) error
		wantError string
		codeSpent bool
	}{
		{
			name: "wrong code_verifier",
			exchange: func(ctx context.Context, cfg oauth2.Config, code, _ string, _ *fakeClock) error {
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
				return err
			},
			wantError: "invalid_grant", codeSpent: true,
		},
		{
			name: "no code_verifier",
			exchange: func(ctx context.Context, cfg oauth2.Config, code, _ string, _ *fakeClock) error {
				_, err := cfg.Exchange(ctx, code)
				return err
			},
			wantError: "invalid_grant", codeSpent: true,
		},
		{
			name: "malformed code_verifier",
			exchange: func(ctx context.Context, cfg oauth2.Config, code, _ string, _ *fakeClock) error {
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption("short"))
				return err
			},
			wantError: "invalid_grant", codeSpent: true,
		},
		{
			name: "reused code",
			exchange: func(ctx context.Context, cfg oauth2.Config, code, verifier string, _ *fakeClock) error {
				if _, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
					return fmt.Errorf("first use failed: %w", err)
				}
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				return err
			},
			wantError: "invalid_grant", codeSpent: true,
		},
		{
			name: "other redirect_uri",
			exchange: func(ctx context.Context, cfg oauth2.Config, code, verifier string, _ *fakeClock) error {
				cfg.RedirectURL = "http://127.0.0.1:1/other"
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				return err
			},
			wantError: "invalid_grant", codeSpent: true,
		},
		{
			name: "expired code",
			exchange: func(ctx context.Context, cfg oauth2.Config, code, verifier string, clock *fakeClock) error {
				clock.Advance(61 * time.Second)
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				return err
			},
			wantError: "invalid_grant", codeSpent: true,
		},
		{
			name: "unknown code",
			exchange: func(ctx context.Context, cfg oauth2.Config, _, verifier string, _ *fakeClock) error {
				_, err := cfg.Exchange(ctx, "not-a-code", oauth2.VerifierOption(verifier))
				return err
			},
			wantError: "invalid_grant",
		},
		{
			name:   "wrong client secret in basic auth",
			secret: secret, style: oauth2.AuthStyleInHeader,
			exchange: func(ctx context.Context, cfg oauth2.Config, code, verifier string, _ *fakeClock) error {
				cfg.ClientSecret = "guess"
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				return err
			},
			wantError: "invalid_client",
		},
		{
			name:   "wrong client secret in body",
			secret: secret, style: oauth2.AuthStyleInParams,
			exchange: func(ctx context.Context, cfg oauth2.Config, code, verifier string, _ *fakeClock) error {
				cfg.ClientSecret = "guess"
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				return err
			},
			wantError: "invalid_client",
		},
		{
			name:   "wrong client secret, style probed",
			secret: secret, style: oauth2.AuthStyleAutoDetect,
			exchange: func(ctx context.Context, cfg oauth2.Config, code, verifier string, _ *fakeClock) error {
				cfg.ClientSecret = "guess"
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				return err
			},
			wantError: "invalid_client",
		},
		{
			name:   "no client secret",
			secret: secret, style: oauth2.AuthStyleInParams,
			exchange: func(ctx context.Context, cfg oauth2.Config, code, verifier string, _ *fakeClock) error {
				cfg.ClientSecret = ""
				_, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
				return err
			},
			wantError: "invalid_client",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			p := oidctest.New(t, oidctest.Options{ClientSecret: tt.secret, Now: clock.Now})
			_, cfg := discover(t, p, tt.secret, tt.style)
			code, verifier := login(t, p, cfg)

			err := tt.exchange(t.Context(), cfg, code, verifier, clock)
			if got := errorCode(err); got != tt.wantError {
				t.Fatalf("exchange error %v, want %s", err, tt.wantError)
			}

			_, err = cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			switch {
			case tt.codeSpent && errorCode(err) != "invalid_grant":
				t.Errorf("correct exchange after the refusal: %v, want invalid_grant", err)
			case !tt.codeSpent && err != nil:
				t.Errorf("correct exchange after the refusal: %v, want success", err)
			}
		})
	}
}

// errorCode returns the RFC 6749 error code of a failed exchange, "" for
// success.
func errorCode(err error) string {
	if err == nil {
		return ""
	}
	var rerr *oauth2.RetrieveError
	if !errors.As(err, &rerr) {
		return fmt.Sprintf("not an OAuth error: %v", err)
	}
	return rerr.ErrorCode
}

// TestConcurrentLogins runs whole logins in parallel against one provider,
// so that the race detector sees the provider's shared state.
func TestConcurrentLogins(t *testing.T) {
	const logins = 8
	p := oidctest.New(t, oidctest.Options{})
	op, cfg := discover(t, p, "", oauth2.AuthStyleInParams)
	idVerifier := op.Verifier(&oidc.Config{ClientID: p.ClientID()})

	g, ctx := errgroup.WithContext(t.Context())
	for i := range logins {
		g.Go(func() error {
			verifier := oauth2.GenerateVerifier()
			nonce := fmt.Sprintf("nonce-%d", i)
			authURL := cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
			if err != nil {
				return err
			}
			resp, err := noRedirects().Do(req)
			if err != nil {
				return fmt.Errorf("authorize: %w", err)
			}
			resp.Body.Close()
			loc, err := resp.Location()
			if err != nil {
				return fmt.Errorf("authorize: %w", err)
			}
			tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				return fmt.Errorf("exchange: %w", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			idToken, err := idVerifier.Verify(ctx, rawID)
			if err != nil {
				return fmt.Errorf("verify: %w", err)
			}
			if idToken.Nonce != nonce {
				return fmt.Errorf("nonce %q, want %q", idToken.Nonce, nonce)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := p.Stats(); got.Authorizations != logins || got.TokenExchanges != logins {
		t.Errorf("stats = %+v, want %d authorizations and token exchanges", got, logins)
	}
}

// TestDiscovery checks the discovery document field by field, as a client
// other than go-oidc would read it.
func TestDiscovery(t *testing.T) {
	tests := []struct {
		name        string
		secret      string
		authMethods []any
	}{
		{name: "public client", authMethods: []any{"none"}},
		{name: "confidential client", secret: "s3cret", authMethods: []any{"client_secret_basic", "client_secret_post"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t, oidctest.Options{ClientSecret: tt.secret})
			var doc map[string]any
			getJSON(t, p.URL+"/.well-known/openid-configuration", "", http.StatusOK, &doc)
			want := map[string]any{
				"issuer":                                p.URL,
				"authorization_endpoint":                p.URL + "/authorize",
				"token_endpoint":                        p.URL + "/token",
				"jwks_uri":                              p.URL + "/jwks",
				"userinfo_endpoint":                     p.URL + "/userinfo",
				"response_types_supported":              []any{"code"},
				"subject_types_supported":               []any{"public"},
				"id_token_signing_alg_values_supported": []any{"RS256"},
				"code_challenge_methods_supported":      []any{"S256"},
				"scopes_supported":                      []any{"openid", "email", "profile"},
				"token_endpoint_auth_methods_supported": tt.authMethods,
				"grant_types_supported":                 []any{"authorization_code"},
			}
			for field, value := range want {
				if got := fmt.Sprint(doc[field]); got != fmt.Sprint(value) {
					t.Errorf("%s = %s, want %s", field, got, fmt.Sprint(value))
				}
			}
			if u, err := url.Parse(p.URL); err != nil || u.Hostname() != "127.0.0.1" || u.Path != "" {
				t.Errorf("issuer %q, want http://127.0.0.1:PORT", p.URL)
			}
			if got := p.Stats().DiscoveryFetches; got != 1 {
				t.Errorf("discovery fetches = %d, want 1", got)
			}
		})
	}
}
