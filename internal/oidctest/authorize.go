package oidctest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// maxFormBytes bounds the body of a form the provider reads.
const maxFormBytes = 64 << 10

// authorizeParams are the authorization request parameters the provider
// reads; each may appear at most once (RFC 6749, section 3.1).
var authorizeParams = []string{
	"client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
	"code_challenge", "code_challenge_method",
}

// oauthError is an error response of RFC 6749, sections 4.1.2.1 and 5.2.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func newOAuthError(code, format string, args ...any) *oauthError {
	return &oauthError{Code: code, Description: fmt.Sprintf(format, args...)}
}

// serveAuthorize approves the current user, or refuses, without a form.
// Errors about the client or its redirect URI answer 400 here, since sending
// the browser to an unverified URI would make the provider an open redirector;
// every other error goes back to the client, as RFC 6749 section 4.1.2.1 says.
func (p *Provider) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	p.count(func(s *Stats) { s.Authorizations++ })
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		p.refuse(w, fmt.Errorf("parse authorization request: %w", err))
		return
	}
	params := r.Form
	redirectURI, err := p.checkClient(params)
	if err != nil {
		p.refuse(w, err)
		return
	}
	state := params.Get("state")
	if oerr := checkAuthorizeParams(params); oerr != nil {
		p.t.Logf("oidctest: authorization refused: %v", oerr)
		redirect(w, r, redirectURI, errorParams(oerr, state))
		return
	}

	code := rand.Text()
	p.mu.Lock()
	denial := p.denial
	p.denial = nil
	if denial == nil {
		p.codes[code] = &authCode{
			clientID:    p.clientID,
			redirectURI: params.Get("redirect_uri"),
			challenge:   params.Get("code_challenge"),
			nonce:       params.Get("nonce"),
			scope:       params.Get("scope"),
			user:        p.user,
			expires:     p.now().Add(codeLifetime),
		}
	}
	p.mu.Unlock()

	if denial != nil {
		redirect(w, r, redirectURI, errorParams(&oauthError{Code: "access_denied", Description: *denial}, state))
		return
	}
	answer := url.Values{"code": {code}}
	if state != "" {
		answer.Set("state", state)
	}
	redirect(w, r, redirectURI, answer)
}

// refuse answers an authorization request that cannot be sent back to the
// client.
func (p *Provider) refuse(w http.ResponseWriter, err error) {
	p.t.Logf("oidctest: authorization refused: %v", err)
	http.Error(w, "oidctest: "+err.Error(), http.StatusBadRequest)
}

// checkClient returns the redirect URI of an authorization request once the
// client is known and the URI is one the provider may send a browser to.
func (p *Provider) checkClient(params url.Values) (*url.URL, error) {
	for _, name := range []string{"client_id", "redirect_uri"} {
		if len(params[name]) > 1 {
			return nil, fmt.Errorf("parameter %s repeated", name)
		}
	}
	switch id := params.Get("client_id"); id {
	case "":
		return nil, errors.New("client_id is required")
	case p.clientID:
	default:
		return nil, fmt.Errorf("unknown client_id %q", id)
	}
	return checkRedirectURI(params.Get("redirect_uri"))
}

// checkRedirectURI accepts any absolute http or https URI without a fragment
// whose host is loopback: 127.0.0.0/8, ::1 or localhost. Tests run their
// callbacks there, so the provider needs no client registration.
func checkRedirectURI(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("redirect_uri is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("redirect_uri: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("redirect_uri %q: scheme must be http or https", raw)
	}
	if strings.Contains(raw, "#") {
		return nil, fmt.Errorf("redirect_uri %q: must not have a fragment", raw)
	}
	if !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("redirect_uri %q: host must be loopback (127.0.0.0/8, ::1 or localhost)", raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkAuthorizeParams checks what is left of an authorization request once
// its client and redirect URI are trusted.
func checkAuthorizeParams(params url.Values) *oauthError {
	for _, name := range authorizeParams {
		if len(params[name]) > 1 {
			return newOAuthError("invalid_request", "parameter %s repeated", name)
		}
	}
	switch rt := params.Get("response_type"); rt {
	case "code":
	case "":
		return newOAuthError("invalid_request", "response_type is required")
	default:
		return newOAuthError("unsupported_response_type", "response_type %q is not supported; use code", rt)
	}
	if !slices.Contains(strings.Fields(params.Get("scope")), "openid") {
		return newOAuthError("invalid_scope", "scope must contain openid")
	}
	return checkChallenge(params.Get("code_challenge"), params.Get("code_challenge_method"))
}

// checkChallenge demands PKCE with S256 (RFC 7636). A missing method means
// "plain", which is refused like a missing challenge: the client under test
// must use S256.
func checkChallenge(challenge, method string) *oauthError {
	if challenge == "" {
		return newOAuthError("invalid_request", "code_challenge is required (PKCE with S256)")
	}
	if method != "S256" {
		return newOAuthError("invalid_request", "code_challenge_method must be S256, got %q", method)
	}
	// An S256 challenge is the unpadded base64url of a SHA-256 sum.
	if raw, err := base64.RawURLEncoding.DecodeString(challenge); err != nil || len(raw) != 32 {
		return newOAuthError("invalid_request", "code_challenge is not a base64url SHA-256 sum")
	}
	return nil
}

func errorParams(e *oauthError, state string) url.Values {
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	if state != "" {
		v.Set("state", state)
	}
	return v
}

// redirect sends the browser to base with params added to its query.
func redirect(w http.ResponseWriter, r *http.Request, base *url.URL, params url.Values) {
	u := *base
	q := u.Query()
	for name, values := range params {
		q[name] = values
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// Authorize plays the browser: it requests authURL, an authorization URL of
// this provider such as oauth2.Config.AuthCodeURL builds, without following
// the redirect, and returns where the provider sends the browser: the
// client's redirect_uri with code and state, or with error and
// error_description. It fails the test unless the provider answers 302.
func (p *Provider) Authorize(t testing.TB, authURL string) *url.URL {
	t.Helper()
	if !strings.HasPrefix(authURL, p.URL+"/authorize?") {
		t.Fatalf("oidctest: Authorize: %q is not an authorization URL of %s", authURL, p.URL)
		return nil
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, authURL, nil)
	if err != nil {
		t.Fatalf("oidctest: Authorize: %v", err)
		return nil
	}
	client := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("oidctest: Authorize: %v", err)
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		t.Fatalf("oidctest: Authorize: status %d, want 302: %s", resp.StatusCode, bytes.TrimSpace(body))
		return nil
	}
	loc, err := resp.Location()
	if err != nil {
		t.Fatalf("oidctest: Authorize: %v", err)
		return nil
	}
	return loc
}
