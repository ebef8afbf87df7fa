// Package pages renders the fans' pages of the booking backend: the event
// list, an event's seat map, a hold with its countdown, an order with its
// tickets, and an error page.
//
// Every page is self-contained and mobile-first: one inline style and, where
// the page needs one, one inline script, with no request for anything else.
// The style and the script are the same bytes on every page and for every
// fan (the script reads what varies from data-* attributes), so CSP can allow
// them by hash and forbid everything else. Send CSP() as the
// Content-Security-Policy header with every page of this package.
//
// The event list works without JavaScript. The other pages show what they
// are about without it and say that JavaScript is needed to pick seats and
// to pay: the script talks to the JSON API of the booking backend.
//
// The templates are parsed once, when the package is loaded; rendering only
// executes them, into a buffer, so a failure never sends half a page.
package pages

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/usherhq/usher/internal/inlinepage"
)

//go:embed assets
var assets embed.FS

var pages = inlinepage.MustParse(assets, inlinepage.Spec{
	Name: "pages", Style: "assets/booking.css", Script: "assets/booking.js",
	Templates: []string{"assets/*.html"}, FormAction: "'self'",
})

// CSP is the Content-Security-Policy header value to send with every page of
// this package. It allows the pages' own inline script and style by their
// SHA-256 hashes and nothing else: requests go only to the page's own origin
// (connect-src 'self', for the JSON API and the availability stream),
// images only as data: URIs (the tickets' QR codes), forms only to the same
// origin (the event search), and it forbids <base> and framing.
func CSP() string { return pages.CSP }

// EventCard is one event in the event list.
type EventCard struct {
	// ID is the event's id; the card does not show it.
	ID string
	// Name and Venue are shown as they are.
	Name, Venue string
	// StartsAt is shown in its own location, so pass it in the venue's
	// time zone: "Sat 14 Jun 2027, 20:00".
	StartsAt time.Time
	// From is the lowest price, shown as "From €40"; a zero amount hides it.
	From Money
	// URL is the event page's address.
	URL string
	// OnSale and SoldOut choose the card's badge: "Sold out" wins over "On
	// sale"; neither shows "Not on sale".
	OnSale, SoldOut bool
}

// EventList is the landing page and the search results.
type EventList struct {
	// Title is the page's heading; empty means "Events".
	Title string
	// Query, Venue, From and To are the search form's values, shown back in
	// it. The form sends them as the query parameters q, venue, from and to;
	// From and To are dates, "2027-06-14".
	Query, Venue, From, To string
	// Events are the cards, in the order given.
	Events []EventCard
	// SearchURL is the form's action (it sends a GET); empty means "/".
	SearchURL string
}

// SeatView is one seat on the map.
type SeatView struct {
	// ID is the seat's id in the API (holds and the availability stream).
	ID string
	// Row and Number name the seat, "Row C seat 12". When either is empty,
	// Label names it instead (e.g. "Wheelchair space 3"), then ID.
	Row, Number, Label string
	// X and Y place the seat's centre, in any unit, Y growing downwards.
	// The map of a section is scaled to its seats: the closest two seats
	// set the spacing.
	X, Y float64
	// State is "available", "held" or "sold"; anything else is shown as
	// sold.
	State string
	// Price is the seat's price.
	Price Money
	// TicketType is the kind of ticket, read out with the seat when not
	// empty (e.g. "Restricted view").
	TicketType string
}

// SectionView is a part of the venue with assigned seats; each section is
// drawn as its own map under its name.
type SectionView struct {
	ID, Name string
	Seats    []SeatView
}

// ZoneView is a general-admission area with a capacity.
type ZoneView struct {
	// ID is the zone's id in the API.
	ID, Name string
	// Available is how many places can be held now, out of Capacity.
	Available, Capacity int
	// Price is the price of one place.
	Price Money
}

// EventPage is an event with its seat map and zones.
type EventPage struct {
	ID, Name, Venue string
	// Description is plain text; blank lines separate paragraphs.
	Description string
	// StartsAt is shown in its own location (see EventCard).
	StartsAt time.Time
	// OnSale says whether seats and zones can be held now. When false the
	// map and the zones are shown, without a way to hold them, and Message
	// says why, e.g. "Sales open on Friday at 10:00".
	OnSale  bool
	Message string
	// Sections and Zones are what can be bought; either may be empty.
	Sections []SectionView
	Zones    []ZoneView
	// MaxPerOrder is the most places one hold may take; 0 means no limit.
	MaxPerOrder int
	// HoldsURL is where the page posts a hold, e.g. "/api/holds".
	HoldsURL string
	// StreamURL is the availability stream (Server-Sent Events), e.g.
	// "/api/events/{id}/availability/stream"; a "{id}" in it is replaced
	// by the event's ID. Empty means no live updates.
	StreamURL string
	// HoldPageURL is where the page goes once it holds something, with
	// "{hold}" where the hold's id goes, e.g. "/events/{id}/holds/{hold}";
	// a "{id}" in it is replaced by the event's ID.
	HoldPageURL string
}

// ItemView is one line of a hold or an order.
type ItemView struct {
	Label string
	Price Money
}

// HoldPage is a fan's hold: what is held, until when, and the way to pay.
type HoldPage struct {
	EventID, EventName, HoldID string
	Items                      []ItemView
	Total                      Money
	// ExpiresAt and Now are the hold's expiry and the server's time when
	// rendering (zero means time.Now()): the countdown runs from their
	// difference on the phone's monotonic clock, never from its wall clock.
	ExpiresAt, Now time.Time
	// OrdersURL is where the page posts the order, e.g. "/api/orders".
	OrdersURL string
	// ReleaseURL is what the page deletes to release the hold, e.g.
	// "/api/holds/{hold}"; a "{hold}" in it is replaced by HoldID.
	ReleaseURL string
	// EventURL is the event page, to go back to the seat map.
	EventURL string
	// Expired says the hold is over; so does an ExpiresAt not after Now.
	Expired bool
}

// TicketView is one ticket of a paid order.
type TicketView struct {
	ID, Label string
	// Code is the ticket's code as text, shown under the QR code.
	Code string
	// QR is the QR code as a data: URI of a PNG
	// ("data:image/png;base64,..."); anything else is not shown.
	QR string
	// Void tickets are shown as not valid, without their QR code.
	Void bool
	// CheckedIn tickets are marked as such.
	CheckedIn bool
}

// OrderPage is an order: where it stands, what to do next, and its tickets
// once paid.
type OrderPage struct {
	OrderID, EventName string
	// Status is "pending", "paid", "failed", "expired" or "cancelled".
	Status string
	Items  []ItemView
	// Subtotal, less Discount (a positive amount, from PromoCode), is Total.
	// A zero Discount hides the discount line.
	Subtotal, Discount, Total Money
	PromoCode                 string
	// PayURL is the checkout address of the open payment attempt, if any:
	// a pending order with one shows a "Pay" link to it.
	PayURL string
	// RetryURL starts another payment attempt, e.g.
	// "/api/orders/{id}/payments"; a "{id}" in it is replaced by OrderID.
	RetryURL string
	// LastPayment is "", "declined" or "processing": the fan came back from
	// the payment provider and its answer is not in yet, so the page polls
	// StatusURL (every 1.5 s, for at most 2 minutes) and reloads itself when
	// the order's status changes.
	LastPayment string
	// StatusURL is the order in the API, e.g. "/api/orders/{id}"; a "{id}"
	// in it is replaced by OrderID.
	StatusURL string
	// Tickets are shown when the order is paid.
	Tickets  []TicketView
	EventURL string
	// Now and ExpiresAt time the payment of a pending order, as on the
	// hold page; a zero ExpiresAt shows no countdown. When the countdown
	// ends, the page reloads itself to show what became of the order.
	Now, ExpiresAt time.Time
}

// RenderEventList writes the landing page or a list of search results. It
// writes nothing if the page cannot be rendered.
func RenderEventList(w io.Writer, l EventList) error {
	return render(w, "list.html", newListView(l))
}

// RenderEvent writes an event's page with its seat map. It writes nothing
// if the page cannot be rendered.
func RenderEvent(w io.Writer, p EventPage) error {
	return render(w, "event.html", newEventView(p))
}

// RenderHold writes a hold's page. It writes nothing if the page cannot be
// rendered.
func RenderHold(w io.Writer, p HoldPage) error {
	return render(w, "hold.html", newHoldView(p))
}

// RenderOrder writes an order's page. It writes nothing if the page cannot
// be rendered.
func RenderOrder(w io.Writer, p OrderPage) error {
	return render(w, "order.html", newOrderView(p))
}

// RenderError writes an error page for an HTTP status: 404, 410, 500, ...
// (values outside 400-599 are shown as 500). An empty title or message
// means a plain one for the status. It writes nothing if the page cannot be
// rendered.
func RenderError(w io.Writer, status int, title, message string) error {
	return render(w, "error.html", newErrorView(status, title, message))
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a template into a buffer first, so that a failure never
// leaves half a page on the wire, and the page goes out in one write.
func render(w io.Writer, name string, data any) error {
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer buffers.Put(buf)
	if err := pages.Template.ExecuteTemplate(buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// fill replaces a "{key}" in a URL pattern with the escaped value.
func fill(pattern, key, value string) string {
	return strings.ReplaceAll(pattern, "{"+key+"}", url.PathEscape(value))
}

// dateText is a start time in words, in the time's own location.
func dateText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("Mon 2 Jan 2006, 15:04")
}

// dateAttr is a start time for a <time datetime>.
func dateAttr(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// paragraphs splits plain text into paragraphs at blank lines.
func paragraphs(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	var out []string
	for _, p := range strings.Split(text, "\n\n") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// plural is n with its noun: "1 seat", "2 seats".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
