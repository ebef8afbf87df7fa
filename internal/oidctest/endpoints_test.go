package oidctest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/usherhq/usher/internal/oidctest"
)

// authorizeParams returns a valid authorization request for p, which each
// case of TestAuthorize then breaks in one place.
func authorizeParams(p *oidctest.Provider) url.Values {
	return url.Values{
		"client_id":             {p.ClientID()},
		"redirect_uri":          {"http://127.0.0.1:1/callback?from=test"},
		"response_type":         {"code"},
		"scope":                 {"openid email"},
		"state":                 {"xyz"},
		"nonce":                 {"n-1"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())},
		"code_challenge_method": {"S256"},
	}
}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name   string
		change func(url.Values)
		post   bool
		// wantStatus 302 means a redirect to the client: with wantError, or
		// with a code when wantError is empty.
		wantStatus int
		wantError  string
		// wantHost is the host of the redirect; default 127.0.0.1:1.
		wantHost string
	}{
		{name: "valid", change: func(url.Values) {}, wantStatus: http.StatusFound},
		{name: "valid by POST", change: func(url.Values) {}, post: true, wantStatus: http.StatusFound},
		{name: "no state", change: func(v url.Values) { v.Del("state") }, wantStatus: http.StatusFound},
		{
			name: "localhost redirect", change: func(v url.Values) { v.Set("redirect_uri", "http://localhost:8080/cb") },
			wantStatus: http.StatusFound, wantHost: "localhost:8080",
		},
		{
			name: "other 127/8 address over https", change: func(v url.Values) { v.Set("redirect_uri", "https://127.3.2.1/cb") },
			wantStatus: http.StatusFound, wantHost: "127.3.2.1",
		},
		{name: "unknown client_id", change: func(v url.Values) { v.Set("client_id", "intruder") }, wantStatus: http.StatusBadRequest},
		{name: "no client_id", change: func(v url.Values) { v.Del("client_id") }, wantStatus: http.StatusBadRequest},
		{name: "no redirect_uri", change: func(v url.Values) { v.Del("redirect_uri") }, wantStatus: http.StatusBadRequest},
		{
			name:       "redirect_uri off loopback",
			change:     func(v url.Values) { v.Set("redirect_uri", "https://venue.example/callback") },
			wantStatus: http.StatusBadRequest,
		},
		{
			name:       "redirect_uri on a look-alike host",
			change:     func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1.venue.example/callback") },
			wantStatus: http.StatusBadRequest,
		},
		{
			name:       "redirect_uri with a fragment",
			change:     func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:1/callback#frag") },
			wantStatus: http.StatusBadRequest,
		},
		{
			name:       "redirect_uri not http",
			change:     func(v url.Values) { v.Set("redirect_uri", "javascript://127.0.0.1/%0aalert(1)") },
			wantStatus: http.StatusBadRequest,
		},
		{
			name:       "redirect_uri repeated",
			change:     func(v url.Values) { v.Add("redirect_uri", "http://127.0.0.1:2/callback") },
			wantStatus: http.StatusBadRequest,
		},
		{
			name:       "implicit flow",
			change:     func(v url.Values) { v.Set("response_type", "id_token token") },
			wantStatus: http.StatusFound, wantError: "unsupported_response_type",
		},
		{
			name:       "no response_type",
			change:     func(v url.Values) { v.Del("response_type") },
			wantStatus: http.StatusFound, wantError: "invalid_request",
		},
		{
			name:       "scope without openid",
			change:     func(v url.Values) { v.Set("scope", "email profile") },
			wantStatus: http.StatusFound, wantError: "invalid_scope",
		},
		{
			name:       "no PKCE",
			change:     func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") },
			wantStatus: http.StatusFound, wantError: "invalid_request",
		},
		{
			name:       "PKCE without method, which means plain",
			change:     func(v url.Values) { v.Del("code_challenge_method") },
			wantStatus: http.StatusFound, wantError: "invalid_request",
		},
		{
			name: "plain PKCE",
			change: func(v url.Values) {
				v.Set("code_challenge", strings.Repeat("a", 43))
				v.Set("code_challenge_method", "plain")
			},
			wantStatus: http.StatusFound, wantError: "invalid_request",
		},
		{
			name:       "challenge not a SHA-256 sum",
			change:     func(v url.Values) { v.Set("code_challenge", "abc") },
			wantStatus: http.StatusFound, wantError: "invalid_request",
		},
		{
			name:       "state repeated",
			change:     func(v url.Values) { v.Add("state", "other") },
			wantStatus: http.StatusFound, wantError: "invalid_request",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t, oidctest.Options{})
			params := authorizeParams(p)
			tt.change(params)

			var req *http.Request
			var err error
			if tt.post {
				req, err = http.NewRequestWithContext(t.Context(), http.MethodPost, p.URL+"/authorize", strings.NewReader(params.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			} else {
				req, err = http.NewRequestWithContext(t.Context(), http.MethodGet, p.URL+"/authorize?"+params.Encode(), nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, err := noRedirects().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := p.Stats().Authorizations; got != 1 {
				t.Errorf("authorizations = %d, want 1", got)
			}
			if tt.wantStatus != http.StatusFound {
				if loc := resp.Header.Get("Location"); loc != "" {
					t.Errorf("Location %q, want none: the redirect URI is not trusted", loc)
				}
				return
			}

			loc, err := resp.Location()
			if err != nil {
				t.Fatal(err)
			}
			wantHost := tt.wantHost
			if wantHost == "" {
				wantHost = "127.0.0.1:1"
				if got := loc.Query().Get("from"); got != "test" {
					t.Errorf("query of the redirect URI lost: %s", loc)
				}
			}
			if loc.Host != wantHost {
				t.Errorf("redirected to host %q, want %q", loc.Host, wantHost)
			}
			q := loc.Query()
			if got, want := q.Get("state"), params.Get("state"); got != want {
				t.Errorf("state = %q, want %q", got, want)
			}
			if got := q.Get("error"); got != tt.wantError {
				t.Errorf("error = %q (%s), want %q", got, q.Get("error_description"), tt.wantError)
			}
			if gotCode := q.Get("code") != ""; gotCode != (tt.wantError == "") {
				t.Errorf("code = %q with error %q: want a code exactly when there is no error", q.Get("code"), tt.wantError)
			}
		})
	}
}

// TestDeny checks that a denial refuses one valid request, survives a
// malformed one, and that SetUser cancels it.
func TestDeny(t *testing.T) {
	type step struct {
		noPKCE    bool
		wantError string
	}
	tests := []struct {
		name  string
		setup func(*oidctest.Provider)
		steps []step
	}{
		{
			name:  "refuses the next request only",
			setup: func(p *oidctest.Provider) { p.Deny("not an operator") },
			steps: []step{{wantError: "access_denied"}, {}},
		},
		{
			name:  "waits for a valid request",
			setup: func(p *oidctest.Provider) { p.Deny("not an operator") },
			steps: []step{{noPKCE: true, wantError: "invalid_request"}, {wantError: "access_denied"}, {}},
		},
		{
			name: "cancelled by SetUser",
			setup: func(p *oidctest.Provider) {
				p.Deny("not an operator")
				p.SetUser(oidctest.User{Subject: "bob"})
			},
			steps: []step{{}},
		},
		{
			name:  "no denial",
			setup: func(*oidctest.Provider) {},
			steps: []step{{}, {}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t, oidctest.Options{})
			_, cfg := discover(t, p, "", oauth2.AuthStyleInParams)
			tt.setup(p)
			for i, s := range tt.steps {
				opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(oauth2.GenerateVerifier())}
				if s.noPKCE {
					opts = nil
				}
				q := p.Authorize(t, cfg.AuthCodeURL("st", opts...)).Query()
				if got := q.Get("error"); got != s.wantError {
					t.Fatalf("step %d: error %q (%s), want %q", i, got, q.Get("error_description"), s.wantError)
				}
				if s.wantError == "access_denied" && q.Get("error_description") != "not an operator" {
					t.Errorf("step %d: error_description %q, want the reason given to Deny", i, q.Get("error_description"))
				}
				if s.wantError == "" && q.Get("code") == "" {
					t.Errorf("step %d: no code", i)
				}
			}
		})
	}
}

// TestTokenEndpoint sends token requests that no well-behaved library would
// build.
func TestTokenEndpoint(t *testing.T) {
	tests := []struct {
		name       string
		secret     string
		form       url.Values
		basic      [2]string // user and password of Basic authentication, if set
		wantStatus int
		wantError  string
	}{
		{
			name:       "refresh grant",
			form:       url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"usher-test"}},
			wantStatus: http.StatusBadRequest, wantError: "unsupported_grant_type",
		},
		{
			name:       "no grant_type",
			form:       url.Values{"code": {"x"}, "client_id": {"usher-test"}},
			wantStatus: http.StatusBadRequest, wantError: "invalid_request",
		},
		{
			name:       "no code",
			form:       url.Values{"grant_type": {"authorization_code"}, "client_id": {"usher-test"}},
			wantStatus: http.StatusBadRequest, wantError: "invalid_request",
		},
		{
			name:       "code repeated",
			form:       url.Values{"grant_type": {"authorization_code"}, "code": {"a", "b"}, "client_id": {"usher-test"}},
			wantStatus: http.StatusBadRequest, wantError: "invalid_request",
		},
		{
			name:       "no client",
			form:       url.Values{"grant_type": {"authorization_code"}, "code": {"x"}},
			wantStatus: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:       "unknown client",
			form:       url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"intruder"}},
			wantStatus: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name:       "two authentication methods",
			secret:     "s3cret",
			form:       url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_secret": {"s3cret"}},
			basic:      [2]string{"usher-test", "s3cret"},
			wantStatus: http.StatusBadRequest, wantError: "invalid_request",
		},
		{
			name:       "client_id differs from basic user",
			secret:     "s3cret",
			form:       url.Values{"grant_type": {"authorization_code"}, "code": {"x"}, "client_id": {"other"}},
			basic:      [2]string{"usher-test", "s3cret"},
			wantStatus: http.StatusBadRequest, wantError: "invalid_request",
		},
		{
			name:       "authenticated, unknown code",
			secret:     "s3cret",
			form:       url.Values{"grant_type": {"authorization_code"}, "code": {"x"}},
			basic:      [2]string{"usher-test", "s3cret"},
			wantStatus: http.StatusBadRequest, wantError: "invalid_grant",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := oidctest.New(t, oidctest.Options{ClientSecret: tt.secret})
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.URL+"/token", strings.NewReader(tt.form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.basic[0] != "" {
				req.SetBasicAuth(tt.basic[0], tt.basic[1])
			}
			var body struct {
				Error string `json:"error"`
			}
			doJSON(t, req, tt.wantStatus, &body)
			if body.Error != tt.wantError {
				t.Errorf("error %q, want %q", body.Error, tt.wantError)
			}
		})
	}

	t.Run("GET", func(t *testing.T) {
		p := oidctest.New(t, oidctest.Options{})
		resp, err := http.Get(p.URL + "/token")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", resp.StatusCode)
		}
	})
}

// TestUserinfo checks which bearer tokens the userinfo endpoint accepts.
func TestUserinfo(t *testing.T) {
	tests := []struct {
		name       string
		bearer     func(t *testing.T, tok *oauth2.Token, p *oidctest.Provider) string
		advance    bool // move the clock past the access token's expiry
		wantStatus int
	}{
		{name: "access token", bearer: func(_ *testing.T, tok *oauth2.Token, _ *oidctest.Provider) string { return tok.AccessToken }, wantStatus: http.StatusOK},
		{name: "no token", bearer: func(*testing.T, *oauth2.Token, *oidctest.Provider) string { return "" }, wantStatus: http.StatusUnauthorized},
		{
			name: "ID token",
			bearer: func(_ *testing.T, tok *oauth2.Token, _ *oidctest.Provider) string {
				return tok.Extra("id_token").(string)
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "minted token",
			bearer:     func(t *testing.T, _ *oauth2.Token, p *oidctest.Provider) string { return p.Mint(t, oidctest.Mint{}) },
			wantStatus: http.StatusUnauthorized,
		},
		{
			name:       "expired access token",
			bearer:     func(_ *testing.T, tok *oauth2.Token, _ *oidctest.Provider) string { return tok.AccessToken },
			advance:    true,
			wantStatus: http.StatusUnauthorized,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			p := oidctest.New(t, oidctest.Options{Now: clock.Now})
			p.SetUser(oidctest.User{Subject: "carol", Email: "carol@venue.example", Claims: map[string]any{"roles": []string{"usher-viewer"}}})
			_, cfg := discover(t, p, "", oauth2.AuthStyleInParams)
			code, verifier := login(t, p, cfg)
			tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tt.advance {
				clock.Advance(time.Hour + time.Second)
			}

			var claims map[string]any
			getJSON(t, p.URL+"/userinfo", tt.bearer(t, tok, p), tt.wantStatus, &claims)
			if tt.wantStatus != http.StatusOK {
				return
			}
			if claims["sub"] != "carol" || claims["email"] != "carol@venue.example" || fmt.Sprint(claims["roles"]) != "[usher-viewer]" {
				t.Errorf("userinfo = %v, want carol's claims", claims)
			}
		})
	}
}

// getJSON GETs url, with a bearer token unless it is empty, and decodes the
// JSON answer into v after checking its status.
func getJSON(t *testing.T, url, bearer string, wantStatus int, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	doJSON(t, req, wantStatus, v)
}

func doJSON(t *testing.T, req *http.Request, wantStatus int, v any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, wantStatus, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
}
