package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/valyala/fasthttp"
	"golang.org/x/oauth2"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/page"
	"github.com/usherhq/usher/internal/adminauth"
	"github.com/usherhq/usher/internal/sealed"
	"github.com/usherhq/usher/queue"
)

// Fans' logins, for rooms with require_login.
const (
	// accountCookie holds a logged-in fan's account, sealed: it is good for
	// every room of the site.
	accountCookie = "usher_account"
	// loginCookiePrefix starts the cookie of one login in progress,
	// usher_login_<state>: one per login, so that two tabs logging in at
	// once do not undo each other.
	loginCookiePrefix = "usher_login_"
	// accountSecretPurpose names the secret, derived from the signing key,
	// that seals the account and login cookies on every instance alike.
	accountSecretPurpose = "usher fan login v1"
	// accountsSet binds an account to its place (seq) in a room.
	accountsSet = "accounts"
	// loginTTL bounds a login in progress.
	loginTTL = 10 * time.Minute
)

// fanLogin is the login provider of the fans, and the key that seals what
// the login leaves in cookies.
type fanLogin struct {
	cfg    *LoginConfig
	auth   *adminauth.Authenticator // provider discovery, retried
	sealer *sealed.Sealer
}

// sealed is what the account cookie holds.
type sealedAccount struct {
	Account string `json:"uid"`
	Exp     int64  `json:"exp"`
}

// loginState is what a login's cookie holds between /_usher/login and the
// callback.
type loginState struct {
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	Return   string `json:"r"`
	Exp      int64  `json:"exp"`
}

func (l *fanLogin) oauth2Config(p *oidc.Provider) *oauth2.Config {
	scopes := []string{oidc.ScopeOpenID}
	for _, s := range l.cfg.Scopes {
		if s != oidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	return &oauth2.Config{
		ClientID: l.cfg.ClientID, ClientSecret: l.cfg.clientSecret,
		Endpoint: p.Endpoint(), RedirectURL: l.cfg.RedirectURL, Scopes: scopes,
	}
}

// newFanLogin makes the fans' login, or nil when no provider is set.
func newFanLogin(cfg *LoginConfig, keys *admission.KeySet, now func() time.Time) *fanLogin {
	if cfg == nil {
		return nil
	}
	return &fanLogin{
		cfg:    cfg,
		auth:   adminauth.New(nil, &adminauth.OIDC{Issuer: cfg.Issuer, ClientID: cfg.ClientID}, now),
		sealer: sealed.New(keys.Secret(accountSecretPurpose)),
	}
}

// account returns the logged-in fan's account from the account cookie.
func (g *Gateway) account(ctx *fasthttp.RequestCtx) (string, bool) {
	if g.login == nil {
		return "", false
	}
	var a sealedAccount
	c := ctx.Request.Header.Cookie(accountCookie)
	if len(c) == 0 || !g.login.sealer.Open(string(c), &a) || a.Account == "" || g.now().Unix() >= a.Exp {
		return "", false
	}
	return a.Account, true
}

// askLogin answers a visitor who must log in before joining: a redirect
// to the login, or 401 JSON naming it.
func (g *Gateway) askLogin(ctx *fasthttp.RequestCtx, rm *room) {
	ret := string(ctx.Request.URI().RequestURI())
	login := "/_usher/login?room=" + url.QueryEscape(rm.id) + "&return=" + url.QueryEscape(ret)
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if wantsJSON(ctx) {
		ctx.SetStatusCode(fasthttp.StatusUnauthorized)
		ctx.SetContentType("application/json")
		b, _ := json.Marshal(map[string]any{"error": "login required", "status": fasthttp.StatusUnauthorized, "room": rm.id, "login": login})
		ctx.SetBody(append(b, '\n'))
		return
	}
	redirect(ctx, login, fasthttp.StatusSeeOther)
}

// redirect answers with a redirect to location as given: a path stays a
// path, so that behind a proxy that ends TLS the browser keeps its scheme
// and host (fasthttp's own Redirect would make it absolute with the
// scheme the gateway sees).
func redirect(ctx *fasthttp.RequestCtx, location string, status int) {
	ctx.Response.Header.Set("Location", location)
	ctx.SetStatusCode(status)
}

// safeReturn is where a login may send the fan back: a path of this site,
// never another site ("//host", "/\\host") or a scheme.
func safeReturn(s string) string {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") || strings.ContainsAny(s, "\\\r\n") || len(s) > 2048 {
		return "/"
	}
	return s
}

// serveLogin starts a fan's login: GET /_usher/login?room=R&return=PATH,
// the authorization code flow with PKCE, its state kept in a cookie of its
// own.
func (g *Gateway) serveLogin(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	rm := g.routing.Load().rooms[string(ctx.QueryArgs().Peek("room"))]
	if g.login == nil || rm == nil || !rm.requireLogin {
		writeError(ctx, page.Error{Status: fasthttp.StatusNotFound, Title: "Not found", Message: "There is no login here."})
		return
	}
	dctx, cancel := context.WithTimeout(g.ctx, 15*time.Second)
	defer cancel()
	p, err := g.login.auth.Provider(dctx)
	if err != nil {
		g.log.Error("fan login: provider discovery failed", "err", err)
		writeError(ctx, page.Error{Status: fasthttp.StatusServiceUnavailable, Title: "Login is not available",
			Message: "We cannot reach the login service right now. This page tries again by itself.", RetryAfter: 10 * time.Second})
		return
	}
	st := loginState{
		State: admission.NewVisitorID(), Verifier: oauth2.GenerateVerifier(), Nonce: admission.NewVisitorID(),
		Return: safeReturn(string(ctx.QueryArgs().Peek("return"))), Exp: g.now().Add(loginTTL).Unix(),
	}
	sealed, err := g.login.sealer.Seal(st)
	if err != nil {
		g.internalError(ctx, "seal login", err)
		return
	}
	g.setFanCookie(ctx, loginCookiePrefix+st.State, sealed, "/_usher/callback", loginTTL)
	redirect(ctx, g.login.oauth2Config(p).AuthCodeURL(st.State, oauth2.S256ChallengeOption(st.Verifier), oidc.Nonce(st.Nonce)), fasthttp.StatusFound)
}

// serveCallback finishes a fan's login: it exchanges the code with the
// PKCE verifier, checks the ID token and its nonce, and keeps the account
// in the account cookie.
func (g *Gateway) serveCallback(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if g.login == nil {
		writeError(ctx, page.Error{Status: fasthttp.StatusNotFound, Title: "Not found", Message: "There is no login here."})
		return
	}
	q := ctx.QueryArgs()
	state := string(q.Peek("state"))
	var st loginState
	name := loginCookiePrefix + state
	if state == "" || !g.login.sealer.Open(string(ctx.Request.Header.Cookie(name)), &st) || st.State != state || g.now().Unix() >= st.Exp {
		writeError(ctx, page.Error{Status: fasthttp.StatusBadRequest, Title: "Login expired",
			Message: "This login was not started here, or took too long. Go back to the sale page to log in again."})
		return
	}
	ctx.Response.Header.DelClientCookie(name)
	refuse := func(msg string) {
		writeError(ctx, page.Error{Status: fasthttp.StatusForbidden, Title: "Login failed", Message: msg})
	}
	if e := q.Peek("error"); len(e) > 0 {
		g.log.Warn("fan login refused by the provider", "error", string(e), "description", string(q.Peek("error_description")))
		refuse("The login service did not log you in. Go back to the sale page to try again.")
		return
	}
	xctx, cancel := context.WithTimeout(g.ctx, 15*time.Second)
	defer cancel()
	p, err := g.login.auth.Provider(xctx)
	if err != nil {
		writeError(ctx, page.Error{Status: fasthttp.StatusServiceUnavailable, Title: "Login is not available",
			Message: "We cannot reach the login service right now. Go back to the sale page to try again."})
		return
	}
	tok, err := g.login.oauth2Config(p).Exchange(xctx, string(q.Peek("code")), oauth2.VerifierOption(st.Verifier))
	if err != nil {
		g.log.Warn("fan login: code exchange failed", "err", err)
		refuse("The login could not be completed. Go back to the sale page to try again.")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: g.login.cfg.ClientID, Now: g.now}).Verify(xctx, raw)
	if err != nil || !hmac.Equal([]byte(idt.Nonce), []byte(st.Nonce)) {
		g.log.Warn("fan login: bad ID token", "err", err)
		refuse("The login could not be verified. Go back to the sale page to try again.")
		return
	}
	account, err := accountOf(idt, g.login.cfg.AccountClaim)
	if err != nil {
		g.log.Warn("fan login: no account in the ID token", "claim", g.login.cfg.AccountClaim, "err", err)
		refuse("Your login does not name an account.")
		return
	}
	ttl := time.Duration(g.login.cfg.SessionTTL)
	sealed, err := g.login.sealer.Seal(sealedAccount{Account: account, Exp: g.now().Add(ttl).Unix()})
	if err != nil {
		g.internalError(ctx, "seal account", err)
		return
	}
	g.setFanCookie(ctx, accountCookie, sealed, "/", ttl)
	redirect(ctx, st.Return, fasthttp.StatusSeeOther)
}

// serveLogout ends a fan's login on this site: the account cookie goes,
// and the fan is sent back to the path named by return (default /). The
// places the account holds stay theirs.
func (g *Gateway) serveLogout(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	g.putCookie(ctx, cookie{name: accountCookie, path: "/", maxAge: -1})
	redirect(ctx, safeReturn(string(ctx.QueryArgs().Peek("return"))), fasthttp.StatusSeeOther)
}

// accountOf reads the account claim of an ID token: a string, or a number
// written out.
func accountOf(idt *oidc.IDToken, claim string) (string, error) {
	if claim == "sub" {
		return idt.Subject, nil
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return "", err
	}
	switch v := claims[claim].(type) {
	case string:
		if v != "" && len(v) <= 255 {
			return v, nil
		}
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("claim %q is missing or not a short string", claim)
}

// setFanCookie sets one of the login's cookies: HttpOnly, SameSite=Lax so
// that it comes back with the provider's redirect.
func (g *Gateway) setFanCookie(ctx *fasthttp.RequestCtx, name, value, path string, life time.Duration) {
	g.putCookie(ctx, cookie{name: name, value: value, path: path, maxAge: max(1, int(life/time.Second))})
}

// accountPlace finds the account's place in the room, or makes it: one
// place per account, on every device. It returns the place and whether
// this call made it (then pl is the new place, possibly admitted at once).
// Racing devices of one account agree on the first place bound; a place
// made by the loser of such a race is left to lapse.
func (g *Gateway) accountPlace(ctx *fasthttp.RequestCtx, rm *room, account, id string) (seq int64, pl queue.Place, made, ok bool) {
	ttl := time.Duration(g.cfg.Tokens.TicketTTL)
	bind := func(value string) (string, bool) {
		sctx, cancel := context.WithTimeout(g.ctx, time.Duration(g.cfg.Redis.Timeout))
		defer cancel()
		v, err := g.store.Bind(sctx, rm.id, accountsSet, account, value, ttl)
		if err != nil {
			g.storeFailed(ctx, err)
			return "", false
		}
		return v, true
	}
	bound, ok := bind("")
	if !ok {
		return 0, pl, false, false
	}
	if bound == "" {
		var err error
		if pl, err = rm.adm.Join(g.ctx, id); err != nil {
			g.storeFailed(ctx, err)
			return 0, pl, false, false
		}
		mine := strconv.FormatInt(pl.Seq, 10)
		if bound, ok = bind(mine); !ok {
			return 0, pl, false, false
		}
		if bound == mine {
			return pl.Seq, pl, true, true
		}
	}
	seq, err := strconv.ParseInt(bound, 10, 64)
	if err != nil || seq < 1 {
		g.internalError(ctx, "account place", fmt.Errorf("account bound to %q", bound))
		return 0, pl, false, false
	}
	return seq, queue.Place{}, false, true
}

// allowPass holds an account to the room's max_passes_per_account: each
// pass issued to the account is marked until it expires, named by when it
// was issued, and a pass beyond the oldest max is refused with 403.
func (g *Gateway) allowPass(ctx *fasthttp.RequestCtx, rm *room, c admission.Claims, expires time.Time) bool {
	if c.Account == "" || rm.maxPasses <= 0 {
		return true
	}
	sum := sha256.Sum256([]byte(c.Account))
	set := "passes-" + hex.EncodeToString(sum[:12])
	key := fmt.Sprintf("%013d:%s", g.now().UnixMilli(), c.Visitor)
	sctx, cancel := context.WithTimeout(g.ctx, 3*time.Duration(g.cfg.Redis.Timeout))
	defer cancel()
	passes := func() ([]string, bool) {
		marks, err := g.store.Marked(sctx, rm.id, set)
		if err != nil {
			g.storeFailed(ctx, err)
			return nil, false
		}
		keys := make([]string, 0, len(marks))
		for k := range marks {
			if strings.HasSuffix(k, ":"+c.Visitor) {
				return nil, true // this device holds one already
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys, true
	}
	keys, ok := passes()
	switch {
	case !ok:
		return false
	case keys == nil:
		return true
	}
	if len(keys) < rm.maxPasses {
		if _, err := g.store.Mark(sctx, rm.id, set, key, expires.Sub(g.now())); err != nil {
			g.storeFailed(ctx, err)
			return false
		}
		// Devices that raced here both marked: the older marks win, and
		// equal times go by visitor, so that every instance agrees.
		marks, err := g.store.Marked(sctx, rm.id, set)
		if err != nil {
			g.storeFailed(ctx, err)
			return false
		}
		all := make([]string, 0, len(marks))
		for k := range marks {
			all = append(all, k)
		}
		slices.Sort(all)
		if i := slices.Index(all, key); i >= 0 && i < rm.maxPasses {
			return true
		}
		_, _ = g.store.Unmark(sctx, rm.id, set, key)
	}
	rm.decisions.count(decideBlock, reasonMaxPasses)
	writeError(ctx, page.Error{
		Status: fasthttp.StatusForbidden,
		Title:  "Your account is already in",
		Message: fmt.Sprintf("Your account already holds %d %s to this sale on other devices. Finish there, or wait until one ends.",
			rm.maxPasses, map[bool]string{true: "pass", false: "passes"}[rm.maxPasses == 1]),
	})
	return false
}

// reasonMaxPasses is the reason label of a pass refused by
// max_passes_per_account.
const reasonMaxPasses = "max_passes_per_account"
