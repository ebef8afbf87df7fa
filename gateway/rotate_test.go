package gateway

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/admission"
)

// pollWith asks for the status as a tab whose request left with ticket
// before any answer changed the cookie jar, and lets the answer's cookies
// into b's jar, as a browser does.
func (b *browser) pollWith(g *testGateway, ticket string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/_usher/status?room=sale", nil)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("Accept-Language", "en-GB")
	req.AddCookie(&http.Cookie{Name: admission.TicketCookie("sale"), Value: ticket})
	tr := b.client.Transport
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	u, _ := url.Parse(g.URL)
	b.client.Jar.SetCookies(u, resp.Cookies())
	return resp.StatusCode, string(body)
}

// TestTicketsRotate: each status answer carries a fresh ticket; two tabs
// of one browser, on a phone that moves between networks, whose polls now
// and then cross, are never taken for copies.
func TestTicketsRotate(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) { r.State = "paused" }})
			wifi := newBrowser(t)
			wifi.join(g)
			// The same browser on mobile data: another address, one jar.
			mobile := newBrowserFrom(t, net.IPv4(127, 12, 0, 1))
			mobile.client.Jar = wifi.client.Jar
			tabs := []*browser{wifi, mobile}
			seen := map[string]bool{}
			for i := range 60 {
				clk.Add(2 * time.Second)
				tab := tabs[i%2]
				before := tab.cookie(g.URL, admission.TicketCookie("sale"))
				if i%40 == 7 {
					// Two tabs' polls cross: both leave with the same
					// ticket; the second must not be taken for a copy.
					if code, body := tab.pollWith(g, before); code != 200 {
						t.Fatalf("round %d, first of two crossing polls: %d %s", i, code, body)
					}
					if code, body := tabs[(i+1)%2].pollWith(g, before); code != 200 {
						t.Fatalf("round %d, second of two crossing polls: %d %s", i, code, body)
					}
					continue
				}
				tab.status(g).position(t)
				after := tab.cookie(g.URL, admission.TicketCookie("sale"))
				if after == before || seen[after] {
					t.Fatalf("round %d: the status answer carried no fresh ticket", i)
				}
				seen[after] = true
				// A reload shows the queue page and rotates too.
				if i%10 == 3 {
					tab.join(g)
				}
			}
			if got := g.reasons("challenge", reasonCopied); got != 0 {
				t.Errorf("%v copies seen among one browser's tabs", got)
			}
		})
	}
}

// TestCopiedTicket: a ticket copied to another browser shows itself on its
// second use: both copies must then solve a challenge, and the fan who
// solves first keeps the place while the copy stays locked out.
func TestCopiedTicket(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) {
					r.State, r.Shield.ChallengeBits, r.Shield.ChallengeBitsMax = "paused", 8, 8
				}})
			fan := newBrowser(t)
			fan.join(g)
			place := fan.status(g).position(t)
			stolen := fan.cookie(g.URL, admission.TicketCookie("sale"))
			copier := newBrowser(t)
			u, _ := url.Parse(g.URL)
			copier.client.Jar.SetCookies(u, []*http.Cookie{{Name: admission.TicketCookie("sale"), Value: stolen, Path: "/"}})

			// The fan polls on; the copy, used after the grace, is caught.
			clk.Add(2 * time.Second)
			fan.status(g)
			clk.Add(6 * time.Second)
			resp, body := copier.get(g.URL+"/_usher/status?room=sale", "Accept", "application/json")
			if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"challenge"`) {
				t.Fatalf("the copy's poll: %d %s", resp.StatusCode, body)
			}
			// Both copies are flagged: the fan's poll and page too.
			resp, body = fan.get(g.URL+"/_usher/status?room=sale", "Accept", "application/json")
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("the fan's poll after the copy was caught: %d %s", resp.StatusCode, body)
			}
			resp, body = fan.get(g.URL + "/events/1")
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "worker-src") {
				t.Fatalf("the fan's page after the copy was caught: %d %.200q", resp.StatusCode, body)
			}
			if got := g.reasons("challenge", reasonCopied); got != 3 {
				t.Errorf("usher_shield_reasons_total{reason=copied_ticket} = %v, want 3", got)
			}

			// The fan proves itself and gets the place back.
			_, body = fan.get(g.URL+"/_usher/status?room=sale", "Accept", "application/json")
			c := challengeOf(t, body)
			code, body := fan.post(g.URL+c.Submit, url.Values{"token": {c.Token}, "nonce": {solve(t, c)}})
			if code.StatusCode != 200 || !strings.Contains(body, `"position":`) {
				t.Fatalf("the fan's solution: %d %s", code.StatusCode, body)
			}
			clk.Add(2 * time.Second)
			if got := fan.status(g).position(t); got != place {
				t.Errorf("the fan is at %d after proving, was %d", got, place)
			}
			// The copy's ticket is retired for good.
			resp, _ = copier.get(g.URL+"/_usher/status?room=sale", "Accept", "application/json")
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("the copy after the fan proved: %d", resp.StatusCode)
			}
			// A solution for one visitor does not prove another.
			other := newBrowser(t)
			other.join(g)
			code, body = other.post(g.URL+c.Submit, url.Values{"token": {c.Token}, "nonce": {solve(t, c)}})
			if code.StatusCode != 200 || !strings.Contains(body, `"position":`) || g.challenges("solved") != 1 {
				t.Errorf("another visitor sending the fan's solution: %d %s, %v solved", code.StatusCode, body, g.challenges("solved"))
			}
		})
	}
}
