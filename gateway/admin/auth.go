package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Role is what an operator may do.
type Role string

const (
	// RoleViewer may read everything and change nothing.
	RoleViewer Role = "viewer"
	// RoleOperator may also change rooms.
	RoleOperator Role = "operator"
)

func (r Role) allows(need Role) bool {
	return r == RoleOperator || (r == RoleViewer && need == RoleViewer)
}

// Token is an API token: only its SHA-256 is kept, so the configuration
// holds no secret.
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
	// is empty for a public client: PKCE protects the code either way).
	ClientID, ClientSecret string
	// RedirectURL is where the provider sends operators back: the admin
	// listener's /auth/callback as operators reach it.
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

// principal is who made an authenticated request.
type principal struct {
	who  string
	via  string // "oidc" (a bearer JWT or a dashboard session), "token"
	role Role
	// csrf is the session's anti-forgery token; empty for bearer requests,
	// which a browser never attaches by itself.
	csrf string
}

// authenticator checks bearer tokens and dashboard sessions.
type authenticator struct {
	tokens     []Token
	oidc       *OIDC
	sessionKey []byte
	sessionTTL time.Duration
	secure     bool
	now        func() time.Time

	mu       sync.Mutex
	provider *oidc.Provider
	lastTry  time.Time
}

var (
	errNoCredentials = errors.New("no credentials")
	errBadCredential = errors.New("invalid credentials")
	errNoRole        = errors.New("no usher role")
)

const (
	sessionCookie = "usher_admin_session"
	loginCookie   = "usher_admin_login"
)

// authenticate finds who made r: a bearer token (an API token, or a JWT from
// the OpenID Connect provider), or a dashboard session cookie.
func (a *authenticator) authenticate(r *http.Request) (principal, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || raw == "" {
			return principal{}, errBadCredential
		}
		return a.bearer(r.Context(), raw)
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		var s session
		if !a.open(c.Value, &s) || a.now().Unix() >= s.Exp {
			return principal{}, errBadCredential
		}
		return principal{who: s.Who, via: "oidc", role: s.Role, csrf: s.CSRF}, nil
	}
	return principal{}, errNoCredentials
}

func (a *authenticator) bearer(ctx context.Context, raw string) (principal, error) {
	sum := sha256.Sum256([]byte(raw))
	for _, t := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.SHA256[:]) == 1 {
			return principal{who: t.Name, via: "token", role: t.Role}, nil
		}
	}
	if a.oidc == nil || strings.Count(raw, ".") != 2 {
		return principal{}, errBadCredential
	}
	p, err := a.providerFor(ctx)
	if err != nil {
		return principal{}, errBadCredential
	}
	aud := a.oidc.Audience
	if aud == "" {
		aud = a.oidc.ClientID
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: aud, Now: a.now}).Verify(ctx, raw)
	if err != nil {
		return principal{}, fmt.Errorf("%w: %w", errBadCredential, err)
	}
	return a.principalOf(tok)
}

// principalOf reads who and what role a verified token carries.
func (a *authenticator) principalOf(tok *oidc.IDToken) (principal, error) {
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return principal{}, errBadCredential
	}
	who := tok.Subject
	if email, ok := claims["email"].(string); ok && email != "" {
		who = email
	}
	role := a.roleOf(claims)
	if role == "" {
		return principal{who: who, via: "oidc"}, errNoRole
	}
	return principal{who: who, via: "oidc", role: role}, nil
}

// roleOf finds the strongest usher role in the roles claim.
func (a *authenticator) roleOf(claims map[string]any) Role {
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
			return RoleOperator
		case a.oidc.ViewerRole:
			role = RoleViewer
		}
	}
	return role
}

// providerFor discovers the provider on first use, and again after a
// failure at most every 10 seconds, so a provider that is down when the
// gateway starts costs only the logins tried meanwhile.
func (a *authenticator) providerFor(ctx context.Context) (*oidc.Provider, error) {
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

func (a *authenticator) oauth2Config(p *oidc.Provider) *oauth2.Config {
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range a.oidc.Scopes {
		if s != oidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{
		ClientID: a.oidc.ClientID, ClientSecret: a.oidc.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: a.oidc.RedirectURL, Scopes: scopes,
	}
}

// session is a logged-in operator, kept in a signed cookie.
type session struct {
	Who  string `json:"who"`
	Role Role   `json:"role"`
	CSRF string `json:"csrf"`
	Exp  int64  `json:"exp"`
}

// login is a login in progress, kept in a signed cookie until the provider
// sends the operator back.
type login struct {
	State    string `json:"state"`
	Verifier string `json:"verifier"`
	Nonce    string `json:"nonce"`
	Exp      int64  `json:"exp"`
}

// seal signs v: base64url(JSON) "." base64url(HMAC-SHA256).
func (a *authenticator) seal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(a.mac(payload)), nil
}

// open checks a sealed value and decodes it into v.
func (a *authenticator) open(s string, v any) bool {
	payload, sig, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, a.mac(payload)) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	return err == nil && json.Unmarshal(b, v) == nil
}

func (a *authenticator) mac(payload string) []byte {
	m := hmac.New(sha256.New, a.sessionKey)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

func (a *authenticator) setCookie(w http.ResponseWriter, name, value string, life time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: int(life / time.Second),
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}

func randomString() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
