package gateway

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/shield"
	"github.com/usherhq/usher/internal/browsertest"
	"github.com/usherhq/usher/queue/memory"
)

// curlHeaders make a request look like curl asking for JSON: no
// Accept-Language, an HTTP library's User-Agent.
var curlHeaders = []string{"User-Agent", "curl/8.5.0", "Accept-Language", "", "Accept", "application/json"}

// post sends a form from b.
func (b *browser) post(url string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// challengeOf decodes the challenge in a JSON answer.
func challengeOf(t *testing.T, body string) challengeJSON {
	t.Helper()
	var a challengeAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Challenge.Token == "" {
		t.Fatalf("no challenge in %q (%v)", body, err)
	}
	return a.Challenge
}

// pageChallengeOf reads the challenge out of the challenge page's
// attributes, as its script does.
func pageChallengeOf(t *testing.T, body string) challengeJSON {
	t.Helper()
	attr := func(name string) string {
		m := regexp.MustCompile(name + `="([^"]*)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no %s in the challenge page %.300q", name, body)
		}
		return html.UnescapeString(m[1])
	}
	bits, _ := strconv.Atoi(attr("data-bits"))
	return challengeJSON{Token: attr("data-token"), ID: attr("data-id"), Bits: bits, Submit: attr("data-submit-url")}
}

// solve finds the nonce of a challenge, as the page's worker does.
func solve(t *testing.T, c challengeJSON) string {
	t.Helper()
	nonce, ok := shield.Solve(shield.Challenge{ID: c.ID, Bits: c.Bits}, 1<<24)
	if !ok {
		t.Fatalf("no nonce found for %d bits", c.Bits)
	}
	return nonce
}

func (g *testGateway) challenges(result string) float64 {
	return testutil.ToFloat64(g.metrics.challenges.WithLabelValues("sale", result))
}

func (g *testGateway) reasons(decision, reason string) float64 {
	return testutil.ToFloat64(g.metrics.shieldReasons.WithLabelValues("sale", decision, reason))
}

// shieldGateway serves a paused room with the default shield, easy
// challenges, and the default per-client limits.
func shieldGateway(t *testing.T) (*testGateway, *clock) {
	t.Helper()
	g, clk, _ := limitedGateway(t, DefaultLimits(), func(c *Config) {
		c.Rooms[0].Shield.ChallengeBits, c.Rooms[0].Shield.ChallengeBitsMax = 8, 10
	})
	return g, clk
}

// TestBotScore: a fan's browser joins; an HTTP library is challenged; a
// headless automation is refused; an address that keeps joining without
// cookies is challenged once its record is bad enough; allow lists skip it
// all.
func TestBotScore(t *testing.T) {
	g, _ := shieldGateway(t)
	newBrowser(t).join(g)

	// curl asking for JSON: 429 and the challenge, with the cookie that
	// binds it, and no place.
	bot := newBrowser(t)
	resp, body := bot.get(g.URL+"/events/1", curlHeaders...)
	c := challengeOf(t, body)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || c.Submit != "/_usher/challenge?room=sale" || c.Bits < 8 || c.Bits > 10 {
		t.Errorf("curl: %d Retry-After %q, %+v", resp.StatusCode, resp.Header.Get("Retry-After"), c)
	}
	if bot.cookie(g.URL, admission.TicketCookie("sale")) != "" {
		t.Error("a challenged client got a ticket")
	}
	// The same as a page: the challenge page, with its own policy.
	resp, body = bot.get(g.URL+"/events/1", "User-Agent", "curl/8.5.0", "Accept-Language", "")
	if resp.StatusCode != 200 || !strings.Contains(body, c.Submit[:len("/_usher/challenge")]) ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "worker-src blob:") {
		t.Errorf("curl page: %d, CSP %q, %.200q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"), body)
	}

	// A headless browser driven by a script: past block_at.
	resp, body = newBrowser(t).get(g.URL+"/events/1", "User-Agent", "python-requests/2.32", "Sec-CH-UA", `"HeadlessChrome";v="131"`)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Automated traffic refused") {
		t.Errorf("headless automation: %d %.100q", resp.StatusCode, body)
	}

	// A browser-like client that drops its cookies and joins again and
	// again from one address: clean at first, challenged once it has
	// joined more than three times without its ticket.
	addr := net.IPv4(127, 11, 0, 1)
	codes := ""
	for range 12 {
		resp, _ := newBrowserFrom(t, addr).get(g.URL + "/events/1")
		if strings.Contains(resp.Header.Get("Content-Security-Policy"), "worker-src") {
			codes += "c"
		} else {
			codes += "j"
		}
	}
	if codes != "jjjccccccccc" {
		t.Errorf("joins without cookies from one address: %s, want three joins then challenges", codes)
	}
	for _, r := range []struct {
		decision, reason string
		want             float64
	}{
		{"challenge", "automation_agent", 2}, {"challenge", "no_accept_language", 2},
		{"block", "automation_agent", 1}, {"block", "headless", 1},
		{"challenge", "join_rate", 2}, {"challenge", "cookieless_joins", 9},
	} {
		if got := g.reasons(r.decision, r.reason); got != r.want {
			t.Errorf("usher_shield_reasons_total{decision=%s,reason=%s} = %v, want %v", r.decision, r.reason, got, r.want)
		}
	}
}

// TestChallenge: a solution works once, for the browser it was given to,
// in its room, before it expires; a good one gives a place, and a bad one
// a fresh challenge.
func TestChallenge(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			keys := newKeys(t)
			setup := gatewaySetup{keys: keys, clock: clk, origin: newOrigin(t, nil).URL, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) { r.State, r.Shield.ChallengeBits, r.Shield.ChallengeBitsMax = "paused", 8, 10 }}
			a, _ := startGateway(t, setup)
			b, _ := startGateway(t, setup) // a second instance on the same store and keys

			bot := newBrowser(t)
			_, body := bot.get(a.URL+"/events/1", curlHeaders...)
			c := challengeOf(t, body)
			nonce := solve(t, c)
			submit := func(br *browser, g *testGateway, token, nonce string) (int, string) {
				resp, body := br.post(g.URL+c.Submit, url.Values{"token": {token}, "nonce": {nonce}})
				return resp.StatusCode, body
			}

			// Unsolved, tampered, and presented by another browser (no
			// binding cookie): 403, each with a fresh challenge.
			wrong := "0"
			if wrong == nonce {
				wrong = "1"
			}
			for _, tt := range []struct {
				name         string
				br           *browser
				token, nonce string
				result       string
			}{
				{"unsolved", bot, c.Token, wrong, "unsolved"},
				{"tampered", bot, c.Token[:len(c.Token)-2] + "AA", nonce, "invalid"},
				{"not a token", bot, "hello", nonce, "invalid"},
				{"wrong visitor", newBrowser(t), c.Token, nonce, "mismatch"},
			} {
				code, body := submit(tt.br, b, tt.token, tt.nonce)
				if code != http.StatusForbidden || challengeOf(t, body).Token == c.Token {
					t.Errorf("%s: %d %.100q", tt.name, code, body)
				}
				if got := b.challenges(tt.result); got < 1 {
					t.Errorf("%s: usher_shield_challenges_total{result=%s} = %v", tt.name, tt.result, got)
				}
			}

			// The browser it was given to, at another instance: a place.
			u, _ := url.Parse(a.URL)
			powCookie := bot.client.Jar.Cookies(&url.URL{Scheme: "http", Host: u.Host, Path: "/_usher/challenge"})
			code, body := submit(bot, b, c.Token, nonce)
			if code != 200 || !strings.Contains(body, `"position":`) || bot.cookie(a.URL, admission.TicketCookie("sale")) == "" {
				t.Fatalf("a good solution: %d %s", code, body)
			}
			for _, ck := range bot.client.Jar.Cookies(&url.URL{Scheme: "http", Host: u.Host, Path: "/_usher/challenge"}) {
				if ck.Name == powCookiePrefix+c.ID {
					t.Errorf("the spent challenge's cookie %s stayed", ck.Name)
				}
			}
			// With its ticket the client waits in line like anyone.
			if resp, body := bot.get(a.URL+"/events/1", "User-Agent", "curl/8.5.0", "Accept-Language", ""); resp.StatusCode != 200 || !strings.Contains(body, "in line") {
				t.Errorf("after solving: %d %.100q", resp.StatusCode, body)
			}

			// The same solution again, from a browser holding the same
			// binding cookie but no ticket: spent, at either instance.
			replay := newBrowser(t)
			replay.client.Jar.SetCookies(&url.URL{Scheme: "http", Host: u.Host, Path: "/_usher/challenge"}, powCookie)
			for _, g := range []*testGateway{a, b} {
				if code, body := submit(replay, g, c.Token, nonce); code != http.StatusForbidden {
					t.Errorf("reused at %s: %d %.100q", g.URL, code, body)
				}
			}
			if got := a.challenges("reused") + b.challenges("reused"); got != 2 {
				t.Errorf("reused challenges counted %v, want 2", got)
			}

			// Expired: solved too late.
			late := newBrowser(t)
			_, body = late.get(a.URL+"/events/1", curlHeaders...)
			c2 := challengeOf(t, body)
			n2 := solve(t, c2)
			clk.Add(5*time.Minute + time.Second)
			resp, body := late.post(a.URL+c2.Submit, url.Values{"token": {c2.Token}, "nonce": {n2}})
			if resp.StatusCode != http.StatusForbidden || a.challenges("expired") != 1 {
				t.Errorf("expired: %d %.100q", resp.StatusCode, body)
			}
		})
	}
}

// TestChallengeInBrowser: headless Chromium, whose User-Agent says so, is
// challenged on its first visit; the page solves the puzzle in a Web
// Worker, sends the solution and reloads into the queue by itself.
func TestChallengeInBrowser(t *testing.T) {
	clk := newClock()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) { r.State, r.Shield.ChallengeBits, r.Shield.ChallengeBitsMax = "paused", 12, 12 }})
	br := browsertest.New(t, 390, 844)
	ctx, cancel := context.WithTimeout(br.Context(), 60*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(g.URL+"/events/1")); err != nil {
		t.Fatal(err)
	}
	if got := g.challenges("issued"); got != 1 {
		t.Fatalf("challenges issued: %v, want 1 (the headless browser was not challenged)", got)
	}
	// The page reloads itself on the way, which ends any one evaluation:
	// ask again until it is in line.
	for {
		in, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.body && document.body.innerText.includes("in line")`))
		if err == nil && in {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the browser never reached the queue: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	br.Screenshot("challenge-solved-queue")
	if g.challenges("solved") != 1 {
		t.Errorf("challenges solved: %v, want 1", g.challenges("solved"))
	}
}

// TestParallelChallenges: a page that loads ten resources at once, each
// challenged, gets ten challenges whose cookies do not overwrite each
// other: any one of them solved gives the place, the others then spend
// nothing, and no answer touches a pass.
func TestParallelChallenges(t *testing.T) {
	// A headless browser scores 50, and 40 more once its joins without a
	// ticket add up: challenged, not blocked, with block_at above 90.
	g, _, _ := limitedGateway(t, DefaultLimits(), func(c *Config) {
		c.Rooms[0].Shield.ChallengeBits, c.Rooms[0].Shield.ChallengeBitsMax, c.Rooms[0].Shield.BlockAt = 8, 10, 95
	})
	bot := newBrowser(t)
	// A headless browser's page (score 50), fetching JSON: challenged, and
	// not yet blocked as its cookieless joins add up.
	headless := []string{"Sec-CH-UA", `"HeadlessChrome";v="131"`, "Accept", "application/json"}
	got := make(chan challengeJSON, 10)
	var setPass atomic.Bool
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			resp, body := bot.get(g.URL+"/events/"+strconv.Itoa(i), headless...)
			for _, c := range resp.Cookies() {
				if c.Name == admission.PassCookie("sale") {
					setPass.Store(true)
				}
			}
			var a challengeAnswer
			if err := json.Unmarshal([]byte(body), &a); err != nil || a.Challenge.Token == "" {
				t.Errorf("request %d: %d %.100q", i, resp.StatusCode, body)
				return
			}
			got <- a.Challenge
		})
	}
	wg.Wait()
	close(got)
	var cs []challengeJSON
	for c := range got {
		cs = append(cs, c)
	}
	if len(cs) != 10 {
		t.Fatalf("%d challenges for 10 requests", len(cs))
	}
	// The last one handed out is solved first: an earlier cookie must not
	// have been overwritten by a later one, nor the other way round.
	for i, c := range []challengeJSON{cs[9], cs[0], cs[4]} {
		resp, body := bot.post(g.URL+c.Submit, url.Values{"token": {c.Token}, "nonce": {solve(t, c)}})
		for _, ck := range resp.Cookies() {
			if ck.Name == admission.PassCookie("sale") {
				setPass.Store(true)
			}
		}
		if resp.StatusCode != 200 || !strings.Contains(body, `"position":`) {
			t.Fatalf("solution %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if n := g.challenges("solved"); n != 1 {
		t.Errorf("%v challenges spent, want 1: the place was made once", n)
	}
	if setPass.Load() {
		t.Error("an answer set or cleared the pass cookie")
	}
	g.tick(t)
	if joined := g.ctrl.Room("sale").View().Joined; joined != 1 {
		t.Errorf("%d places made, want 1", joined)
	}
}

// TestFastPoll: a visitor polling far sooner than told is answered 429
// with the interval to wait, and keeps its place; a fan's tabs polling as
// told never are.
func TestFastPoll(t *testing.T) {
	g, clk := shieldGateway(t)
	bot := newBrowser(t)
	bot.join(g)
	told := time.Duration(bot.status(g).PollAfterMS) * time.Millisecond
	codes := ""
	for range 8 {
		resp, _ := bot.get(g.URL+"/_usher/status?room=sale", "Accept", "application/json")
		codes += map[bool]string{true: "o", false: "x"}[resp.StatusCode == 200]
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("a refused poll without Retry-After")
		}
	}
	if !strings.HasPrefix(codes, "oo") || !strings.HasSuffix(codes, "xxx") {
		t.Errorf("eight polls at once: %s (o answered, x refused), want the first answered and the last refused", codes)
	}
	// Waiting as told, it is answered again, at the same place.
	clk.Add(told)
	if s := bot.status(g); s.position(t) != 1 {
		t.Errorf("after waiting: %+v", s)
	}
	if got := g.reasons("block", "fast_poll"); got < 3 {
		t.Errorf("usher_shield_reasons_total{decision=block,reason=fast_poll} = %v", got)
	}
}

// TestCrowdedAddress: the places one address takes before it goes over its
// join allowance prove themselves once it has, like those after: each is
// asked for a challenge on its next poll or page, keeps its place once it
// solves it, and is not asked again. A place from another address, and
// one that proved at its join, go on as before.
func TestCrowdedAddress(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) { r.State, r.Shield.ChallengeBits, r.Shield.ChallengeBitsMax = "paused", 8, 10 }})
			shared := net.IPv4(127, 13, 0, 1)
			var tabs []*browser
			for range shield.DefaultCookielessJoins {
				b := newBrowserFrom(t, shared)
				b.join(g)
				tabs = append(tabs, b)
			}
			elsewhere := newBrowserFrom(t, net.IPv4(127, 13, 1, 1))
			elsewhere.join(g)
			// Within the allowance, the places poll as any.
			clk.Add(2 * time.Second)
			first := tabs[0].status(g).position(t)

			// One more from the address is challenged at its join...
			late := newBrowserFrom(t, shared)
			resp, lateBody := late.get(g.URL + "/events/1")
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "worker-src") {
				t.Fatalf("the join over the allowance: %d %.200q", resp.StatusCode, lateBody)
			}
			// ...and from now on the places it took before must prove
			// themselves too: on a poll, 429 with a challenge.
			clk.Add(10 * time.Second)
			resp, body := tabs[0].get(g.URL+"/_usher/status?room=sale", "Accept", "application/json")
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("a poll from the crowded address: %d %s", resp.StatusCode, body)
			}
			c := challengeOf(t, body)
			// On a page load, the challenge page.
			resp, body = tabs[1].get(g.URL + "/events/1")
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "worker-src") {
				t.Fatalf("a page from the crowded address: %d %.200q", resp.StatusCode, body)
			}
			// Another address is not asked.
			elsewhere.status(g).position(t)

			// Solved, the place is the one it had, and its polls are
			// answered from then on.
			resp, body = tabs[0].post(g.URL+c.Submit, url.Values{"token": {c.Token}, "nonce": {solve(t, c)}})
			if resp.StatusCode != 200 || !strings.Contains(body, `"position":`) {
				t.Fatalf("the solution: %d %s", resp.StatusCode, body)
			}
			for range 3 {
				clk.Add(10 * time.Second)
				if got := tabs[0].status(g).position(t); got != first {
					t.Fatalf("after proving, position %d, was %d", got, first)
				}
			}
			tabs[0].join(g)

			// The place that proved at its join is not asked again.
			lc := pageChallengeOf(t, lateBody)
			resp, body = late.post(g.URL+lc.Submit, url.Values{"token": {lc.Token}, "nonce": {solve(t, lc)}})
			if resp.StatusCode != 200 || !strings.Contains(body, `"position":`) {
				t.Fatalf("the late join's solution: %d %s", resp.StatusCode, body)
			}
			clk.Add(10 * time.Second)
			late.status(g).position(t)

			// Ten minutes after the address went over, its places are
			// answered again without proof.
			clk.Add(10 * time.Minute)
			tabs[2].status(g).position(t)

			if got := g.reasons("challenge", "cookieless_joins"); got != 1 {
				t.Errorf("usher_shield_reasons_total{decision=challenge,reason=cookieless_joins} = %v, want 1 (the join)", got)
			}
			if got := g.reasons("challenge", "crowded_address"); got != 2 {
				t.Errorf("usher_shield_reasons_total{decision=challenge,reason=crowded_address} = %v, want 2 (a poll, a page)", got)
			}
			if got := g.challenges("solved"); got != 2 {
				t.Errorf("usher_shield_challenges_total{result=solved} = %v, want 2", got)
			}
		})
	}
}
