package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"image/png"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/usherhq/usher/internal/browsertest"
)

// unlabelled is a script that lists the page's form controls that a
// screen reader could not name: no label, no aria-label, no text.
const unlabelled = `Array.from(document.querySelectorAll('input:not([type=hidden]),select,textarea,button,progress'))
	.filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby') && !(el.textContent || '').trim() && !(el.type === 'submit' && el.value))
	.map(el => el.outerHTML.slice(0, 80))`

// pageBasics is a script that says what a page lacks of a language, a
// title and a heading.
const pageBasics = `[document.documentElement.lang ? '' : 'no lang', document.title.trim() ? '' : 'no title', document.querySelector('h1') ? '' : 'no h1'].filter(Boolean)`

// TestFanJourney plays a fan's whole way on a phone (390×844) in headless
// Chromium against usher demo with a crowd ahead: the queue page shows the
// place, the number ahead and a wait that counts down, and announces the
// place as it moves; a reload keeps the place; the fan gets through by
// itself, picks two seats, holds them, pays with the test card and gets
// the tickets, whose QR code the check-in API accepts once. Every page has
// a language, a title and a heading, and every control a label.
func TestFanJourney(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bookingAddr := ln.Addr().String()
	ln.Close()
	d := startDemo(t, env(map[string]string{"USHER_ADMIN_TOKEN": "journey-token"}), "-admin-listen", "127.0.0.1:0",
		"-booking-listen", bookingAddr, "-crowd", "12")

	b := browsertest.New(t, 390, 844)
	bctx := b.Context()
	fail := func(format string, args ...any) {
		t.Helper()
		b.Screenshot("journey-failed")
		t.Fatalf(format, args...)
	}
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, actions...); err != nil {
			fail("%s: %v", what, err)
		}
	}
	// until polls a script, through the page loads on the way, for 60 s.
	until := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](expr))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				fail("%s: not seen in 60 s (last error: %v)", what, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	checkPage := func(name string) {
		t.Helper()
		for _, script := range []string{pageBasics, unlabelled} {
			missing, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](script))
			if err != nil {
				fail("%s: %v", name, err)
			}
			if len(missing) > 0 {
				t.Errorf("%s page: %q", name, missing)
			}
		}
	}
	base := "http://" + d.addr

	// A crowd of twelve joined first: the fan waits, and sees it.
	do("open the event", chromedp.Navigate(base+"/events/wandering-stars"))
	until("the queue page with a place", `!!document.getElementById('place') && /You are (number|next)/.test(document.getElementById('place').textContent)`)
	b.Screenshot("journey-1-queue")
	checkPage("queue")
	first, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('place').textContent`))
	if err != nil {
		fail("read the place: %v", err)
	}
	live, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('place').getAttribute('aria-live')`))
	if err != nil || live != "polite" {
		t.Errorf("the place is not a polite live region: %q, %v", live, err)
	}
	if ahead, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('ahead').textContent`)); !strings.Contains(ahead, "ahead of you") {
		t.Errorf("the number ahead: %q", ahead)
	}
	if wait, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('wait').hidden ? '' : document.getElementById('wait').textContent`)); !strings.Contains(wait, "Estimated wait") {
		t.Errorf("the wait: %q", wait)
	}
	// The wait counts down between answers: the page's data-eta, the
	// seconds it shows left, falls from one second to the next.
	var etas []int
	for range 4 {
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('queue') ? document.getElementById('queue').getAttribute('data-eta') || '' : ''`))
		if n, convErr := strconv.Atoi(s); err == nil && convErr == nil {
			etas = append(etas, n)
		}
		time.Sleep(1100 * time.Millisecond)
	}
	fell := false
	for i := 1; i < len(etas); i++ {
		fell = fell || etas[i] < etas[i-1]
	}
	if len(etas) < 2 || !fell {
		t.Errorf("the wait did not count down: %v seconds left, read a second apart", etas)
	}
	t.Logf("seconds left on the page, a second apart: %v", etas)

	// The operator pauses the sale while the laptop joins and the fan
	// reloads, so that the fan is still in line for both, however slow
	// the machine; the fan keeps the place through the pause.
	operate := func(action string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+d.adminAddr+"/api/rooms/demo/"+action, nil)
		req.Header.Set("Authorization", "Bearer journey-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s the sale: %d", action, resp.StatusCode)
		}
	}
	operate("pause")

	// The same page on a laptop, for the README's pictures: a second fan,
	// behind the first.
	laptop := browsertest.New(t, 1280, 800)
	if _, err := chromedp.Run(laptop.Context(), chromedp.Navigate(base+"/events/wandering-stars")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		// Through the page loads of a challenge solved on the way.
		in, err := chromedp.Run(laptop.Context(), chromedp.Evaluate[bool](`!!document.getElementById('place') && /You are (number|next)/.test(document.getElementById('place').textContent)`))
		if err == nil && in {
			laptop.Screenshot("journey-1-queue-laptop")
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("the queue page on a laptop: not seen in 30 s (%v)", err)
			break
		}
	}

	// A reload keeps the place: the same one, or one further on.
	placeNumber := `(() => { const m = /number ([\d,]+)|(next)/.exec(document.getElementById('place') ? document.getElementById('place').textContent : ''); return m ? (m[2] ? 1 : Number(m[1].replace(/,/g, ''))) : 0; })()`
	before, err := chromedp.Run(bctx, chromedp.Evaluate[int](placeNumber))
	if err != nil || before < 1 {
		fail("read the place number: %d, %v", before, err)
	}
	do("reload the queue page", chromedp.Reload())
	until("the place after the reload", `!!document.getElementById('place')`)
	if after, err := chromedp.Run(bctx, chromedp.Evaluate[int](placeNumber)); err == nil && (after < 0 || after > before) {
		t.Errorf("place %d after a reload, %d before", after, before)
	}
	operate("resume")
	// The live region is rewritten as the place moves, which is what a
	// screen reader announces: seen changed on the queue page itself.
	moved := false
	for deadline := time.Now().Add(60 * time.Second); !moved && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		now, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.getElementById('place') ? document.getElementById('place').textContent : '(gone)'`))
		if err != nil {
			continue // a page load on the way
		}
		if now == "(gone)" {
			break
		}
		moved = now != first
	}
	if !moved {
		t.Errorf("the place's live region never changed on the queue page (first %q)", first)
	}

	until("the seat map after the queue", `document.querySelectorAll('circle.a[data-seat]').length > 2`)
	b.Screenshot("journey-2-seatmap")
	checkPage("seat map")
	do("pick two seats",
		chromedp.Click(chromedp.JSPath(`document.querySelectorAll('circle.a[data-seat]')[0]`)),
		chromedp.Click(chromedp.JSPath(`document.querySelectorAll('circle.a[data-seat]')[1]`)))
	until("the hold button", `!document.getElementById('hold-seats').disabled`)
	do("hold them", chromedp.Click(chromedp.CSS("#hold-seats")))
	until("the hold page with its countdown", `document.querySelector('[data-page="hold"]') !== null && !document.getElementById('pay').hidden && /\d+:\d\d/.test(document.body.innerText)`)
	b.Screenshot("journey-3-hold")
	checkPage("hold")

	do("pay", chromedp.Click(chromedp.CSS("#pay-button")))
	until("the card form", `document.getElementById('card') !== null`)
	checkPage("card")
	do("enter the test card",
		chromedp.SendKeys(chromedp.CSS("#card"), "4242 4242 4242 4242"),
		chromedp.SendKeys(chromedp.CSS("#exp"), "12/34"),
		chromedp.SendKeys(chromedp.CSS("#cvc"), "123"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Ann Fan"),
		chromedp.Click(chromedp.CSS("#pay-button")))
	until("the tickets", `(() => {
		const qr = document.querySelectorAll('.tickets img.qr');
		return qr.length === 2 && Array.from(qr).every(i => i.complete && i.naturalWidth > 0);
	})()`)
	b.Screenshot("journey-4-tickets")
	checkPage("tickets")

	// The operators' dashboard of the same sale, at both sizes, for the
	// README's pictures: logged in with the admin token.
	for _, size := range []struct {
		name          string
		width, height int
	}{{"phone", 390, 844}, {"laptop", 1280, 800}} {
		ob := browsertest.New(t, size.width, size.height)
		octx := ob.Context()
		if err := chromedp.Do(octx, chromedp.Navigate("http://"+d.adminAddr+"/")); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(octx, chromedp.Poll[bool](`!!document.getElementById('token') && !document.getElementById('login').hidden`,
			chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("the dashboard's token login: %v", err)
		}
		if err := chromedp.Do(octx, chromedp.SendKeys(chromedp.CSS("#token"), "journey-token"), chromedp.Click(chromedp.CSS("#token-use"))); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Run(octx, chromedp.Poll[bool](`(() => {
			const w = document.querySelector('[data-k="waiting"]');
			return !!w && w.textContent.trim() !== '' && w.textContent.trim() !== '–';
		})()`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("the dashboard did not fill: %v", err)
		}
		ob.Screenshot("journey-5-dashboard-" + size.name)
	}

	// The door scans the first ticket's QR code: valid once, then a repeat.
	src, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector('.tickets img.qr').src`))
	if err != nil {
		fail("read the QR code: %v", err)
	}
	code := scanQR(t, src)
	for i, want := range []struct {
		status int
		result string
	}{{http.StatusOK, `"result":"valid"`}, {http.StatusConflict, `"result":"already_checked_in"`}} {
		req, _ := http.NewRequest("POST", "http://"+bookingAddr+"/api/checkin", strings.NewReader(`{"code":`+jsString(code)+`}`))
		req.Header.Set("Authorization", "Bearer journey-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want.status || !strings.Contains(string(body), want.result) {
			t.Errorf("check-in %d: %d %s, want %d %s", i+1, resp.StatusCode, body, want.status, want.result)
		}
	}
}

// TestQueueWithoutJavaScript: a browser with JavaScript off waits on the
// queue page, which reloads itself (a meta refresh inside noscript), and
// gets through to the event page by itself.
func TestQueueWithoutJavaScript(t *testing.T) {
	d := startDemo(t, env(nil), "-crowd", "6")
	b := browsertest.New(t, 390, 844)
	bctx := b.Context()
	// A phone's browser with scripts off: with headless Chromium's own
	// User-Agent the shield would ask for a proof of work, which needs
	// JavaScript, and rightly so.
	noScript := func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{
			UserAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", AcceptLanguage: "en-GB"})
		if err != nil {
			return chromedp.Void{}, err
		}
		_, err = cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return chromedp.Void{}, err
	}
	if err := chromedp.Do(bctx, noScript, chromedp.Navigate("http://"+d.addr+"/events/wandering-stars")); err != nil {
		t.Fatal(err)
	}
	pageHTML := func(ctx context.Context, tg *chromedp.Target) (string, error) {
		doc, err := cdp.Call(ctx, tg, dom.GetDocument, dom.GetDocumentParams{})
		if err != nil || doc.Root == nil {
			return "", err
		}
		res, err := cdp.Call(ctx, tg, dom.GetOuterHTML, dom.GetOuterHTMLParams{NodeID: doc.Root.NodeID})
		return res.OuterHTML, err
	}
	sawQueue, sawRefresh := false, false
	deadline := time.Now().Add(60 * time.Second)
	for {
		// With scripts off, the page is read through the DOM, not a script.
		html, err := chromedp.Run(bctx, pageHTML)
		if err == nil {
			if strings.Contains(html, `id="place"`) {
				sawQueue = true
				sawRefresh = sawRefresh || strings.Contains(html, `http-equiv="refresh"`)
			}
			if strings.Contains(html, `data-seat=`) {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Screenshot("noscript-failed")
			t.Fatalf("not through to the seat map in 60 s without JavaScript (queue page seen: %v)", sawQueue)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !sawQueue || !sawRefresh {
		t.Errorf("queue page seen %v, with its meta refresh %v: the crowd of six should have made the fan wait", sawQueue, sawRefresh)
	}
	b.Screenshot("noscript-through")
}

// startDemo runs usher demo with the flags given (listening on free
// loopback ports, with no admin listeners unless the flags say otherwise)
// until the test ends, and fails the test if it stops with an error.
func startDemo(t *testing.T, getenv func(string) string, flags ...string) demoAddrs {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan demoAddrs, 1)
	done := make(chan error, 1)
	args := append([]string{"-listen", "127.0.0.1:0", "-admin-listen", "", "-booking-admin-listen", ""}, flags...)
	go func() { done <- runDemo(ctx, args, getenv, io.Discard, io.Discard, ready) }()
	var d demoAddrs
	select {
	case d = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("demo stopped: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	return d
}

// scanQR decodes the QR code of a data: URI of a PNG, as a door scanner
// would read it off the phone's screen.
func scanQR(t *testing.T, src string) string {
	t.Helper()
	data, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		t.Fatalf("the QR code is not a PNG data: URI: %.60q", src)
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	bitmap, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bitmap, nil)
	if err != nil {
		t.Fatalf("decode the QR code: %v", err)
	}
	return res.GetText()
}

// jsString quotes s for a script or a JSON document.
func jsString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
