package admin

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/internal/oidctest"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

const (
	operatorToken = "operator-token-0123456789"
	viewerToken   = "viewer-token-0123456789"
)

type harness struct {
	srv   *httptest.Server
	admin *Server
	ctrl  *admission.Controller
	idp   *oidctest.Provider
	clock *queuetest.Clock
}

func testPolicy() admission.Policy {
	return admission.Policy{
		RatePerMinute: 60, MaxActive: 100, Session: 10 * time.Minute, ClaimWindow: time.Minute,
		Mode: admission.ModeFIFO, State: admission.StateOpen, PollMin: 2 * time.Second, PollMax: 20 * time.Second, RateRamp: time.Minute,
	}
}

// newHarness runs an admin listener on loopback over a real controller and
// memory store, with an OpenID Connect provider when withOIDC.
func newHarness(t *testing.T, withOIDC bool) *harness {
	t.Helper()
	h := &harness{clock: queuetest.NewClock(time.Now().Truncate(time.Second))}
	store := memory.New(memory.Options{Now: h.clock.Now})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h.ctrl = admission.NewController(store, admission.ControllerOptions{Logger: log, Now: h.clock.Now})
	h.ctrl.AddRoom("sale", "The sale", testPolicy())
	if err := h.ctrl.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Tokens: []Token{
			{Name: "ops-bot", SHA256: sha256.Sum256([]byte(operatorToken)), Role: RoleOperator},
			{Name: "grafana", SHA256: sha256.Sum256([]byte(viewerToken)), Role: RoleViewer},
		},
		SessionKey: []byte(strings.Repeat("k", 32)),
		PlainHTTP:  true,
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h.srv = httptest.NewUnstartedServer(nil)
	if withOIDC {
		h.idp = oidctest.New(t, oidctest.Options{ClientID: "usher-admin", ClientSecret: "s3cret"})
		cfg.OIDC = &OIDC{
			Issuer: h.idp.URL, ClientID: "usher-admin", ClientSecret: "s3cret",
			RedirectURL: "http://" + h.srv.Listener.Addr().String() + "/auth/callback",
			RolesClaim:  "roles", OperatorRole: "usher-operator", ViewerRole: "usher-viewer", Scopes: []string{"email"},
		}
	}
	var err error
	h.admin, err = New(cfg, Deps{Rooms: h.ctrl, Logger: log, Stop: ctx, Now: time.Now, StreamInterval: 20 * time.Millisecond,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "usher_build_info 1\n") })})
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Config.Handler = h.admin.Handler()
	h.srv.Start()
	t.Cleanup(h.srv.Close)
	return h
}

type response struct {
	code int
	body string
	hdr  http.Header
}

func (h *harness) do(t *testing.T, client *http.Client, method, path, token, body string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if client == nil {
		client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, string(b), resp.Header}
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
	return v
}

func TestTokensAndRoles(t *testing.T) {
	h := newHarness(t, false)
	tests := []struct {
		name, method, path, token, body string
		want                            int
	}{
		{"no token", "GET", "/api/rooms", "", "", 401},
		{"unknown token", "GET", "/api/rooms", "nope", "", 401},
		{"not bearer", "GET", "/api/rooms", "", "", 401},
		{"viewer reads", "GET", "/api/rooms/sale", viewerToken, "", 200},
		{"viewer cannot change", "PATCH", "/api/rooms/sale", viewerToken, `{"max_active":5}`, 403},
		{"viewer cannot pause", "POST", "/api/rooms/sale/pause", viewerToken, "", 403},
		{"operator changes", "PATCH", "/api/rooms/sale", operatorToken, `{"max_active":5}`, 200},
		{"unknown room", "GET", "/api/rooms/nope", operatorToken, "", 404},
		{"metrics need nothing", "GET", "/metrics", "", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := h.do(t, nil, tt.method, tt.path, tt.token, tt.body); r.code != tt.want {
				t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, r.code, r.body, tt.want)
			}
		})
	}
	r := h.do(t, nil, "GET", "/api/me", viewerToken, "")
	if me := decode[map[string]string](t, r); me["who"] != "grafana" || me["role"] != "viewer" || me["via"] != "token" {
		t.Errorf("me: %v", me)
	}
}

func TestPatchRoom(t *testing.T) {
	h := newHarness(t, false)
	room := decode[roomJSON](t, h.do(t, nil, "GET", "/api/rooms/sale", operatorToken, ""))
	if room.RatePerMinute != 60 || room.MaxActive != 100 || room.Session != "10m0s" || room.State != "open" || room.Mode != "fifo" || room.Version != 1 {
		t.Fatalf("room: %+v", room)
	}

	t.Run("every problem at once, nothing changed", func(t *testing.T) {
		r := h.do(t, nil, "PATCH", "/api/rooms/sale", operatorToken, `{"rate_per_minute":-1,"max_active":"many","session":"1s","colour":"red","state":"maybe"}`)
		out := decode[struct {
			Problems []admission.FieldProblem `json:"problems"`
		}](t, r)
		var fields []string
		for _, p := range out.Problems {
			fields = append(fields, p.Field)
		}
		sort.Strings(fields)
		if r.code != 400 || strings.Join(fields, ",") != "colour,max_active,rate_per_minute,session,state" {
			t.Errorf("%d %s", r.code, r.body)
		}
		if v := h.ctrl.Room("sale").PolicyVersion(); v != 1 {
			t.Errorf("version %d after a refused change", v)
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		r := h.do(t, nil, "PATCH", "/api/rooms/sale?dry_run=1", operatorToken, `{"rate_per_minute":6000}`)
		dry := decode[struct {
			DryRun   bool     `json:"dry_run"`
			Room     roomJSON `json:"room"`
			ETANow   *int64   `json:"eta_last_seconds_now"`
			ETAAfter *int64   `json:"eta_last_seconds_after"`
		}](t, r)
		if r.code != 200 || !dry.DryRun || dry.Room.RatePerMinute != 6000 || dry.ETANow == nil || dry.ETAAfter == nil {
			t.Errorf("dry run: %d %s", r.code, r.body)
		}
		if p := h.ctrl.Room("sale").Policy(); p.RatePerMinute != 60 {
			t.Errorf("a dry run changed the rate to %v", p.RatePerMinute)
		}
	})

	t.Run("a raise ramps, a cut applies at once", func(t *testing.T) {
		r := h.do(t, nil, "PATCH", "/api/rooms/sale", operatorToken, `{"rate_per_minute":6000}`)
		up := decode[roomJSON](t, r)
		if r.code != 200 || up.RatePerMinute != 6000 || up.Ramp == nil || up.Ramp.From != 60 || up.EffectiveRate >= 6000 {
			t.Fatalf("raise: %d %s", r.code, r.body)
		}
		r = h.do(t, nil, "PATCH", "/api/rooms/sale", operatorToken, `{"rate_per_minute":30}`)
		down := decode[roomJSON](t, r)
		if down.RatePerMinute != 30 || down.Ramp != nil || down.EffectiveRate != 30 {
			t.Fatalf("cut: %d %s", r.code, r.body)
		}
	})

	t.Run("actions", func(t *testing.T) {
		for action, state := range map[string]string{"pause": "paused", "soldout": "soldout", "close": "closed", "resume": "open"} {
			r := h.do(t, nil, "POST", "/api/rooms/sale/"+action, operatorToken, "")
			if got := decode[roomJSON](t, r); r.code != 200 || got.State != state {
				t.Errorf("%s: %d %s", action, r.code, r.body)
			}
			if got := h.ctrl.Room("sale").Policy().State; string(got) != state {
				t.Errorf("%s: the room is %s", action, got)
			}
		}
	})

	t.Run("audit", func(t *testing.T) {
		r := h.do(t, nil, "GET", "/api/rooms/sale/audit?limit=3", viewerToken, "")
		entries := decode[[]admission.AuditEntry](t, r)
		if r.code != 200 || len(entries) != 3 {
			t.Fatalf("%d %s", r.code, r.body)
		}
		last := entries[0]
		if last.Who != "ops-bot" || last.Via != "token" || last.Before == nil || last.Before.State == last.After.State || time.Since(last.At) > time.Minute {
			t.Errorf("newest entry: %+v", last)
		}
		for _, bad := range []string{"0", "1001", "x"} {
			if r := h.do(t, nil, "GET", "/api/rooms/sale/audit?limit="+bad, viewerToken, ""); r.code != 400 {
				t.Errorf("limit=%s: %d", bad, r.code)
			}
		}
	})
}

func TestStatsAndEvents(t *testing.T) {
	h := newHarness(t, false)
	rm := h.ctrl.Room("sale")
	for range 5 {
		if _, err := rm.Join(t.Context(), admission.NewVisitorID()); err != nil {
			t.Fatal(err)
		}
	}
	rm.Origin.Observe(20*time.Millisecond, 200)
	rm.Origin.Observe(30*time.Millisecond, 502)
	for range 3 {
		h.clock.Add(time.Second)
		if err := h.ctrl.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	st := decode[statsJSON](t, h.do(t, nil, "GET", "/api/rooms/sale/stats", viewerToken, ""))
	if st.Room != "sale" || st.AdmittedTotal+st.Waiting+int64(st.Offered) < 5 || st.JoinsLastMinute < 5 || !st.Fresh {
		t.Errorf("stats: %+v", st)
	}

	req, _ := http.NewRequest("GET", h.srv.URL+"/api/rooms/sale/events", nil)
	req.Header.Set("Authorization", "Bearer "+viewerToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var events []string
	var first string
	for sc.Scan() && len(events) < 3 {
		line := sc.Text()
		if ev, ok := strings.CutPrefix(line, "event: "); ok {
			events = append(events, ev)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok && first == "" {
			first = data
		}
	}
	if len(events) != 3 || events[0] != "history" || events[1] != "stats" || events[2] != "stats" {
		t.Fatalf("events %v", events)
	}
	var hist struct {
		Samples []sampleJSON `json:"samples"`
	}
	if err := json.Unmarshal([]byte(first), &hist); err != nil || len(hist.Samples) < 3 {
		t.Errorf("history %s: %v", first, err)
	}
}

// TestOpenAPIMatchesRoutes: every route in the document is served, and every
// served route is in the document.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t, false)
	r := h.do(t, nil, "GET", "/api/openapi.json", viewerToken, "")
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("document: %v %.100s", err, r.body)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range h.admin.routes {
		served[rt.method+" "+strings.TrimSuffix(rt.pattern, "{$}")] = true
	}
	for k := range documented {
		if !served[k] {
			t.Errorf("documented but not served: %s", k)
		}
	}
	for k := range served {
		if !documented[k] {
			t.Errorf("served but not documented: %s", k)
		}
	}
	// And each documented route answers as a route, not as a miss.
	for k := range documented {
		method, path, _ := strings.Cut(k, " ")
		path = strings.ReplaceAll(path, "{id}", "sale")
		if strings.HasSuffix(path, "/events") {
			continue // a stream; TestStatsAndEvents reads it
		}
		if r := h.do(t, nil, method, path, operatorToken, `{}`); r.code == 404 || r.code == 405 {
			t.Errorf("%s %s: %d", method, path, r.code)
		}
	}
}

func TestBearerJWT(t *testing.T) {
	h := newHarness(t, true)
	operator := map[string]any{"roles": []string{"usher-operator"}}
	tests := []struct {
		name string
		mint oidctest.Mint
		want int
	}{
		{"operator", oidctest.Mint{Subject: "alice", Claims: operator}, 200},
		{"viewer may not change", oidctest.Mint{Subject: "bob", Claims: map[string]any{"roles": []string{"usher-viewer"}}}, 403},
		{"no role", oidctest.Mint{Subject: "eve", Claims: map[string]any{"roles": []string{"cashier"}}}, 403},
		{"expired", oidctest.Mint{Subject: "alice", Claims: operator, IssuedAt: time.Now().Add(-2 * time.Hour), Expiry: time.Now().Add(-time.Hour)}, 401},
		{"wrong issuer", oidctest.Mint{Subject: "alice", Claims: operator, Issuer: "https://elsewhere.example"}, 401},
		{"wrong audience", oidctest.Mint{Subject: "alice", Claims: operator, Audience: []string{"another-app"}}, 401},
		{"stranger's signature", oidctest.Mint{Subject: "alice", Claims: operator, Key: "stranger"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := h.idp.Mint(t, tt.mint)
			if r := h.do(t, nil, "POST", "/api/rooms/sale/pause", tok, ""); r.code != tt.want {
				t.Errorf("%d %s, want %d", r.code, r.body, tt.want)
			}
		})
	}
	t.Run("tampered payload", func(t *testing.T) {
		tok := h.idp.Mint(t, oidctest.Mint{Subject: "alice", Claims: map[string]any{"roles": []string{"usher-viewer"}}})
		parts := strings.Split(tok, ".")
		parts[1] = strings.Replace(parts[1], parts[1][:4], "eyJy", 1)
		if r := h.do(t, nil, "GET", "/api/rooms", strings.Join(parts, "."), ""); r.code != 401 {
			t.Errorf("%d", r.code)
		}
	})
	entries, err := h.ctrl.Room("sale").Audit(t.Context(), 1)
	if err != nil || len(entries) != 1 || entries[0].Who != "alice" || entries[0].Via != "oidc" {
		t.Errorf("audit: %+v %v", entries, err)
	}
}

// TestDashboardLogin walks the browser's way in: the dashboard sends to the
// provider, the provider back with a code, and the session then works with
// its CSRF token only.
func TestDashboardLogin(t *testing.T) {
	h := newHarness(t, true)
	h.idp.SetUser(oidctest.User{Subject: "op-7", Email: "op7@venue.example", Claims: map[string]any{"roles": []string{"usher-operator"}}})
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}

	r := h.do(t, browser, "GET", "/", "", "")
	if r.code != 200 || !strings.Contains(r.body, "op7@venue.example") {
		t.Fatalf("dashboard after login: %d %.300s", r.code, r.body)
	}
	if st := h.idp.Stats(); st.Authorizations != 1 || st.TokenExchanges != 1 {
		t.Errorf("provider saw %+v", st)
	}
	csrf := csrfOf(t, jar, h.srv.URL)
	me := decode[map[string]string](t, h.do(t, browser, "GET", "/api/me", "", ""))
	if me["who"] != "op7@venue.example" || me["role"] != "operator" {
		t.Errorf("me: %v", me)
	}
	if r := h.do(t, browser, "POST", "/api/rooms/sale/pause", "", ""); r.code != 403 {
		t.Errorf("a session change without X-CSRF-Token: %d", r.code)
	}
	if r := h.do(t, browser, "POST", "/api/rooms/sale/pause", "", "", "X-CSRF-Token", "forged"); r.code != 403 {
		t.Errorf("a session change with a wrong token: %d", r.code)
	}
	if r := h.do(t, browser, "POST", "/api/rooms/sale/pause", "", "", "X-CSRF-Token", csrf, "Origin", "https://evil.example"); r.code != 403 {
		t.Errorf("a session change from another origin: %d", r.code)
	}
	if r := h.do(t, browser, "POST", "/api/rooms/sale/pause", "", "", "X-CSRF-Token", csrf); r.code != 200 {
		t.Errorf("a session change with its token: %d %s", r.code, r.body)
	}
	// (Not following the redirect: the test provider would log the
	// browser straight back in.)
	stay := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"csrf": {csrf}}.Encode()
	if r := h.do(t, stay, "POST", "/logout", "", form, "Content-Type", "application/x-www-form-urlencoded"); r.code != http.StatusSeeOther {
		t.Errorf("logout: %d %s", r.code, r.body)
	}
	if r := h.do(t, stay, "GET", "/api/me", "", ""); r.code != 401 {
		t.Errorf("after logout: %d", r.code)
	}

	t.Run("no usher role", func(t *testing.T) {
		h.idp.SetUser(oidctest.User{Subject: "cashier", Email: "c@venue.example", Claims: map[string]any{"roles": []string{"cashier"}}})
		jar, _ := cookiejar.New(nil)
		if r := h.do(t, &http.Client{Jar: jar}, "GET", "/", "", ""); r.code != 403 {
			t.Errorf("%d %.200s", r.code, r.body)
		}
	})
	t.Run("refused by the provider", func(t *testing.T) {
		h.idp.Deny("not today")
		jar, _ := cookiejar.New(nil)
		if r := h.do(t, &http.Client{Jar: jar}, "GET", "/", "", ""); r.code != 403 {
			t.Errorf("%d %.200s", r.code, r.body)
		}
	})
	t.Run("a forged callback", func(t *testing.T) {
		if r := h.do(t, nil, "GET", "/auth/callback?code=x&state=y", "", ""); r.code != 400 {
			t.Errorf("%d", r.code)
		}
	})
}

// csrfOf reads the CSRF token the session cookie carries.
func csrfOf(t *testing.T, jar http.CookieJar, base string) string {
	t.Helper()
	u, _ := url.Parse(base)
	for _, c := range jar.Cookies(u) {
		if c.Name == sessionCookie {
			var s session
			payload, _, _ := strings.Cut(c.Value, ".")
			b, err := decodeSeg(payload)
			if err != nil || json.Unmarshal(b, &s) != nil {
				t.Fatalf("session cookie %q", c.Value)
			}
			return s.CSRF
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func decodeSeg(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
