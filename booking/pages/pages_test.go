package pages

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	scriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	styleRE  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
	tagRE    = regexp.MustCompile(`<[a-zA-Z][^\s/>]*((?:\s+[^\s="'<>/]+(?:="[^"]*")?)*)\s*>`)
	attrRE   = regexp.MustCompile(`\s([^\s="'<>/]+)(?:="[^"]*")?`)
	seatRE   = regexp.MustCompile(`<circle class="[ahs]"[^>]*data-seat=[^>]*>`)
	inputRE  = regexp.MustCompile(`<input id="([^"]+)"`)
)

// The fixtures: fixed data, so that the golden files never change by
// themselves.
var (
	paris = time.FixedZone("CEST", 2*60*60)
	now   = time.Date(2027, 6, 1, 12, 0, 0, 0, paris)
	show  = time.Date(2027, 6, 14, 20, 0, 0, 0, paris)
)

func eur(cents int64) Money { return Money{Cents: cents, Currency: "EUR"} }

func eventList() EventList {
	return EventList{
		Title:     "Concerts in Paris",
		SearchURL: "/events",
		Events: []EventCard{
			{ID: "ev1", Name: "Summer Tour 2027", Venue: "Olympia", StartsAt: show, From: eur(4000), URL: "/events/ev1", OnSale: true},
			{ID: "ev2", Name: "Jazz Night", Venue: "New Morning", StartsAt: show.AddDate(0, 0, 3), From: eur(2250), URL: "/events/ev2", SoldOut: true},
			{ID: "ev3", Name: "Autumn Strings", Venue: "Salle Pleyel", StartsAt: show.AddDate(0, 3, 0), URL: "/events/ev3"},
		},
	}
}

// stalls is a section of rows A to D with twelve seats each, a metre apart;
// row B's first seats are held and sold.
func stalls() SectionView {
	s := SectionView{ID: "stalls", Name: "Stalls"}
	for r, row := range []string{"A", "B", "C", "D"} {
		for n := 1; n <= 12; n++ {
			state := "available"
			switch {
			case row == "B" && n <= 2:
				state = "held"
			case row == "B" && n <= 4:
				state = "sold"
			}
			s.Seats = append(s.Seats, SeatView{
				ID:  fmt.Sprintf("stalls-%s-%d", row, n),
				Row: row, Number: fmt.Sprint(n),
				X: float64(n), Y: float64(r) * 1.2,
				State: state, Price: eur(4500), TicketType: "",
			})
		}
	}
	return s
}

func balcony() SectionView {
	s := SectionView{ID: "balcony", Name: "Balcony"}
	for n := 1; n <= 6; n++ {
		s.Seats = append(s.Seats, SeatView{
			ID: fmt.Sprintf("balcony-A-%d", n), Row: "A", Number: fmt.Sprint(n),
			X: float64(n) * 50, Y: 0, State: "available", Price: eur(2950), TicketType: "Restricted view",
		})
	}
	s.Seats = append(s.Seats, SeatView{ID: "balcony-W1", Label: "Wheelchair space 1", X: 400, Y: 60, State: "available", Price: eur(2950)})
	return s
}

func eventPage() EventPage {
	return EventPage{
		ID: "ev1", Name: "Summer Tour 2027", Venue: "Olympia",
		Description: "An evening of new songs.\n\nDoors open at 19:00.",
		StartsAt:    show,
		OnSale:      true,
		Sections:    []SectionView{stalls(), balcony()},
		Zones: []ZoneView{
			{ID: "pit", Name: "Standing pit", Available: 120, Capacity: 500, Price: eur(4000)},
			{ID: "terrace", Name: "Terrace", Available: 0, Capacity: 50, Price: eur(3500)},
		},
		MaxPerOrder: 6,
		HoldsURL:    "/api/holds",
		StreamURL:   "/api/events/{id}/availability/stream",
		HoldPageURL: "/events/{id}/holds/{hold}",
	}
}

func holdPage() HoldPage {
	return HoldPage{
		EventID: "ev1", EventName: "Summer Tour 2027", HoldID: "h_42",
		Items:     []ItemView{{Label: "Stalls, Row C seat 5", Price: eur(4500)}, {Label: "Stalls, Row C seat 6", Price: eur(4500)}},
		Total:     eur(9000),
		ExpiresAt: now.Add(9*time.Minute + 59500*time.Millisecond), Now: now,
		OrdersURL:  "/api/orders",
		ReleaseURL: "/api/holds/{hold}",
		EventURL:   "/events/ev1",
	}
}

// qrPNG is a real PNG (one white pixel), as a data: URI.
const qrPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAAAAAA6fptVAAAACklEQVR4nGP4DwABAQEAG7buVgAAAABJRU5ErkJggg=="

func orderPage(status, last string) OrderPage {
	p := OrderPage{
		OrderID: "o_7", EventName: "Summer Tour 2027", Status: status,
		Items:    []ItemView{{Label: "Stalls, Row C seat 5", Price: eur(4500)}, {Label: "Stalls, Row C seat 6", Price: eur(4500)}},
		Subtotal: eur(9000), Discount: eur(900), Total: eur(8100), PromoCode: "SUMMER10",
		RetryURL:    "/api/orders/{id}/payments",
		StatusURL:   "/api/orders/{id}",
		LastPayment: last,
		EventURL:    "/events/ev1",
		Now:         now, ExpiresAt: now.Add(8 * time.Minute),
	}
	if status == "pending" && last == "" {
		p.PayURL = "https://pay.example/checkout/cs_1"
	}
	if status == "paid" {
		p.Tickets = []TicketView{
			{ID: "t1", Label: "Stalls, Row C seat 5", Code: "USH1.eyJ0IjoidDEifQ.c2ln", QR: qrPNG},
			{ID: "t2", Label: "Stalls, Row C seat 6", Code: "USH1.eyJ0IjoidDIifQ.c2ln", QR: qrPNG, CheckedIn: true},
			{ID: "t3", Label: "Standing pit", Code: "USH1.eyJ0IjoidDMifQ.c2ln", QR: qrPNG, Void: true},
		}
	}
	return p
}

func renderTo(t *testing.T, f func(*bytes.Buffer) error) string {
	t.Helper()
	var b bytes.Buffer
	if err := f(&b); err != nil {
		t.Fatalf("render: %v", err)
	}
	return b.String()
}

func renderList(t *testing.T, l EventList) string {
	t.Helper()
	return renderTo(t, func(b *bytes.Buffer) error { return RenderEventList(b, l) })
}

func renderEvent(t *testing.T, p EventPage) string {
	t.Helper()
	return renderTo(t, func(b *bytes.Buffer) error { return RenderEvent(b, p) })
}

func renderHold(t *testing.T, p HoldPage) string {
	t.Helper()
	return renderTo(t, func(b *bytes.Buffer) error { return RenderHold(b, p) })
}

func renderOrder(t *testing.T, p OrderPage) string {
	t.Helper()
	return renderTo(t, func(b *bytes.Buffer) error { return RenderOrder(b, p) })
}

func renderError(t *testing.T, status int, title, message string) string {
	t.Helper()
	return renderTo(t, func(b *bytes.Buffer) error { return RenderError(b, status, title, message) })
}

// allPages is one of each page, in each of its states, by golden file name.
func allPages(t *testing.T) map[string]string {
	t.Helper()
	search := eventList()
	search.Query, search.Venue, search.From, search.To = "tour", "Olympia", "2027-06-01", "2027-06-30"
	search.Events = search.Events[:1]
	empty := eventList()
	empty.Query, empty.Events = "nothing", nil
	closed := eventPage()
	closed.OnSale = false
	closed.Message = "Sales open on Friday 4 June at 10:00."
	zonesOnly := eventPage()
	zonesOnly.Sections = nil
	expired := holdPage()
	expired.ExpiresAt = now.Add(-time.Second)
	return map[string]string{
		"list.golden.html":                renderList(t, eventList()),
		"list-search.golden.html":         renderList(t, search),
		"list-empty.golden.html":          renderList(t, empty),
		"event.golden.html":               renderEvent(t, eventPage()),
		"event-not-on-sale.golden.html":   renderEvent(t, closed),
		"event-zones.golden.html":         renderEvent(t, zonesOnly),
		"hold.golden.html":                renderHold(t, holdPage()),
		"hold-expired.golden.html":        renderHold(t, expired),
		"order-pending.golden.html":       renderOrder(t, orderPage("pending", "")),
		"order-declined.golden.html":      renderOrder(t, orderPage("pending", "declined")),
		"order-processing.golden.html":    renderOrder(t, orderPage("pending", "processing")),
		"order-paid.golden.html":          renderOrder(t, orderPage("paid", "")),
		"order-failed.golden.html":        renderOrder(t, orderPage("failed", "")),
		"order-expired.golden.html":       renderOrder(t, orderPage("expired", "")),
		"order-cancelled.golden.html":     renderOrder(t, orderPage("cancelled", "")),
		"error-404.golden.html":           renderError(t, 404, "", ""),
		"error-own-words.golden.html":     renderError(t, 503, "Back in a minute", "We are moving a few things around."),
		"order-pending-retry.golden.html": renderOrder(t, func() OrderPage { p := orderPage("pending", ""); p.PayURL = ""; return p }()),
	}
}

// checkGolden compares got with testdata/name, or rewrites it under -update.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatalf("update golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the rendered page; run go test -update and review the diff\ngot:\n%s", path, got)
	}
}

// TestGolden compares each page's markup with its golden file. The inline
// script and style are cut out: they are the same bytes on every page, are
// checked against the embedded files and the policy's hashes, and would
// bury each diff of markup.
func TestGolden(t *testing.T) {
	for name, page := range allPages(t) {
		t.Run(name, func(t *testing.T) {
			checkGolden(t, name, withoutInline(page))
		})
	}
}

// TestEveryPage checks what every page must have: a language, a title, one
// h1, a main landmark, a label for every field, no outside assets, no inline
// handlers or style attributes, hashes that match the policy, and a size
// that a phone on a busy network loads at once.
func TestEveryPage(t *testing.T) {
	for name, page := range allPages(t) {
		t.Run(name, func(t *testing.T) {
			if n := len(page); n >= 100*1024 {
				t.Errorf("page is %d bytes, want under 100 KB", n)
			}
			markup := withoutInline(page)
			for _, want := range []string{
				"<!doctype html>", `<html lang="en">`, `<meta charset="utf-8">`,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`<main id="main"`,
			} {
				if !strings.Contains(markup, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if !regexp.MustCompile(`<title>[^<]+</title>`).MatchString(markup) {
				t.Error("page has no title")
			}
			if n := strings.Count(markup, "<h1"); n != 1 {
				t.Errorf("page has %d h1, want 1", n)
			}
			if n := strings.Count(markup, "<main"); n != 1 {
				t.Errorf("page has %d main landmarks, want 1", n)
			}
			if strings.Count(markup, "<style") != 1 || strings.Count(markup, "<script") > 1 {
				t.Error("want one inline style and at most one inline script")
			}
			for _, ref := range []string{" src=\"http", " href=\"//", "@import", "url(", "<link rel=\"stylesheet\"", "<script src"} {
				if strings.Contains(page, ref) {
					t.Errorf("page refers to an outside asset: %q", ref)
				}
			}
			for _, m := range inputRE.FindAllStringSubmatch(markup, -1) {
				if !strings.Contains(markup, `<label for="`+m[1]+`"`) && !strings.Contains(markup, `for="`+m[1]+`">`) {
					t.Errorf("input %s has no label", m[1])
				}
			}
			checkNoInlineAttributes(t, page)
			checkHashes(t, page)
		})
	}
}

// withoutInline is page with the text of its script and style elements cut
// out, leaving the markup.
func withoutInline(page string) string {
	page = scriptRE.ReplaceAllString(page, "<script></script>")
	return styleRE.ReplaceAllString(page, "<style></style>")
}

// checkNoInlineAttributes asserts that no start tag in page carries an event
// handler or a style attribute, which the CSP would block. Every attribute
// value the templates write is double-quoted, so a quoted value that merely
// contains "onerror=" is text, not an attribute.
func checkNoInlineAttributes(t *testing.T, page string) {
	t.Helper()
	markup := withoutInline(page)
	tags := tagRE.FindAllStringSubmatch(markup, -1)
	if len(tags) < 10 {
		t.Fatalf("found only %d start tags; the tag pattern no longer fits the markup", len(tags))
	}
	for _, tag := range tags {
		for _, attr := range attrRE.FindAllStringSubmatch(tag[1], -1) {
			name := strings.ToLower(attr[1])
			if strings.HasPrefix(name, "on") || name == "style" {
				t.Errorf("tag %q has attribute %s", tag[0], name)
			}
		}
	}
	if n := strings.Count(markup, "<") - strings.Count(markup, "</") - strings.Count(markup, "<!doctype"); n != len(tags) {
		t.Errorf("%d start tags, but the tag pattern matched %d", n, len(tags))
	}
}

// checkHashes asserts that CSP allows every inline script and style of page
// by the SHA-256 of its exact text.
func checkHashes(t *testing.T, page string) {
	t.Helper()
	policy := CSP()
	check := func(directive string, re *regexp.Regexp) {
		for _, m := range re.FindAllStringSubmatch(page, -1) {
			sum := sha256.Sum256([]byte(m[1]))
			source := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if !strings.Contains(policy, directive+" "+source) {
				t.Errorf("%s does not allow %s (the page's inline text); policy: %s", directive, source, policy)
			}
		}
	}
	check("script-src", scriptRE)
	check("style-src", styleRE)
}

func TestCSPDirectives(t *testing.T) {
	got := map[string]string{}
	for _, d := range strings.Split(CSP(), ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		if _, dup := got[name]; dup {
			t.Errorf("directive %s twice", name)
		}
		got[name] = value
	}
	want := map[string]string{
		"default-src":     "'none'",
		"connect-src":     "'self'",
		"img-src":         "data:",
		"base-uri":        "'none'",
		"form-action":     "'self'",
		"frame-ancestors": "'none'",
	}
	for name, value := range want {
		if got[name] != value {
			t.Errorf("%s = %q, want %q", name, got[name], value)
		}
	}
	for _, name := range []string{"script-src", "style-src"} {
		if !regexp.MustCompile(`^'sha256-[A-Za-z0-9+/]{43}='$`).MatchString(got[name]) {
			t.Errorf("%s = %q, want exactly one sha256 source", name, got[name])
		}
	}
	if len(got) != len(want)+2 {
		t.Errorf("policy has %d directives, want %d: %s", len(got), len(want)+2, CSP())
	}
}

// The script is the same bytes on every page and for every fan, or its hash
// would not hold.
func TestScriptIsTheEmbeddedFile(t *testing.T) {
	embedded, err := assets.ReadFile("assets/booking.js")
	if err != nil {
		t.Fatal(err)
	}
	for name, page := range allPages(t) {
		m := scriptRE.FindStringSubmatch(page)
		if m == nil {
			continue
		}
		if m[1] != string(embedded) {
			t.Errorf("%s: the page's script is not the embedded script byte for byte", name)
		}
	}
}

func TestMoney(t *testing.T) {
	tests := []struct {
		m    Money
		want string
	}{
		{Money{1250, "EUR"}, "€12.50"},
		{Money{1250, "GBP"}, "£12.50"},
		{Money{1250, "USD"}, "$12.50"},
		{Money{1250, "CHF"}, "12.50 CHF"},
		{Money{1250, "eur"}, "€12.50"},
		{Money{1250, " usd "}, "$12.50"},
		{Money{4500, "EUR"}, "€45"},
		{Money{4505, "EUR"}, "€45.05"},
		{Money{99, "USD"}, "$0.99"},
		{Money{5, "USD"}, "$0.05"},
		{Money{0, "EUR"}, "€0"},
		{Money{125000, "GBP"}, "£1,250"},
		{Money{123456789, "EUR"}, "€1,234,567.89"},
		{Money{-500, "EUR"}, "-€5"},
		{Money{-1250, "CHF"}, "-12.50 CHF"},
		{Money{1250, ""}, "12.50"},
		{Money{-9223372036854775808, "EUR"}, "-€92,233,720,368,547,758.08"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.m.String(); got != tt.want {
				t.Errorf("%+v = %q, want %q", tt.m, got, tt.want)
			}
		})
	}
}

func TestSeatMapAccessibility(t *testing.T) {
	p := eventPage()
	page := withoutInline(renderEvent(t, p))
	seats := seatRE.FindAllString(page, -1)
	total := 0
	for _, s := range p.Sections {
		total += len(s.Seats)
	}
	if len(seats) != total {
		t.Fatalf("map has %d seat elements, want one per seat: %d", len(seats), total)
	}
	for _, s := range seats {
		for _, want := range []string{`tabindex="0"`, `role="button"`, `aria-pressed="false"`, `aria-label="`, `data-seat="`} {
			if !strings.Contains(s, want) {
				t.Errorf("seat %s lacks %s", s, want)
			}
		}
	}
	if n := strings.Count(page, `tabindex="0"`); n != total {
		t.Errorf("%d focusable elements with tabindex, want %d", n, total)
	}
	tests := []struct {
		id, label string
		disabled  bool
	}{
		{"stalls-C-12", "Row C seat 12, €45, available", false},
		{"stalls-B-1", "Row B seat 1, €45, on hold", true},
		{"stalls-B-3", "Row B seat 3, €45, sold", true},
		{"balcony-A-2", "Row A seat 2, Restricted view, €29.50, available", false},
		{"balcony-W1", "Wheelchair space 1, €29.50, available", false},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			re := regexp.MustCompile(`<circle [^>]*data-seat="` + regexp.QuoteMeta(tt.id) + `"[^>]*>`)
			el := re.FindString(page)
			if el == "" {
				t.Fatal("seat not on the map")
			}
			if !strings.Contains(el, `aria-label="`+tt.label+`"`) {
				t.Errorf("seat %s, want aria-label %q", el, tt.label)
			}
			if got := strings.Contains(el, `aria-disabled="true"`); got != tt.disabled {
				t.Errorf("aria-disabled = %v, want %v: %s", got, tt.disabled, el)
			}
		})
	}
	for _, want := range []string{
		`role="group" aria-label="Seats in Stalls"`,
		`<h3 class="section-name">Stalls</h3>`,
		`<h3 class="section-name">Balcony</h3>`,
		`aria-label="Map key"`,
		`Available</li>`, `Selected</li>`, `On hold</li>`, `Sold</li>`,
		`Hold these seats</button>`,
		`Choose up to 6 seats on the map.`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("event page lacks %q", want)
		}
	}
}

func TestSeatMapLayout(t *testing.T) {
	m := newSectionMap(stalls())
	// Seats a metre apart become 10 units apart, whatever the metre.
	pos := map[string][2]string{}
	for _, s := range m.Seats {
		pos[s.ID] = [2]string{s.CX, s.CY}
	}
	a1, a2, b1 := pos["stalls-A-1"], pos["stalls-A-2"], pos["stalls-B-1"]
	if a1[1] != a2[1] {
		t.Errorf("seats of one row at different heights: %v %v", a1, a2)
	}
	if a1[0] == a2[0] || a1[1] == b1[1] {
		t.Errorf("seats overlap: A1 %v, A2 %v, B1 %v", a1, a2, b1)
	}
	if got, want := diff(t, a2[0], a1[0]), pitch; got != want {
		t.Errorf("A1 to A2 is %v units, want %v", got, want)
	}
	if got, want := diff(t, b1[1], a1[1]), 12.0; got != want {
		t.Errorf("row A to row B is %v units, want %v", got, want)
	}
	if len(m.Rows) != 4 || m.Rows[2].Name != "C" {
		t.Errorf("row names %+v, want A to D", m.Rows)
	}
	if m.Rows[0].Y != a1[1] {
		t.Errorf("row A's name at y=%s, its seats at y=%s", m.Rows[0].Y, a1[1])
	}
	if diff(t, m.Rows[0].X, "0") <= 0 || diff(t, a1[0], m.Rows[0].X) <= 0 {
		t.Errorf("row name at x=%s is not between the edge and the first seat at x=%s", m.Rows[0].X, a1[0])
	}
	// A seat in any unit is the same map: centimetres instead of metres.
	big := stalls()
	for i := range big.Seats {
		big.Seats[i].X *= 100
		big.Seats[i].Y *= 100
	}
	if got := newSectionMap(big); got.ViewBox != m.ViewBox || got.Seats[5].CX != m.Seats[5].CX {
		t.Errorf("scaled section: viewBox %s, want %s", got.ViewBox, m.ViewBox)
	}
}

func diff(t *testing.T, a, b string) float64 {
	t.Helper()
	var x, y float64
	if _, err := fmt.Sscan(a, &x); err != nil {
		t.Fatalf("coordinate %q: %v", a, err)
	}
	if _, err := fmt.Sscan(b, &y); err != nil {
		t.Fatalf("coordinate %q: %v", b, err)
	}
	return x - y
}

func TestSeatMapOddInput(t *testing.T) {
	nan := SectionView{Name: "Odd", Seats: []SeatView{
		{ID: "1", X: 0, Y: 0, State: "available"},
		{ID: "2", X: 0, Y: 0, State: "available"}, // on top of seat 1
		{ID: "3", X: nanValue(), Y: 1e308, State: "???"},
	}}
	tests := []struct {
		name string
		s    SectionView
	}{
		{"one seat", SectionView{Name: "One", Seats: []SeatView{{ID: "x", X: 5, Y: 5, State: "available"}}}},
		{"no seats", SectionView{Name: "None"}},
		{"odd coordinates", nan},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newSectionMap(tt.s)
			if len(m.Seats) != len(tt.s.Seats) {
				t.Fatalf("%d seats drawn, want %d", len(m.Seats), len(tt.s.Seats))
			}
			for _, v := range append([]string{m.Width, m.Height, m.ViewBox}, coords(m)...) {
				if strings.Contains(v, "NaN") || strings.Contains(v, "Inf") {
					t.Errorf("map has %q", v)
				}
			}
		})
	}
	if m := newSectionMap(nan); m.Seats[2].Class != "s" || !m.Seats[2].Disabled {
		t.Errorf("a seat in an unknown state is %q, want sold and disabled", m.Seats[2].Class)
	}
}

func nanValue() float64 {
	zero := 0.0
	return zero / zero
}

func coords(m sectionMap) []string {
	var out []string
	for _, s := range m.Seats {
		out = append(out, s.CX, s.CY)
	}
	return out
}

func TestClosest(t *testing.T) {
	tests := []struct {
		name   string
		xs, ys []float64
		want   float64
	}{
		{"none", nil, nil, 0},
		{"one", []float64{1}, []float64{1}, 0},
		{"row", []float64{0, 2, 4, 6}, []float64{0, 0, 0, 0}, 2},
		{"column", []float64{0, 0, 0}, []float64{0, 3, 6}, 3},
		{"rows closer than seats", []float64{0, 2, 0, 2}, []float64{0, 0, 1, 1}, 1},
		{"diagonal", []float64{0, 3}, []float64{0, 4}, 5},
		{"same place ignored", []float64{1, 1, 4}, []float64{1, 1, 1}, 3},
		{"unsorted", []float64{9, 1, 5}, []float64{0, 0, 0}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := closest(tt.xs, tt.ys); got != tt.want {
				t.Errorf("closest = %v, want %v", got, tt.want)
			}
		})
	}
}

// seatedEvent is an event with sections of rows of ten seats each.
func seatedEvent(sections, rows int) EventPage {
	p := eventPage()
	p.Sections = nil
	for s := range sections {
		sec := SectionView{ID: fmt.Sprint("s", s), Name: fmt.Sprint("Section ", s+1)}
		for r := range rows {
			for n := range 10 {
				sec.Seats = append(sec.Seats, SeatView{
					ID:  fmt.Sprintf("s%d-r%d-n%d", s, r, n),
					Row: fmt.Sprint(r + 1), Number: fmt.Sprint(n + 1), X: float64(n), Y: float64(r),
					State: "available", Price: eur(12550), TicketType: "Standard",
				})
			}
		}
		p.Sections = append(p.Sections, sec)
	}
	return p
}

// Each seat costs little markup, so that a hall of 250 seats still makes a
// page under 100 KB (and a large venue's page compresses well).
func TestSeatMarkupBudget(t *testing.T) {
	small := renderEvent(t, seatedEvent(1, 5))
	large := renderEvent(t, seatedEvent(5, 5))
	if n := len(seatRE.FindAllString(large, -1)); n != 250 {
		t.Fatalf("%d seats on the map, want 250", n)
	}
	if per := (len(large) - len(small)) / 200; per > 220 {
		t.Errorf("a seat costs %d bytes of markup, want at most 220", per)
	}
	if n := len(large); n >= 100*1024 {
		t.Errorf("a 250-seat page is %d bytes, want under 100 KB", n)
	}
}

func TestEscapesHostileValues(t *testing.T) {
	hostile := `</title><script>alert("x")</script>'"<img src=x onerror=alert(1)>`
	list := eventList()
	list.Title, list.Query, list.Venue = hostile, hostile, hostile
	list.Events[0].Name, list.Events[0].Venue = hostile, hostile
	list.Events[1].URL = "javascript:alert(1)"
	ev := eventPage()
	ev.Name, ev.Venue, ev.Description, ev.ID = hostile, hostile, hostile, hostile
	ev.OnSale, ev.Message = false, hostile
	ev.Sections[0].Name = hostile
	ev.Sections[0].Seats[0].Row, ev.Sections[0].Seats[0].ID = hostile, hostile
	ev.Sections[1].Seats[0].TicketType = hostile
	ev.Zones[0].Name, ev.Zones[0].ID = hostile, hostile
	ev.HoldPageURL = "javascript:alert(1)//{hold}"
	onSale := ev
	onSale.OnSale = true
	hold := holdPage()
	hold.EventName, hold.HoldID = hostile, hostile
	hold.Items[0].Label = hostile
	hold.EventURL = "javascript:alert(1)"
	order := orderPage("paid", "")
	order.EventName, order.OrderID, order.PromoCode = hostile, hostile, hostile
	order.Tickets[0].Label, order.Tickets[0].Code = hostile, hostile
	order.Tickets[1].QR = `data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==`
	pending := orderPage("pending", "")
	pending.PayURL = "javascript:alert(1)"
	pending.EventName = hostile

	pages := map[string]string{
		"list":          renderList(t, list),
		"event":         renderEvent(t, ev),
		"event on sale": renderEvent(t, onSale),
		"hold":          renderHold(t, hold),
		"order":         renderOrder(t, order),
		"pending":       renderOrder(t, pending),
		"error":         renderError(t, 500, hostile, hostile),
	}
	for name, page := range pages {
		t.Run(name, func(t *testing.T) {
			for _, raw := range []string{"<img src=x", `alert("x")`, "alert(1)</script>", "javascript:", "data:text/html"} {
				if strings.Contains(page, raw) {
					t.Errorf("page carries %q unescaped", raw)
				}
			}
			if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
				t.Error("page does not show the hostile text escaped")
			}
			if n := strings.Count(page, "<script"); n > 1 {
				t.Errorf("page has %d script elements, want at most 1", n)
			}
			checkNoInlineAttributes(t, page)
			checkHashes(t, page)
		})
	}
}

func TestEventList(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*EventList)
		want    []string
		notWant []string
	}{
		{
			name: "landing",
			edit: func(*EventList) {},
			want: []string{
				`<h1>Concerts in Paris</h1>`,
				`<form class="search" role="search" action="/events" method="get">`,
				`<input id="q" name="q" type="search" value=""`,
				`name="venue"`, `name="from" type="date"`, `name="to" type="date"`,
				`<details class="more">`,
				`<h2><a href="/events/ev1">Summer Tour 2027</a></h2>`,
				`<time datetime="2027-06-14T20:00:00&#43;02:00">Mon 14 Jun 2027, 20:00</time>`,
				`<p class="venue">Olympia</p>`,
				`From <strong>€40</strong>`,
				`<span class="badge on">On sale</span>`,
				`<span class="badge off">Sold out</span>`,
				`<span class="badge off">Not on sale</span>`,
			},
			notWant: []string{"Show all events", "match your search", "<script"},
		},
		{
			name: "search",
			edit: func(l *EventList) {
				l.Query, l.Venue, l.From, l.To = "tour", "Olympia", "2027-06-01", "2027-06-30"
				l.Events = l.Events[:2]
			},
			want: []string{
				`value="tour"`, `value="Olympia"`, `value="2027-06-01"`, `value="2027-06-30"`,
				`<details class="more" open>`,
				`2 events match your search.`,
				`<a href="/events">Show all events</a>`,
			},
		},
		{
			name:    "query only",
			edit:    func(l *EventList) { l.Query, l.Events = "jazz", l.Events[1:2] },
			want:    []string{`1 event matches your search.`, `<details class="more">`},
			notWant: []string{`<details class="more" open>`},
		},
		{
			name: "nothing found",
			edit: func(l *EventList) { l.Query, l.Events = "zzz", nil },
			want: []string{`No events match your search.`},
		},
		{
			name: "defaults",
			edit: func(l *EventList) { *l = EventList{} },
			want: []string{`<h1>Events</h1>`, `action="/"`, `There are no events to show right now.`},
		},
		{
			name:    "no price",
			edit:    func(l *EventList) { l.Events = l.Events[2:] },
			notWant: []string{"From <strong>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := eventList()
			tt.edit(&l)
			page := renderList(t, l)
			checkContains(t, page, tt.want, tt.notWant)
		})
	}
}

func checkContains(t *testing.T, page string, want, notWant []string) {
	t.Helper()
	markup := withoutInline(page)
	for _, w := range want {
		if !strings.Contains(markup, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	for _, bad := range notWant {
		if strings.Contains(markup, bad) {
			t.Errorf("page has %q", bad)
		}
	}
}

func TestEventPage(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*EventPage)
		want    []string
		notWant []string
	}{
		{
			name: "on sale",
			edit: func(*EventPage) {},
			want: []string{
				`<title>Summer Tour 2027: tickets</title>`,
				`<h1>Summer Tour 2027</h1>`,
				`<time datetime="2027-06-14T20:00:00&#43;02:00">Mon 14 Jun 2027, 20:00</time> · Olympia`,
				`<p class="desc">An evening of new songs.</p>`,
				`<p class="desc">Doors open at 19:00.</p>`,
				`class="wrap event has-basket"`,
				`data-event="ev1"`, `data-sale="true"`, `data-max="6"`, `data-currency="EUR"`,
				`data-holds-url="/api/holds"`,
				`data-stream-url="/api/events/ev1/availability/stream"`,
				`data-hold-page-url="/events/ev1/holds/%7bhold%7d"`,
				`JavaScript is needed to pick seats and pay`,
				`<section id="basket" class="basket" aria-labelledby="basket-title" hidden>`,
				`<details id="presale" class="presale" hidden>`,
				`<h2 id="zones-title">Standing and other areas</h2>`,
				`data-zone="pit" data-name="Standing pit" data-cents="4000" data-available="120"`,
				`<strong>€40</strong> each · <span class="left">120 left</span>`,
				`<span class="left">Sold out</span>`,
				`max="6" value="1"`,
				`max="0" value="1"`,
				`<label class="sr" for="zone-0">Tickets for Standing pit</label>`,
				`<text class="row"`,
			},
			notWant: []string{`class="notice">Tickets for this event are not on sale`},
		},
		{
			name: "not on sale",
			edit: func(p *EventPage) { p.OnSale, p.Message = false, "Sales open on Friday at 10:00." },
			want: []string{
				`<p class="notice">Sales open on Friday at 10:00.</p>`,
				`<h2 id="seats-title">Seats</h2>`,
				`data-sale="false"`,
				`class="wrap event"`,
			},
			notWant: []string{`id="basket"`, `id="presale"`, `Hold these seats`},
		},
		{
			name: "not on sale without a message",
			edit: func(p *EventPage) { p.OnSale = false },
			want: []string{`<p class="notice">Tickets for this event are not on sale right now.</p>`},
		},
		{
			name:    "zones only",
			edit:    func(p *EventPage) { p.Sections = nil },
			want:    []string{`<h2 id="zones-title">Tickets</h2>`, `<p class="hint">You can choose up to 6 tickets in one order.</p>`},
			notWant: []string{`<svg viewBox="0 0`, `id="basket"`, `class="wrap event has-basket"`},
		},
		{
			name: "no limit",
			edit: func(p *EventPage) { p.MaxPerOrder = 0 },
			want: []string{`Choose seats on the map.`, `data-max="0"`, `max="120" value="1"`},
		},
		{
			name:    "seats only",
			edit:    func(p *EventPage) { p.Zones = nil },
			notWant: []string{`zones-title`},
		},
		{
			name: "ids in addresses are escaped",
			edit: func(p *EventPage) { p.ID = "a b/c" },
			want: []string{`data-stream-url="/api/events/a%20b%2Fc/availability/stream"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := eventPage()
			tt.edit(&p)
			checkContains(t, renderEvent(t, p), tt.want, tt.notWant)
		})
	}
}

func TestHoldPage(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*HoldPage)
		want    []string
		notWant []string
	}{
		{
			name: "held",
			edit: func(*HoldPage) {},
			want: []string{
				`<h1>Your seats are held for you</h1>`,
				`data-hold="h_42"`, `data-remaining-ms="599500"`, `data-expired="false"`,
				`data-orders-url="/api/orders"`, `data-release-url="/api/holds/h_42"`,
				`<p id="clock" class="clock" role="timer" aria-labelledby="timer-label">10:00</p>`,
				`<p id="announce" class="sr" aria-live="polite" aria-atomic="true"></p>`,
				`<li><span>Stalls, Row C seat 5</span><span class="price">€45</span></li>`,
				`<span>Total, 2 tickets</span> <strong>€90</strong>`,
				`<label for="promo">Promo code <span class="optional">(optional)</span></label>`,
				`<form id="pay" class="pay" hidden>`,
				`Pay</button>`, `Release these seats</button>`,
				`JavaScript is needed to pay`,
				`<div id="gone" hidden>`,
			},
		},
		{
			name: "expired by time",
			edit: func(p *HoldPage) { p.ExpiresAt = p.Now },
			want: []string{
				`<h1>Your seats have been released</h1>`,
				`data-expired="true"`, `data-remaining-ms="0"`,
				`<div id="held" hidden>`,
				`<div id="gone">`,
				`your seats have been released for other fans`,
				`<a class="button" href="/events/ev1">Back to the seat map</a>`,
			},
			notWant: []string{`id="pay"`, `id="release"`, "JavaScript is needed"},
		},
		{
			name: "expired by flag",
			edit: func(p *HoldPage) { p.Expired = true },
			want: []string{`data-expired="true"`, `00:00`},
		},
		{
			name: "countdown rounds up",
			edit: func(p *HoldPage) { p.ExpiresAt = p.Now.Add(61*time.Second + time.Millisecond) },
			want: []string{`>01:02</p>`, `data-remaining-ms="61001"`},
		},
		{
			name: "one ticket",
			edit: func(p *HoldPage) { p.Items, p.Total = p.Items[:1], eur(4500) },
			want: []string{`Total, 1 ticket`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := holdPage()
			tt.edit(&p)
			checkContains(t, renderHold(t, p), tt.want, tt.notWant)
		})
	}
}

func TestOrderPage(t *testing.T) {
	tests := []struct {
		status, last string
		edit         func(*OrderPage)
		want         []string
		notWant      []string
	}{
		{
			status: "pending",
			want: []string{
				`<h1>Pay for your tickets</h1>`,
				`<a class="button wide" href="https://pay.example/checkout/cs_1">Pay €81</a>`,
				`Your seats are held for`, `>08:00</p>`, `data-remaining-ms="480000"`,
				`<li><span>Discount (SUMMER10)</span><span class="price">−€9</span></li>`,
				`<li><span>Subtotal</span><span class="price">€90</span></li>`,
				`<span>Total</span> <strong>€81</strong>`,
			},
			notWant: []string{`id="retry"`, `class="tickets"`, `Confirming`},
		},
		{
			status: "pending", last: "declined",
			want: []string{
				`<h1>Your card was declined</h1>`,
				`Your card was declined. Try another card`,
				`<button id="retry" class="button wide" type="button" hidden>Try another card</button>`,
				`data-retry-url="/api/orders/o_7/payments"`,
				`JavaScript is needed to pay`,
			},
			notWant: []string{`pay.example`},
		},
		{
			status: "pending", last: "processing",
			want: []string{
				`<h1>Confirming your payment…</h1>`,
				`<p id="lead" class="lead working" role="status">`,
				`data-last-payment="processing"`,
				`data-status-url="/api/orders/o_7"`,
			},
			notWant: []string{`id="retry"`, `id="clock"`, `Pay €81`},
		},
		{
			status: "pending", edit: func(p *OrderPage) { p.PayURL = "" },
			want: []string{`<button id="retry" class="button wide" type="button" hidden>Pay €81</button>`},
		},
		{
			status: "pending", last: "declined", edit: func(p *OrderPage) { p.RetryURL = ""; p.PayURL = "https://pay.example/2" },
			want:    []string{`<a class="button wide" href="https://pay.example/2">Try another card</a>`},
			notWant: []string{`id="retry"`},
		},
		{
			status: "pending", edit: func(p *OrderPage) { p.ExpiresAt = time.Time{} },
			notWant: []string{`id="clock"`},
		},
		{
			status: "paid",
			want: []string{
				`<h1>Your tickets</h1>`,
				`You&#39;re going to Summer Tour 2027!`,
				`<h2>3 tickets</h2>`,
				`<img class="qr" src="` + qrPNG + `" alt="QR code for Stalls, Row C seat 5" width="240" height="240">`,
				`<p class="code">USH1.eyJ0IjoidDEifQ.c2ln</p>`,
				`<p class="badge">Checked in</p>`,
				`<li class="ticket void">`,
				`Void: this ticket is not valid`,
			},
			notWant: []string{`id="retry"`, `id="clock"`, `Pay €`},
		},
		{
			status: "paid", edit: func(p *OrderPage) { p.Tickets = nil },
			want: []string{`Your tickets are on their way`},
		},
		{
			status: "failed",
			want: []string{
				`<h1>Your payment came too late</h1>`,
				`Your payment arrived after your seats were released and they were sold meanwhile; your money has been refunded.`,
				`<a class="button" href="/events/ev1">Back to the event</a>`,
			},
			notWant: []string{`id="clock"`, `class="tickets"`},
		},
		{
			status: "expired",
			want:   []string{`<h1>Your order has expired</h1>`, `your seats were released`, `Back to the event</a>`},
		},
		{
			status: "cancelled",
			want:   []string{`<h1>Your order was cancelled</h1>`, `Back to the event</a>`},
		},
		{
			status: "mystery",
			want:   []string{`<h1>Your order</h1>`, `reload this page`},
		},
		{
			status: "pending", edit: func(p *OrderPage) { p.Discount = Money{} },
			notWant: []string{`Discount`, `Subtotal`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.status+"/"+tt.last, func(t *testing.T) {
			p := orderPage(tt.status, tt.last)
			if tt.edit != nil {
				tt.edit(&p)
			}
			checkContains(t, renderOrder(t, p), tt.want, tt.notWant)
		})
	}
}

func TestQRURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{qrPNG, qrPNG},
		{"data:image/png;base64,", ""},
		{"data:image/png;base64,not base64!", ""},
		{"data:image/svg+xml;base64,PHN2Zz4=", ""},
		{"data:text/html;base64,PHNjcmlwdD4=", ""},
		{"javascript:alert(1)", ""},
		{"https://example.com/qr.png", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := string(qrURL(tt.in)); got != tt.want {
				t.Errorf("qrURL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestErrorPage(t *testing.T) {
	tests := []struct {
		status         int
		title, message string
		want           []string
	}{
		{404, "", "", []string{"Error 404", "<h1>Page not found</h1>", `href="/">See all events`}},
		{410, "", "", []string{"<h1>This is no longer here</h1>"}},
		{502, "", "", []string{"<h1>Something went wrong</h1>"}},
		{200, "", "", []string{"Error 500"}},
		{503, "Back soon", "Moving things.", []string{"<h1>Back soon</h1>", "<p>Moving things.</p>"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status, tt.title), func(t *testing.T) {
			checkContains(t, renderError(t, tt.status, tt.title, tt.message), tt.want, []string{"<script"})
		})
	}
}

func TestClockText(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "00:00"},
		{time.Millisecond, "00:01"},
		{time.Second, "00:01"},
		{59*time.Second + time.Millisecond, "01:00"},
		{10 * time.Minute, "10:00"},
		{125 * time.Minute, "125:00"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := clockText(tt.d); got != tt.want {
				t.Errorf("clockText(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

type failingWriter struct{}

var errWrite = errors.New("connection closed")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestRenderReportsWriteErrors(t *testing.T) {
	for name, err := range map[string]error{
		"list":  RenderEventList(failingWriter{}, eventList()),
		"event": RenderEvent(failingWriter{}, eventPage()),
		"hold":  RenderHold(failingWriter{}, holdPage()),
		"order": RenderOrder(failingWriter{}, orderPage("paid", "")),
		"error": RenderError(failingWriter{}, 404, "", ""),
	} {
		if !errors.Is(err, errWrite) {
			t.Errorf("%s: error = %v, want %v", name, err, errWrite)
		}
	}
}

func BenchmarkRenderEvent(b *testing.B) {
	var buf bytes.Buffer
	p := eventPage()
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := RenderEvent(&buf, p); err != nil {
			b.Fatal(err)
		}
	}
}
