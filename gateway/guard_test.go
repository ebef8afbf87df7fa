package gateway

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usherhq/usher/admission"
	queueredis "github.com/usherhq/usher/queue/redis"
)

// cookie returns the value of b's cookie name for the gateway at base.
func (b *browser) cookie(base, name string) string {
	b.t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		b.t.Fatal(err)
	}
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// subOf returns the visitor id (sub) of a ticket or pass, unverified.
func subOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	return c.Sub
}

// adminCall calls the admin API at base with the test's API token.
func adminCall(t *testing.T, method, base, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer s3cret-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRevocationAcrossInstances: an operator revokes a visitor through one
// instance; within five seconds the other refuses the visitor's pass, page
// and status alike, while other fans go on; taking it back lets the visitor
// in again.
func TestRevocationAcrossInstances(t *testing.T) {
	client := redisClient(t)
	prefix := "usher-test:" + randomHex(6) + ":"
	t.Cleanup(func() { deleteKeys(t, client, prefix) })
	type instance struct{ url, admin string }
	var gws []instance
	keys := newKeys(t)
	for range 2 {
		store, err := queueredis.New(client, queueredis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		u, a, _, _ := runGatewayWith(t, nil, store, keys)
		gws = append(gws, instance{u, a})
	}
	// The room is open and empty: joiners are admitted at once.
	fan, other := newBrowser(t), newBrowser(t)
	for _, b := range []*browser{fan, other} {
		if resp, body := b.get(gws[0].url + "/events/1"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
			t.Fatalf("before: %d %.80q", resp.StatusCode, body)
		}
	}
	pass := fan.cookie(gws[0].url, admission.PassCookie("sale"))
	if pass == "" {
		t.Fatal("the fan got no pass")
	}
	visitor := subOf(t, pass)

	code, body := adminCall(t, "POST", gws[0].admin, "/api/rooms/sale/revocations", `{"visitor":"`+visitor+`","ttl":"1h"}`)
	if code != http.StatusCreated || !strings.Contains(body, `"kind":"visitor"`) || !strings.Contains(body, visitor) {
		t.Fatalf("revoke: %d %s", code, body)
	}
	start := time.Now()
	// Applied at once on the instance that took it.
	if resp, _ := fan.get(gws[0].url + "/events/1"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the instance that took the revocation answered %d", resp.StatusCode)
	}
	waitFor(t, "the other instance to refuse the revoked pass", func() bool {
		resp, _ := fan.get(gws[1].url + "/events/1")
		return resp.StatusCode == http.StatusForbidden
	})
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the revocation took %v to reach the other instance, more than 5s", d)
	} else {
		t.Logf("the revocation reached the other instance in %v", d)
	}
	resp, body := fan.get(gws[1].url+"/_usher/status?room=sale", "Accept", "application/json")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "withdrawn") {
		t.Errorf("status of the revoked visitor: %d %s", resp.StatusCode, body)
	}
	if resp, body := other.get(gws[1].url + "/events/1"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
		t.Errorf("another fan: %d %.80q", resp.StatusCode, body)
	}

	code, body = adminCall(t, "GET", gws[1].admin, "/api/rooms/sale/revocations", "")
	if code != 200 || !strings.Contains(body, visitor) {
		t.Errorf("list on the other instance: %d %s", code, body)
	}
	code, _ = adminCall(t, "DELETE", gws[1].admin, "/api/rooms/sale/revocations/visitor/"+visitor, "")
	if code != http.StatusNoContent {
		t.Errorf("unrevoke: %d", code)
	}
	waitFor(t, "the first instance to let the visitor in again", func() bool {
		resp, _ := fan.get(gws[0].url + "/events/1")
		return resp.StatusCode == 200
	})
	if code, _ := adminCall(t, "DELETE", gws[1].admin, "/api/rooms/sale/revocations/visitor/"+visitor, ""); code != http.StatusNotFound {
		t.Errorf("a second unrevoke: %d, want 404", code)
	}

	for _, bad := range []struct{ method, path, body string }{
		{"POST", "/api/rooms/sale/revocations", `{"visitor":"a","account":"b"}`},
		{"POST", "/api/rooms/sale/revocations", `{}`},
		{"POST", "/api/rooms/sale/revocations", `{"visitor":"no spaces"}`},
		{"POST", "/api/rooms/sale/revocations", `{"account":"x","ttl":"forever"}`},
		{"POST", "/api/rooms/sale/revocations", `{"account":"x","ttl":"1s"}`},
		{"POST", "/api/rooms/sale/revocations", `{"account":"x","extra":1}`},
		{"POST", "/api/rooms/sale/revocations", `not json`},
		{"DELETE", "/api/rooms/sale/revocations/seat/x", ""},
	} {
		if code, body := adminCall(t, bad.method, gws[0].admin, bad.path, bad.body); code != http.StatusBadRequest {
			t.Errorf("%s %s %s: %d %s, want 400", bad.method, bad.path, bad.body, code, body)
		}
	}
	if code, _ := adminCall(t, "POST", gws[0].admin, "/api/rooms/nope/revocations", `{"account":"x"}`); code != http.StatusNotFound {
		t.Errorf("unknown room: %d, want 404", code)
	}
}

// TestRevokedAccount: a revoked account is refused whatever visitor carries
// it.
func TestRevokedAccount(t *testing.T) {
	r := &revocations{visitors: map[string]struct{}{"v1": {}}, accounts: map[string]struct{}{"alice": {}}}
	for _, tt := range []struct {
		c    admission.Claims
		want bool
	}{
		{admission.Claims{Visitor: "v1"}, true},
		{admission.Claims{Visitor: "v2", Account: "alice"}, true},
		{admission.Claims{Visitor: "v2", Account: "bob"}, false},
		{admission.Claims{Visitor: "v2"}, false},
	} {
		if got := r.has(tt.c); got != tt.want {
			t.Errorf("has(%+v) = %v, want %v", tt.c, got, tt.want)
		}
	}
	if (&revocations{}).has(admission.Claims{Visitor: "v1", Account: "alice"}) {
		t.Error("empty revocations revoke")
	}
}

// TestDenyAndAllowLists: a denied network gets 403 everywhere in the room
// and nowhere else; an allowed one is never held to the per-client limits.
func TestDenyAndAllowLists(t *testing.T) {
	g, _, _ := limitedGateway(t, LimitsConfig{Join: LimitConfig{PerMinute: 1, Burst: 1}}, func(c *Config) {
		c.Rooms[0].Shield.Deny = []string{"127.8.0.0/16", "127.9.9.9"}
		c.Rooms[0].Shield.Allow = []string{"127.7.0.0/24", "127.8.0.1"} // deny wins
	})
	for _, ip := range []net.IP{net.IPv4(127, 8, 1, 1), net.IPv4(127, 8, 0, 1), net.IPv4(127, 9, 9, 9)} {
		b := newBrowserFrom(t, ip)
		resp, body := b.get(g.URL + "/events/1")
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not accepted") {
			t.Errorf("%s in the room: %d %.100q", ip, resp.StatusCode, body)
		}
		if resp, _ := b.get(g.URL+"/_usher/status?room=sale", "Accept", "application/json"); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s status: %d", ip, resp.StatusCode)
		}
		if resp, body := b.get(g.URL + "/about"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
			t.Errorf("%s outside the room: %d %.80q", ip, resp.StatusCode, body)
		}
	}
	// The box office joins again and again without cookies; anyone else
	// is held to one join a minute.
	for i := range 5 {
		newBrowserFrom(t, net.IPv4(127, 7, 0, byte(1+i%2))).join(g)
	}
	newBrowserFrom(t, net.IPv4(127, 6, 0, 1)).join(g)
	if resp, _ := newBrowserFrom(t, net.IPv4(127, 6, 0, 1)).get(g.URL + "/events/1"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("a second join from elsewhere: %d, want 429", resp.StatusCode)
	}
	if got := testutil.ToFloat64(g.metrics.shieldReasons.WithLabelValues("sale", "block", "deny_list")); got != 6 {
		t.Errorf("usher_shield_reasons_total{decision=block,reason=deny_list} = %v, want 6", got)
	}
}
