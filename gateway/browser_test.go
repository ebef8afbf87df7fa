package gateway

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/gateway/shield"
	"github.com/usherhq/usher/internal/browsertest"
	"github.com/usherhq/usher/queue/memory"
)

// TestTwoTabsInBrowser: one fan's Chromium with the queue page open in two
// tabs, both polling on their own timers while every answer rotates the
// ticket in the one cookie jar they share, is never taken for a copy. The
// real clock runs here, since crossing polls are what is tested.
func TestTwoTabsInBrowser(t *testing.T) {
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), origin: newOrigin(t, nil).URL, store: memory.New(memory.Options{}),
		room: func(r *RoomConfig) {
			r.State = "paused"
			r.PollMin, r.PollMax = config.Duration(time.Second), config.Duration(time.Second)
			// Headless Chromium says so; this test is about tabs.
			r.Shield.ChallengeAt, r.Shield.BlockAt = 0, 0
		}})
	br := browsertest.New(t, 390, 844)
	ctx, cancel := context.WithTimeout(br.Context(), 60*time.Second)
	defer cancel()
	tab2, cancel2 := chromedp.NewContext(br.Context())
	defer cancel2()
	tab2, cancelTimeout := context.WithTimeout(tab2, 60*time.Second)
	defer cancelTimeout()
	for _, tab := range []context.Context{ctx, tab2} {
		if _, err := chromedp.Run(tab, chromedp.Navigate(g.URL+"/events/1")); err != nil {
			t.Fatal(err)
		}
	}
	polls := func() float64 {
		return testutil.ToFloat64(g.metrics.requests.WithLabelValues("fans", "status", "200"))
	}
	deadline := time.Now().Add(45 * time.Second)
	for polls() < 16 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if n := polls(); n < 16 {
		t.Fatalf("only %v status polls answered", n)
	}
	var places []string
	for i, tab := range []context.Context{ctx, tab2} {
		in, err := chromedp.Run(tab, chromedp.Evaluate[bool](`document.body.innerText.includes("in line")`))
		if err != nil || !in {
			t.Errorf("tab %d is not in line any more (%v)", i+1, err)
		}
		place, err := chromedp.Run(tab, chromedp.Evaluate[string](`document.getElementById('place').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		places = append(places, place)
	}
	// One fan, one place: both tabs show it.
	if places[0] != places[1] || !strings.Contains(places[0], "You are") {
		t.Errorf("the two tabs show %q and %q", places[0], places[1])
	}
	if got := g.reasons("challenge", reasonCopied); got != 0 {
		t.Errorf("two tabs of one browser were taken for copies %v times", got)
	}
	if got := g.challenges("issued"); got != 0 {
		t.Errorf("%v challenges issued", got)
	}
	t.Logf("%v status polls from two tabs, none taken for a copy", polls())
}

// TestCrowdedAddressInBrowser: a fan's phone joins from an address that
// then takes more places than its allowances; the fan's queue page meets
// the challenge on its next poll, solves it by itself, keeps its place,
// and gets through to the site when its turn comes.
func TestCrowdedAddressInBrowser(t *testing.T) {
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), origin: newOrigin(t, nil).URL, store: memory.New(memory.Options{}),
		room: func(r *RoomConfig) {
			r.State = "paused"
			r.PollMin, r.PollMax = config.Duration(time.Second), config.Duration(time.Second)
			r.Shield.ChallengeBits, r.Shield.ChallengeBitsMax = 8, 8
		}})
	br := browsertest.New(t, 390, 844)
	ctx, cancel := context.WithTimeout(br.Context(), 60*time.Second)
	defer cancel()
	// A phone's browser: headless Chromium's own User-Agent is challenged
	// at its join, and a place that proved itself is not asked again.
	phone := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
			UserAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", AcceptLanguage: "en-GB"})
		return chromedp.Void{}, err
	}
	if err := chromedp.Do(ctx, phone, chromedp.Navigate(g.URL+"/events/1")); err != nil {
		t.Fatal(err)
	}
	inLine := func() bool {
		in, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.body && document.body.innerText.includes("in line")`))
		return err == nil && in
	}
	if !inLine() {
		t.Fatal("the phone did not get a place")
	}
	// Others on the phone's address (127.0.0.1) join until it has taken
	// more places than its allowance.
	for range shield.DefaultCookielessJoins {
		newBrowserFrom(t, net.IPv4(127, 0, 0, 1)).get(g.URL + "/events/1")
	}
	if !g.routing.Load().rooms["sale"].scorer.Crowded(netip.MustParseAddr("127.0.0.1"), time.Now()) {
		t.Fatal("the address is not crowded")
	}
	// The phone's page proves itself and goes back in line.
	deadline := time.Now().Add(30 * time.Second)
	for g.challenges("solved") < 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := g.challenges("solved"); got != 1 {
		t.Fatalf("%v challenges solved, want the phone's one", got)
	}
	for !inLine() && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !inLine() {
		t.Fatal("the phone is not back in line after proving itself")
	}
	// Its turn comes: it gets through by itself.
	setState(t, g.Gateway, "sale", admission.StateOpen)
	for time.Now().Before(deadline) {
		g.tick(t)
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		if err == nil && strings.HasPrefix(text, "origin /events/1") {
			if got := g.reasons("challenge", "crowded_address"); got < 1 {
				t.Errorf("usher_shield_reasons_total{decision=challenge,reason=crowded_address} = %v", got)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatal("the phone did not get through once the room opened")
}
