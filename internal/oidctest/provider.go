// Package oidctest runs a real OpenID Connect provider inside a test.
//
// The provider listens on a loopback port and speaks the authorization code
// flow with PKCE (S256 only) the way a production provider does: a discovery
// document, a JWKS, authorize, token and userinfo endpoints, and RS256-signed
// ID and access tokens. Any standard client library can log in against it.
// There is no login form: the authorize endpoint approves the current user
// (see [Provider.SetUser]) or refuses once after [Provider.Deny].
//
// It is built for tests only: it keeps everything in memory, trusts every
// loopback redirect URI and never forgets a key or a token before the test
// ends.
package oidctest

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// DefaultClientID is the client ID that [New] registers when
// [Options.ClientID] is empty.
const DefaultClientID = "usher-test"

const (
	// codeLifetime is how long an authorization code can be exchanged.
	codeLifetime = 60 * time.Second
	// tokenLifetime is the lifetime of every ID and access token issued by
	// the token endpoint, and the default lifetime of a minted token.
	tokenLifetime = time.Hour
)

// Options configure a [Provider]. The zero value is a public client named
// [DefaultClientID] on the real clock.
type Options struct {
	// ClientID is the one client the provider knows. Default [DefaultClientID].
	ClientID string
	// ClientSecret makes the client confidential: the token endpoint then
	// requires it, sent with client_secret_basic or client_secret_post.
	// Default "": a public client, which authenticates with its client_id
	// alone (and whose secret, if one is sent, is ignored).
	ClientSecret string
	// Now is the provider's clock: it dates tokens and expires codes and
	// access tokens. Default time.Now. Inject a fake clock to test expiry
	// without sleeping, and give the same clock to the verifier under test.
	Now func() time.Time
}

// User is who the authorize endpoint signs in, without any form.
type User struct {
	// Subject is the "sub" claim. It must not be empty.
	Subject string
	// Email is the "email" claim, left out when empty.
	Email string
	// Name is the "name" claim, left out when empty.
	Name string
	// Claims are extra claims put in the ID token, the access token and the
	// userinfo answer, e.g. "roles": []string{"usher-operator"} or a nested
	// "realm_access": map[string]any{"roles": []string{...}}. They must be
	// JSON-encodable and must not name a claim the provider sets itself
	// (iss, sub, aud, exp, iat, nbf, jti, nonce, at_hash, azp, client_id,
	// scope, email, name).
	Claims map[string]any
}

// defaultUser is who signs in until SetUser names someone else.
var defaultUser = User{
	Subject: "operator-1",
	Email:   "op@venue.example",
	Name:    "Test Operator",
}

// reservedClaims are the claims the provider sets itself; User.Claims may not
// override them, so a token always says what the provider means.
var reservedClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "nonce", "at_hash",
	"azp", "client_id", "scope", "email", "name",
}

// Stats counts the requests each endpoint has received, whatever their
// outcome.
type Stats struct {
	// Authorizations counts requests to the authorize endpoint.
	Authorizations int
	// TokenExchanges counts requests to the token endpoint. A client that
	// probes for its authentication style (golang.org/x/oauth2 does by
	// default) may send two for one failed exchange.
	TokenExchanges int
	// JWKSFetches counts requests for the JWKS.
	JWKSFetches int
	// DiscoveryFetches counts requests for the discovery document.
	DiscoveryFetches int
	// UserinfoRequests counts requests to the userinfo endpoint.
	UserinfoRequests int
}

// Provider is an OpenID Connect provider on a loopback port, alive until the
// test ends. Its methods are safe for concurrent use.
type Provider struct {
	// URL is the issuer, "http://127.0.0.1:PORT" (no trailing slash). The
	// endpoints live under it; the discovery document is at
	// URL + "/.well-known/openid-configuration".
	URL string

	t            testing.TB
	clientID     string
	clientSecret string
	now          func() time.Time

	mu           sync.Mutex
	keys         []signingKey // every key ever used; the last one signs
	user         User
	denial       *string // reason for refusing the next authorization
	codes        map[string]*authCode
	accessTokens map[string]accessGrant
	stats        Stats
}

// authCode is what an authorization request leaves for the token request.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	nonce       string
	scope       string
	user        User
	expires     time.Time
	used        bool
}

// accessGrant is what the userinfo endpoint answers for an access token.
type accessGrant struct {
	claims  map[string]any
	expires time.Time
}

// New starts a provider on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB, opts Options) *Provider {
	t.Helper()
	key, err := newSigningKey()
	if err != nil {
		t.Fatalf("oidctest: %v", err)
	}
	p := &Provider{
		t:            t,
		clientID:     opts.ClientID,
		clientSecret: opts.ClientSecret,
		now:          opts.Now,
		keys:         []signingKey{key},
		user:         cloneUser(defaultUser),
		codes:        make(map[string]*authCode),
		accessTokens: make(map[string]accessGrant),
	}
	if p.clientID == "" {
		p.clientID = DefaultClientID
	}
	if p.now == nil {
		p.now = time.Now
	}

	// httptest picks a loopback address on its own, but it may fall back to
	// IPv6; the issuer is promised to be on 127.0.0.1.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("oidctest: listen: %v", err)
	}
	srv := httptest.NewUnstartedServer(p.routes())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *Provider) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET /jwks", p.serveJWKS)
	mux.HandleFunc("GET /authorize", p.serveAuthorize)
	mux.HandleFunc("POST /authorize", p.serveAuthorize)
	mux.HandleFunc("POST /token", p.serveToken)
	mux.HandleFunc("GET /userinfo", p.serveUserinfo)
	mux.HandleFunc("POST /userinfo", p.serveUserinfo)
	return mux
}

// ClientID returns the client ID the provider accepts.
func (p *Provider) ClientID() string { return p.clientID }

// SetUser makes u the user whom every later authorization request approves,
// and cancels a pending [Provider.Deny]. Codes already issued keep the user
// they were issued for. SetUser fails the test (and changes nothing) when u
// has no Subject or its Claims name a reserved claim.
//
// Until SetUser is called the user is subject "operator-1", email
// "op@venue.example", name "Test Operator", with no extra claims.
func (p *Provider) SetUser(u User) {
	p.t.Helper()
	if err := checkUser(u); err != nil {
		p.t.Errorf("oidctest: SetUser: %v", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.user = cloneUser(u)
	p.denial = nil
}

func checkUser(u User) error {
	if u.Subject == "" {
		return fmt.Errorf("empty Subject")
	}
	for _, name := range reservedClaims {
		if _, ok := u.Claims[name]; ok {
			return fmt.Errorf("claim %q is set by the provider; use the User fields or Mint instead", name)
		}
	}
	return nil
}

// cloneUser copies the top level of u.Claims so that a caller changing its
// map afterwards does not change tokens behind the provider's lock.
func cloneUser(u User) User {
	u.Claims = maps.Clone(u.Claims)
	return u
}

// Deny makes the next valid authorization request fail: the provider
// redirects back with error=access_denied and reason as error_description.
// Only one request is refused; [Provider.SetUser] cancels a pending denial.
// Malformed requests are refused for what is wrong with them and leave the
// denial pending.
func (p *Provider) Deny(reason string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.denial = &reason
}

// Stats returns how many requests each endpoint has received so far.
func (p *Provider) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// RotateKey makes a new signing key, with a new kid, sign every later token.
// The JWKS keeps publishing every older key, so tokens signed before the
// rotation still verify.
func (p *Provider) RotateKey() {
	p.t.Helper()
	key, err := newSigningKey()
	if err != nil {
		p.t.Fatalf("oidctest: rotate key: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, key)
}

// count runs f on the counters under the lock.
func (p *Provider) count(f func(*Stats)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(&p.stats)
}
