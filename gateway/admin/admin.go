// Package admin is usher's admin listener: the rooms API operators and
// tools use to watch and change an on-sale, the dashboard, the login with
// the organisation's OpenID Connect provider, and Prometheus metrics.
//
// Every route but /metrics needs a bearer token (an API token, or a JWT from
// the provider carrying a usher role) or a dashboard session. Viewers may
// read; only operators may change a room. A change made on one instance
// reaches every instance through the queue store, and each is kept in the
// room's audit trail.
package admin

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/admin/dashboard"
	"github.com/usherhq/usher/internal/adminauth"
	"github.com/usherhq/usher/internal/sealed"
)

// Config configures the admin listener.
type Config struct {
	// Tokens are the API tokens that are accepted as bearer tokens.
	Tokens []Token
	// OIDC, when set, lets operators log in to the dashboard and accepts the
	// provider's JWTs as bearer tokens.
	OIDC *OIDC
	// SessionKey signs dashboard sessions (at least 32 bytes). Every
	// instance behind one load balancer needs the same key.
	SessionKey []byte
	// SessionTTL is how long a dashboard login lasts. Default 8h.
	SessionTTL time.Duration
	// PlainHTTP drops Secure from the session cookie.
	PlainHTTP bool
}

// Rooms is what the admin API needs of the admission controller.
type Rooms interface {
	Rooms() []*admission.Room
	Room(id string) *admission.Room
}

// Deps are what the admin listener serves.
type Deps struct {
	Rooms Rooms
	// Revoker keeps revocations. Nil answers the revocation routes with 503.
	Revoker Revoker
	// Cache is the edge cache. Nil serves no rules and purges nothing.
	Cache   Cache
	Metrics http.Handler // GET /metrics, served without authentication
	Logger  *slog.Logger
	// Stop ends the event streams when the gateway stops, so shutdown does
	// not wait for them.
	Stop context.Context
	// Now is the clock of sessions and token checks. Default time.Now.
	Now func() time.Time
	// StreamInterval is how often events are sent. Default 1s.
	StreamInterval time.Duration
}

// Server serves the admin listener.
type Server struct {
	auth   *authenticator
	deps   Deps
	log    *slog.Logger
	routes []route
	mux    *http.ServeMux
}

// route is one admin route: the OpenAPI test walks this list.
type route struct {
	method, pattern string
	need            Role // "" for no authentication
	handler         func(http.ResponseWriter, *http.Request, principal)
}

// New builds the admin listener.
func New(cfg Config, deps Deps) (*Server, error) {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Stop == nil {
		deps.Stop = context.Background()
	}
	if deps.Revoker == nil {
		deps.Revoker = noRevoker{}
	}
	if deps.Cache == nil {
		deps.Cache = noCache{}
	}
	if deps.StreamInterval <= 0 {
		deps.StreamInterval = time.Second
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if len(cfg.SessionKey) < 32 {
		return nil, errors.New("admin: the session key must be at least 32 bytes")
	}
	s := &Server{
		auth: &authenticator{
			Authenticator: adminauth.New(cfg.Tokens, cfg.OIDC, deps.Now),
			sealer:        sealed.New(cfg.SessionKey), sessionTTL: cfg.SessionTTL, secure: !cfg.PlainHTTP, now: deps.Now,
		},
		deps: deps,
		log:  deps.Logger,
		mux:  http.NewServeMux(),
	}
	s.routes = []route{
		{"GET", "/{$}", "", s.dashboardPage},
		{"GET", "/login", "", s.startLogin},
		{"GET", "/auth/callback", "", s.finishLogin},
		{"POST", "/logout", "", s.logout},
		{"GET", "/metrics", "", s.metrics},
		{"GET", "/api/openapi.json", RoleViewer, s.openAPI},
		{"GET", "/api/me", RoleViewer, s.me},
		{"GET", "/api/rooms", RoleViewer, s.listRooms},
		{"GET", "/api/rooms/{id}", RoleViewer, s.getRoom},
		{"PATCH", "/api/rooms/{id}", RoleOperator, s.patchRoom},
		{"POST", "/api/rooms/{id}/pause", RoleOperator, s.roomAction},
		{"POST", "/api/rooms/{id}/resume", RoleOperator, s.roomAction},
		{"POST", "/api/rooms/{id}/soldout", RoleOperator, s.roomAction},
		{"POST", "/api/rooms/{id}/close", RoleOperator, s.roomAction},
		{"GET", "/api/rooms/{id}/stats", RoleViewer, s.roomStats},
		{"GET", "/api/rooms/{id}/events", RoleViewer, s.roomEvents},
		{"GET", "/api/rooms/{id}/audit", RoleViewer, s.roomAudit},
		{"GET", "/api/rooms/{id}/revocations", RoleViewer, s.listRevocations},
		{"POST", "/api/rooms/{id}/revocations", RoleOperator, s.revoke},
		{"DELETE", "/api/rooms/{id}/revocations/{kind}/{key}", RoleOperator, s.unrevoke},
		{"GET", "/api/cache", RoleViewer, s.listCache},
		{"POST", "/api/cache/purge", RoleOperator, s.purgeCache},
	}
	for _, rt := range s.routes {
		s.mux.Handle(rt.method+" "+rt.pattern, s.guard(rt))
	}
	return s, nil
}

// Handler serves every admin route.
func (s *Server) Handler() http.Handler { return s.mux }

// guard authenticates and authorises a request for its route, and protects
// a session's state-changing requests against cross-site forgery.
func (s *Server) guard(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.need == "" {
			rt.handler(w, r, principal{})
			return
		}
		p, err := s.auth.authenticate(r)
		switch {
		case errors.Is(err, adminauth.ErrNoRole):
			writeError(w, http.StatusForbidden, "your account has no usher role")
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="usher"`)
			writeError(w, http.StatusUnauthorized, "a valid bearer token or login is required")
			return
		case !p.Role.Allows(rt.need):
			writeError(w, http.StatusForbidden, "this needs the operator role")
			return
		}
		if p.csrf != "" && r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) || !equalStrings(r.Header.Get("X-CSRF-Token"), p.csrf) {
				writeError(w, http.StatusForbidden, "missing or wrong X-CSRF-Token")
				return
			}
		}
		rt.handler(w, r, p)
	})
}

// sameOrigin refuses a request that a browser says came from another site.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if origin := r.Header.Get("Origin"); origin != "" {
		u, err := url.Parse(origin)
		return err == nil && u.Host == r.Host
	}
	return true
}

// equalStrings compares secrets in constant time; an empty one never
// matches.
func equalStrings(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, _ principal) {
	if s.deps.Metrics == nil {
		http.NotFound(w, r)
		return
	}
	s.deps.Metrics.ServeHTTP(w, r)
}

// dashboardPage serves the dashboard: to a logged-in operator in session
// mode, to anyone in token mode (the page asks for a token).
func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request, _ principal) {
	page := dashboard.Page{Auth: "token"}
	if s.auth.OIDC() != nil {
		p, err := s.auth.authenticate(r)
		if err != nil || p.csrf == "" {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		page = dashboard.Page{Auth: "session", Who: p.Who, Role: string(p.Role), CSRF: p.csrf, Logout: "/logout"}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", dashboard.CSP())
	if err := dashboard.Render(w, page); err != nil {
		s.log.Error("render dashboard", "err", err)
	}
}

// startLogin sends the operator to the provider: authorization code flow
// with PKCE, state and nonce kept in a short-lived signed cookie.
func (s *Server) startLogin(w http.ResponseWriter, r *http.Request, _ principal) {
	if s.auth.OIDC() == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	p, err := s.auth.Provider(r.Context())
	if err != nil {
		s.log.Error("login: provider discovery failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "the login provider is not reachable; try again shortly")
		return
	}
	l := login{State: randomString(), Verifier: oauth2.GenerateVerifier(), Nonce: randomString(), Exp: s.deps.Now().Add(10 * time.Minute).Unix()}
	sealed, err := s.auth.sealer.Seal(l)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "login failed")
		return
	}
	s.auth.setCookie(w, loginCookie, sealed, 10*time.Minute)
	u := s.auth.oauth2Config(p).AuthCodeURL(l.State, oauth2.S256ChallengeOption(l.Verifier), oidc.Nonce(l.Nonce))
	http.Redirect(w, r, u, http.StatusFound)
}

// finishLogin takes the provider's answer, exchanges the code with the PKCE
// verifier, checks the ID token and its nonce, and opens a session for an
// operator or viewer.
func (s *Server) finishLogin(w http.ResponseWriter, r *http.Request, _ principal) {
	if s.auth.OIDC() == nil {
		writeError(w, http.StatusBadRequest, "no OpenID Connect provider is configured")
		return
	}
	var l login
	c, err := r.Cookie(loginCookie)
	if err != nil || !s.auth.sealer.Open(c.Value, &l) || s.deps.Now().Unix() >= l.Exp {
		writeError(w, http.StatusBadRequest, "no login in progress; start again at /login")
		return
	}
	s.auth.setCookie(w, loginCookie, "", -time.Second)
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		s.log.Warn("login refused by the provider", "error", e, "description", q.Get("error_description"))
		writeError(w, http.StatusForbidden, "the login provider refused the login: "+e)
		return
	}
	if !equalStrings(q.Get("state"), l.State) {
		writeError(w, http.StatusBadRequest, "the login does not match the one started here")
		return
	}
	p, err := s.auth.Provider(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "the login provider is not reachable")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
	defer cancel()
	tok, err := s.auth.oauth2Config(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		s.log.Warn("login: code exchange failed", "err", err)
		writeError(w, http.StatusForbidden, "the login could not be completed")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: s.auth.OIDC().ClientID, Now: s.deps.Now}).Verify(ctx, raw)
	if err != nil || !equalStrings(idt.Nonce, l.Nonce) {
		s.log.Warn("login: bad ID token", "err", err)
		writeError(w, http.StatusForbidden, "the login could not be verified")
		return
	}
	who, err := s.auth.PrincipalOf(idt)
	if err != nil {
		s.log.Warn("login refused: no usher role", "who", who.Who)
		writeError(w, http.StatusForbidden, "your account has no usher role")
		return
	}
	sealed, err := s.auth.sealer.Seal(session{Who: who.Who, Role: who.Role, CSRF: randomString(), Exp: s.deps.Now().Add(s.auth.sessionTTL).Unix()})
	if err != nil {
		writeError(w, http.StatusInternalServerError, "login failed")
		return
	}
	s.auth.setCookie(w, sessionCookie, sealed, s.auth.sessionTTL)
	s.log.Info("operator logged in", "who", who.Who, "role", who.Role)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session; the form carries the CSRF token.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, _ principal) {
	p, err := s.auth.authenticate(r)
	if err == nil && p.csrf != "" && (!sameOrigin(r) || !equalStrings(r.PostFormValue("csrf"), p.csrf)) {
		writeError(w, http.StatusForbidden, "missing or wrong csrf")
		return
	}
	s.auth.setCookie(w, sessionCookie, "", -time.Second)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) me(w http.ResponseWriter, _ *http.Request, p principal) {
	writeJSON(w, http.StatusOK, map[string]string{"who": p.Who, "role": string(p.Role), "via": p.Via})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// roomFrom finds the room named in the path, or answers 404.
func (s *Server) roomFrom(w http.ResponseWriter, r *http.Request) *admission.Room {
	rm := s.deps.Rooms.Room(r.PathValue("id"))
	if rm == nil {
		writeError(w, http.StatusNotFound, "unknown room")
	}
	return rm
}
