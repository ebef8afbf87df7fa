package admin

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/internal/browsertest"
	"github.com/usherhq/usher/internal/oidctest"
)

// TestDashboardInBrowser logs in through the OpenID Connect provider in a
// real browser, waits for the dashboard to show the room's live figures,
// pauses the room from it, and keeps screenshots at phone and laptop size.
func TestDashboardInBrowser(t *testing.T) {
	h := newHarness(t, true)
	h.idp.SetUser(oidctest.User{Subject: "op-1", Email: "op@venue.example", Claims: map[string]any{"roles": []string{"usher-operator"}}})
	rm := h.ctrl.Room("sale")
	for range 40 {
		if _, err := rm.Join(t.Context(), admission.NewVisitorID()); err != nil {
			t.Fatal(err)
		}
	}
	for range 20 {
		rm.Origin.Observe(40*time.Millisecond, 200)
		h.clock.Add(time.Second)
		if err := h.ctrl.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
	}

	for _, size := range []struct {
		name          string
		width, height int
	}{{"phone", 390, 844}, {"laptop", 1280, 800}} {
		t.Run(size.name, func(t *testing.T) {
			b := browsertest.New(t, size.width, size.height)
			ctx := b.Context()
			if _, err := chromedp.Run(ctx, chromedp.Navigate(h.srv.URL+"/")); err != nil {
				t.Fatal(err)
			}
			// The login went through the provider and back; the card shows
			// the room's figures from the stream.
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => {
				const w = document.querySelector('[data-k="waiting"]');
				return !!w && w.textContent.trim() !== '' && w.textContent.trim() !== '–' &&
					document.body.innerText.includes('op@venue.example') && document.body.innerText.includes('The sale');
			})()`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
				t.Fatalf("the dashboard did not fill: %v", err)
			}
			b.Screenshot("dashboard-" + size.name)
		})
	}

	t.Run("pause from the page", func(t *testing.T) {
		b := browsertest.New(t, 1280, 800)
		ctx := b.Context()
		if _, err := chromedp.Run(ctx, chromedp.Navigate(h.srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`!!document.querySelector('[data-k="pause"]') && !document.querySelector('[data-k="pause"]').disabled`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("no pause button: %v", err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Click(chromedp.JSPath(`document.querySelector('[data-k="pause"]')`))); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for rm.Policy().State != admission.StatePaused {
			if time.Now().After(deadline) {
				t.Fatal("the room was not paused from the dashboard")
			}
			time.Sleep(20 * time.Millisecond)
		}
		entries, err := rm.Audit(t.Context(), 1)
		if err != nil || len(entries) != 1 || entries[0].Who != "op@venue.example" || entries[0].Action != "pause" {
			t.Errorf("audit: %+v %v", entries, err)
		}
	})
}
