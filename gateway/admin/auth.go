package admin

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usherhq/usher/internal/adminauth"
	"github.com/usherhq/usher/internal/sealed"
)

// Role is what an operator may do.
type Role = adminauth.Role

// The roles.
const (
	RoleViewer   = adminauth.Viewer
	RoleOperator = adminauth.Operator
)

// Token is an API token, kept as its SHA-256.
type Token = adminauth.Token

// OIDC is the organisation's OpenID Connect provider.
type OIDC = adminauth.OIDC

// principal is who made an authenticated request.
type principal struct {
	adminauth.Principal
	// csrf is the session's anti-forgery token; empty for bearer requests,
	// which a browser never attaches by itself.
	csrf string
}

// authenticator checks bearer tokens (through adminauth) and dashboard
// sessions.
type authenticator struct {
	*adminauth.Authenticator
	sealer     *sealed.Sealer // signs sessions and logins in progress
	sessionTTL time.Duration
	secure     bool
	now        func() time.Time
}

const (
	sessionCookie = "usher_admin_session"
	loginCookie   = "usher_admin_login"
)

// authenticate finds who made r: a bearer token, or a dashboard session
// cookie.
func (a *authenticator) authenticate(r *http.Request) (principal, error) {
	if r.Header.Get("Authorization") != "" {
		p, err := a.Request(r)
		return principal{Principal: p}, err
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		var s session
		if !a.sealer.Open(c.Value, &s) || a.now().Unix() >= s.Exp {
			return principal{}, adminauth.ErrBadCredential
		}
		return principal{Principal: adminauth.Principal{Who: s.Who, Via: "oidc", Role: s.Role}, csrf: s.CSRF}, nil
	}
	return principal{}, adminauth.ErrNoCredentials
}

func (a *authenticator) oauth2Config(p *oidc.Provider) *oauth2.Config {
	o := a.OIDC()
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range o.Scopes {
		if s != oidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: o.RedirectURL, Scopes: scopes,
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
