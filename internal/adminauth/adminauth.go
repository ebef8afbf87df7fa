// Package adminauth checks operators' bearer tokens: API tokens kept as
// SHA-256 digests, and JWTs from the organisation's OpenID Connect provider
// carrying a usher role. The gateway's admin listener and the booking
// backend's operator API accept the same tokens.
package adminauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Role is what an operator may do.
type Role string

const (
	// Viewer may read everything and change nothing.
	Viewer Role = "viewer"
	// Operator may also change things.
	Operator Role = "operator"
)

// Allows reports whether r may do what needs need.
func (r Role) Allows(need Role) bool {
	return r == Operator || (r == Viewer && need == Viewer)
}

// Token is an API token: only its SHA-256 is kept, so a configuration holds
// no secret.
type Token struct {
	Name   string
	SHA256 [32]byte
	Role   Role
}

// OIDC is the organisation's OpenID Connect provider.
type OIDC struct {
	// Issuer is the provider's issuer URL; its discovery document and keys
	// are fetched from it.
	Issuer string
	// ClientID and ClientSecret identify usher to the provider (the secret
	// is empty for a public client).
	ClientID, ClientSecret string
	// RedirectURL is where the provider sends operators back after a login.
	RedirectURL string
	// Audience is the aud a bearer JWT must carry. Default ClientID.
	Audience string
	// RolesClaim is the claim holding the user's roles: a name, or a dotted
	// path into nested claims ("realm_access.roles"). Its value is a string
	// or a list of strings.
	RolesClaim string
	// OperatorRole and ViewerRole are the role values that grant usher's
	// roles.
	OperatorRole, ViewerRole string
	// Scopes requested at login; "openid" is always included.
	Scopes []string
}

// Principal is who made an authenticated request.
type Principal struct {
	Who  string
	Via  string // "token" or "oidc"
	Role Role
}

// Errors of Authenticate; all but ErrNoRole mean 401.
var (
	ErrNoCredentials = errors.New("no credentials")
	ErrBadCredential = errors.New("invalid credentials")
	ErrNoRole        = errors.New("no usher role")
)

// Authenticator checks bearer tokens. It is safe for concurrent use.
type Authenticator struct {
	tokens []Token
	oidc   *OIDC
	now    func() time.Time

	mu       sync.Mutex
	provider *oidc.Provider
	lastTry  time.Time
}

// New returns an Authenticator for tokens and, when o is not nil, the
// provider's JWTs. now is the clock of token expiry (nil: time.Now).
func New(tokens []Token, o *OIDC, now func() time.Time) *Authenticator {
	if now == nil {
		now = time.Now
	}
	return &Authenticator{tokens: tokens, oidc: o, now: now}
}

// OIDC is the provider, or nil.
func (a *Authenticator) OIDC() *OIDC { return a.oidc }

// Request authenticates the Authorization header of r: ErrNoCredentials when
// there is none.
func (a *Authenticator) Request(r *http.Request) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, ErrNoCredentials
	}
	raw, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || raw == "" {
		return Principal{}, ErrBadCredential
	}
	return a.Bearer(r.Context(), raw)
}

// Bearer checks one bearer token: an API token, compared by digest in
// constant time, or a JWT verified through the provider's discovery and keys
// (issuer, audience, expiry, signature).
func (a *Authenticator) Bearer(ctx context.Context, raw string) (Principal, error) {
	sum := sha256.Sum256([]byte(raw))
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.SHA256[:]) == 1 {
			return Principal{Who: t.Name, Via: "token", Role: t.Role}, nil
		}
	}
	if a.oidc == nil || strings.Count(raw, ".") != 2 {
		return Principal{}, ErrBadCredential
	}
	p, err := a.Provider(ctx)
	if err != nil {
		return Principal{}, ErrBadCredential
	}
	aud := a.oidc.Audience
	if aud == "" {
		aud = a.oidc.ClientID
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: aud, Now: a.now}).Verify(ctx, raw)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	return a.PrincipalOf(tok)
}

// PrincipalOf reads who and what role a verified token carries; ErrNoRole
// (with the principal's Who set) when it carries no usher role.
func (a *Authenticator) PrincipalOf(tok *oidc.IDToken) (Principal, error) {
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Principal{}, ErrBadCredential
	}
	who := tok.Subject
	if email, ok := claims["email"].(string); ok && email != "" {
		who = email
	}
	role := a.roleOf(claims)
	if role == "" {
		return Principal{Who: who, Via: "oidc"}, ErrNoRole
	}
	return Principal{Who: who, Via: "oidc", Role: role}, nil
}

// roleOf finds the strongest usher role in the roles claim.
func (a *Authenticator) roleOf(claims map[string]any) Role {
	var v any = claims
	for _, part := range strings.Split(a.oidc.RolesClaim, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[part]
	}
	var roles []string
	switch x := v.(type) {
	case string:
		roles = strings.Fields(x)
	case []any:
		for _, e := range x {
			if s, ok := e.(string); ok {
				roles = append(roles, s)
			}
		}
	}
	role := Role("")
	for _, r := range roles {
		switch r {
		case a.oidc.OperatorRole:
			return Operator
		case a.oidc.ViewerRole:
			role = Viewer
		}
	}
	return role
}

// Provider discovers the provider on first use, and again after a failure
// at most every 10 seconds, so a provider that is down when usher starts
// costs only the requests made meanwhile.
func (a *Authenticator) Provider(ctx context.Context) (*oidc.Provider, error) {
	if a.oidc == nil {
		return nil, errors.New("no OpenID Connect provider is configured")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provider != nil {
		return a.provider, nil
	}
	now := time.Now()
	if !a.lastTry.IsZero() && now.Sub(a.lastTry) < 10*time.Second {
		return nil, errors.New("openid connect provider unavailable")
	}
	a.lastTry = now
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, a.oidc.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", a.oidc.Issuer, err)
	}
	a.provider = p
	return p, nil
}
