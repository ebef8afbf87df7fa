package oidctest

import (
	"cmp"
	"maps"
	"testing"
	"time"
)

// StrangerKey is the [Mint] Key that signs with an RSA key that the JWKS
// does not publish, under the kid of the provider's active key: the token
// looks right and its signature is bad.
const StrangerKey = "stranger"

// mintedClaims are the claims that a Mint field sets; Mint.Claims may not
// name them.
var mintedClaims = []string{"iss", "sub", "aud", "exp", "iat"}

// Mint describes a token to sign directly, without a browser, for
// bearer-token tests. The zero value mints a valid token for the current
// user, with the same registered claims as an ID token.
type Mint struct {
	// Subject is the "sub" claim. Default: the subject of the current user
	// (see [Provider.SetUser]).
	Subject string
	// Audience is the "aud" claim. Default (nil): the provider's client ID
	// (see [Provider.ClientID]). A non-nil
	// empty slice leaves "aud" out.
	Audience []string
	// Issuer is the "iss" claim. Default: the provider's URL; set another
	// to test a wrong issuer.
	Issuer string
	// Expiry is the "exp" claim. Default: one hour after the provider's
	// clock reads now; set a past time to test expiry.
	Expiry time.Time
	// IssuedAt is the "iat" claim. Default: the provider's clock now.
	IssuedAt time.Time
	// Claims are extra claims, e.g. "roles" or "email". They must be
	// JSON-encodable and must not name iss, sub, aud, exp or iat, which the
	// fields above set.
	Claims map[string]any
	// Key chooses the signing key: "" (default) the provider's active key;
	// [StrangerKey] a key the JWKS does not publish, to test a bad signature.
	Key string
}

// Mint signs the token m describes with RS256 and returns it in compact
// form. It fails the test when m asks for something Mint cannot do.
func (p *Provider) Mint(t testing.TB, m Mint) string {
	t.Helper()
	for _, name := range mintedClaims {
		if _, ok := m.Claims[name]; ok {
			t.Fatalf("oidctest: Mint: claim %q is set by a Mint field, not by Claims", name)
			return ""
		}
	}
	active := p.activeKey()
	priv := active.priv
	switch m.Key {
	case "":
	case StrangerKey:
		stranger, err := strangerKey()
		if err != nil {
			t.Fatalf("oidctest: Mint: stranger key: %v", err)
			return ""
		}
		priv = stranger
	default:
		t.Fatalf("oidctest: Mint: unknown Key %q, want \"\" or %q", m.Key, StrangerKey)
		return ""
	}

	now := p.now()
	claims := maps.Clone(m.Claims)
	if claims == nil {
		claims = make(map[string]any)
	}
	claims["iss"] = cmp.Or(m.Issuer, p.URL)
	claims["sub"] = cmp.Or(m.Subject, p.currentUser().Subject)
	switch {
	case m.Audience == nil:
		claims["aud"] = []string{p.clientID}
	case len(m.Audience) > 0:
		claims["aud"] = m.Audience
	}
	claims["iat"] = orTime(m.IssuedAt, now).Unix()
	claims["exp"] = orTime(m.Expiry, now.Add(tokenLifetime)).Unix()

	token, err := sign(claims, "JWT", active.kid, priv)
	if err != nil {
		t.Fatalf("oidctest: Mint: %v", err)
		return ""
	}
	return token
}

// orTime returns t, or def when t is the zero time.
func orTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// currentUser returns who the authorize endpoint signs in now.
func (p *Provider) currentUser() User {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.user
}
