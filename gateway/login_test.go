package gateway

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/internal/oidctest"
	"github.com/usherhq/usher/queue/memory"
)

// loginGateway serves a room that needs a login with the provider p.
func loginGateway(t *testing.T, p *oidctest.Provider, clk *clock, o *origin, room func(*RoomConfig)) *testGateway {
	t.Helper()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) {
			r.RequireLogin = true
			if room != nil {
				room(r)
			}
		},
		cfg: func(c *Config) {
			l := &LoginConfig{}
			l.SetDefaults()
			// The provider sends the browser here; the test carries its
			// answer to the gateway's real port.
			l.Issuer, l.ClientID, l.RedirectURL = p.URL, p.ClientID(), "http://127.0.0.1:1/_usher/callback"
			c.Login = l
		}})
	return g
}

// logIn walks b through the login as the provider's current user, from a
// protected page to that page again.
func (b *browser) logIn(g *testGateway, p *oidctest.Provider, path string) {
	b.t.Helper()
	resp, _ := b.get(g.URL + path)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/_usher/login?room=sale&return=") {
		b.t.Fatalf("a protected page without a login: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = b.get(g.URL + resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound {
		b.t.Fatalf("/_usher/login: %d", resp.StatusCode)
	}
	back := p.Authorize(b.t, resp.Header.Get("Location"))
	if back.Query().Get("code") == "" {
		b.t.Fatalf("the provider answered %s", back)
	}
	resp, body := b.get(g.URL + "/_usher/callback?" + back.RawQuery)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != path {
		b.t.Fatalf("/_usher/callback: %d, Location %q, %.200q", resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

// claimsOf decodes a token's claims, unverified.
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLoginOnePlacePerAccount: against a real OpenID Connect provider, a
// fan logs in (code flow with PKCE) before joining; the account is in the
// ticket; the same account on a second device gets the same place, another
// account another; a bad login joins nobody.
func TestLoginOnePlacePerAccount(t *testing.T) {
	clk := newClock()
	p := oidctest.New(t, oidctest.Options{Now: clk.Now})
	g := loginGateway(t, p, clk, newOrigin(t, nil), func(r *RoomConfig) { r.State = "paused" })

	// A JSON client without a login is told where to log in.
	resp, body := newBrowser(t).get(g.URL+"/events/1", "Accept", "application/json")
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"login":"/_usher/login?room=sale`) {
		t.Errorf("JSON without a login: %d %s", resp.StatusCode, body)
	}

	p.SetUser(oidctest.User{Subject: "fan-alice"})
	phone := newBrowser(t)
	phone.logIn(g, p, "/events/1")
	phone.join(g)
	ticket := claimsOf(t, phone.cookie(g.URL, admission.TicketCookie("sale")))
	if ticket["uid"] != "fan-alice" {
		t.Fatalf("the ticket's uid is %v, want fan-alice", ticket["uid"])
	}
	place := phone.status(g).position(t)

	laptop := newBrowser(t)
	laptop.logIn(g, p, "/events/1")
	laptop.join(g)
	second := claimsOf(t, laptop.cookie(g.URL, admission.TicketCookie("sale")))
	if second["seq"] != ticket["seq"] || second["uid"] != "fan-alice" || second["sub"] == ticket["sub"] {
		t.Errorf("the second device: %v, the first %v: want the same place (seq) and account, its own visitor", second, ticket)
	}
	if got := laptop.status(g).position(t); got != place {
		t.Errorf("the second device is at %d, the first at %d", got, place)
	}

	p.SetUser(oidctest.User{Subject: "fan-bob"})
	bob := newBrowser(t)
	bob.logIn(g, p, "/events/1")
	bob.join(g)
	if got := bob.status(g).position(t); got != place+1 {
		t.Errorf("another account is at %d, want %d", got, place+1)
	}

	// Logging out ends the login on this browser, not the place.
	resp, _ = bob.get(g.URL + "/_usher/logout?return=/events/1")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/events/1" || bob.cookie(g.URL, accountCookie) != "" {
		t.Errorf("logout: %d, Location %q, account cookie %q", resp.StatusCode, resp.Header.Get("Location"), bob.cookie(g.URL, accountCookie))
	}
	if got := bob.status(g).position(t); got != place+1 {
		t.Errorf("after logging out the place is %d, want %d", got, place+1)
	}

	// A callback that was not started here, and a forged account cookie,
	// log nobody in.
	if resp, _ := newBrowser(t).get(g.URL + "/_usher/callback?state=nope&code=x"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a stray callback: %d", resp.StatusCode)
	}
	forger := newBrowser(t)
	u, _ := url.Parse(g.URL)
	forger.client.Jar.SetCookies(u, []*http.Cookie{{Name: accountCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(`{"uid":"fan-alice","exp":9999999999}`)) + ".AAAA", Path: "/"}})
	if resp, _ := forger.get(g.URL + "/events/1"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a forged account cookie: %d, want the login", resp.StatusCode)
	}
	// The provider refuses: no account.
	p.Deny("access_denied")
	refused := newBrowser(t)
	resp, _ = refused.get(g.URL + "/_usher/login?room=sale&return=/events/1")
	back := p.Authorize(t, resp.Header.Get("Location"))
	if resp, _ := refused.get(g.URL + "/_usher/callback?" + back.RawQuery); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a refused login: %d", resp.StatusCode)
	}
	// Another site is never a place to return to.
	for _, ret := range []string{"https://evil.example/", "//evil.example/", "/\\evil.example"} {
		if got := safeReturn(ret); got != "/" {
			t.Errorf("safeReturn(%q) = %q", ret, got)
		}
	}
}

// TestMaxPassesPerAccount: one account admitted on two devices holds at
// most max_passes_per_account passes; the origin sees the account in the
// pass.
func TestMaxPassesPerAccount(t *testing.T) {
	clk := newClock()
	p := oidctest.New(t, oidctest.Options{Now: clk.Now})
	o := newOrigin(t, nil)
	g := loginGateway(t, p, clk, o, func(r *RoomConfig) { r.MaxPassesPerAccount = 1 })
	p.SetUser(oidctest.User{Subject: "fan-carol"})
	first, second := newBrowser(t), newBrowser(t)
	first.logIn(g, p, "/events/1")
	// The room is open and empty: the first device is let in at once.
	if resp, body := first.get(g.URL + "/events/1"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
		t.Fatalf("the first device: %d %.100q", resp.StatusCode, body)
	}
	req, _, _ := o.lastRequest()
	if c := claimsOf(t, req.Header.Get(admission.PassHeader)); c["uid"] != "fan-carol" || c["kind"] != "pass" {
		t.Errorf("the origin got a pass of %v", c)
	}
	second.logIn(g, p, "/events/1")
	// The second device gets the account's place, already admitted: it is
	// let in at its next visit once this instance has seen the admission.
	second.get(g.URL + "/events/1")
	g.tick(t)
	resp, body := second.get(g.URL + "/events/1")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "already") {
		t.Errorf("a second device past max_passes_per_account: %d %.200q", resp.StatusCode, body)
	}
	if got := g.reasons("block", reasonMaxPasses); got != 1 {
		t.Errorf("usher_shield_reasons_total{reason=max_passes_per_account} = %v", got)
	}
	// The first device goes on with its pass.
	if resp, _ := first.get(g.URL + "/events/2"); resp.StatusCode != 200 {
		t.Errorf("the first device after the second was refused: %d", resp.StatusCode)
	}
}
