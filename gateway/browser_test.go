package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usherhq/usher/config"
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
