package pages

import (
	"encoding/base64"
	"html/template"
	"strconv"
	"strings"
	"time"
)

// The views below are the pages as the templates use them: every figure
// already in words, since the templates have no functions of their own.

type listView struct {
	Title                  string
	Query, Venue, From, To string
	SearchURL              string
	// MoreOpen opens the venue and date fields when one of them is set.
	MoreOpen  bool
	Filtered  bool
	CountText string
	Events    []cardView
}

type cardView struct {
	Name, Venue, URL string
	When, DateTime   string
	From             string
	Badge, BadgeKind string
}

type eventView struct {
	ID, Name, Venue string
	When, DateTime  string
	Description     []string
	OnSale          bool
	Message         string
	Sections        []sectionMap
	Zones           []zoneView
	Max             int
	LimitText       string
	Currency        string
	HoldsURL        string
	StreamURL       string
	HoldPageURL     string
	ZoneHeading     string
	SelectionPrompt string
}

type zoneView struct {
	ID, Name  string
	Index     int
	Price     string
	Cents     int64
	Available int
	Left      string
	// Max is the most the stepper allows: what is left, within the
	// per-order limit.
	Max int
}

type itemView struct{ Label, Price string }

type holdView struct {
	EventName, HoldID     string
	Items                 []itemView
	Total                 string
	Count                 string
	RemainingMS           int64
	Clock                 string
	Expired               bool
	OrdersURL, ReleaseURL string
	EventURL              string
}

type orderView struct {
	OrderID, EventName  string
	Status, LastPayment string
	Heading, Lead       string
	Items               []itemView
	Subtotal, Total     string
	Discount            string
	PromoCode           string
	PayURL, RetryURL    string
	StatusURL, EventURL string
	// What the page offers: exactly one of Pay, Retry, Declined and
	// Processing for a pending order; none otherwise.
	Pay, Retry, Declined, Processing bool
	Paid                             bool
	Closed                           bool
	Tickets                          []ticketView
	RemainingMS                      int64
	Clock                            string
}

type ticketView struct {
	Label, Code string
	QR          template.URL
	QRAlt       string
	Void        bool
	CheckedIn   bool
}

type errorView struct {
	Status         int
	Title, Message string
}

func newListView(l EventList) listView {
	v := listView{
		Title: l.Title, Query: l.Query, Venue: l.Venue, From: l.From, To: l.To,
		SearchURL: l.SearchURL,
		MoreOpen:  l.Venue != "" || l.From != "" || l.To != "",
	}
	if v.Title == "" {
		v.Title = "Events"
	}
	if v.SearchURL == "" {
		v.SearchURL = "/"
	}
	v.Filtered = v.MoreOpen || l.Query != ""
	for _, e := range l.Events {
		c := cardView{
			Name: e.Name, Venue: e.Venue, URL: e.URL,
			When: dateText(e.StartsAt), DateTime: dateAttr(e.StartsAt),
		}
		if e.From.Cents > 0 {
			c.From = e.From.String()
		}
		switch {
		case e.SoldOut:
			c.Badge, c.BadgeKind = "Sold out", "off"
		case e.OnSale:
			c.Badge, c.BadgeKind = "On sale", "on"
		default:
			c.Badge, c.BadgeKind = "Not on sale", "off"
		}
		v.Events = append(v.Events, c)
	}
	switch n := len(l.Events); {
	case n == 0 && v.Filtered:
		v.CountText = "No events match your search."
	case n == 0:
		v.CountText = "There are no events to show right now."
	case v.Filtered:
		v.CountText = plural(n, "event matches", "events match") + " your search."
	}
	return v
}

func newEventView(p EventPage) eventView {
	v := eventView{
		ID: p.ID, Name: p.Name, Venue: p.Venue,
		When: dateText(p.StartsAt), DateTime: dateAttr(p.StartsAt),
		Description: paragraphs(p.Description),
		OnSale:      p.OnSale,
		Message:     p.Message,
		Max:         max(p.MaxPerOrder, 0),
		HoldsURL:    p.HoldsURL,
		StreamURL:   fill(p.StreamURL, "id", p.ID),
		HoldPageURL: fill(p.HoldPageURL, "id", p.ID),
	}
	if !p.OnSale && v.Message == "" {
		v.Message = "Tickets for this event are not on sale right now."
	}
	for _, s := range p.Sections {
		if len(s.Seats) == 0 {
			continue
		}
		v.Sections = append(v.Sections, newSectionMap(s))
		if v.Currency == "" {
			v.Currency = s.Seats[0].Price.Currency
		}
	}
	for i, z := range p.Zones {
		left := max(z.Available, 0)
		zv := zoneView{
			ID: z.ID, Name: z.Name, Index: i,
			Price: z.Price.String(), Cents: z.Price.Cents,
			Available: left, Max: left,
		}
		if v.Max > 0 {
			zv.Max = min(zv.Max, v.Max)
		}
		zv.Left = "Sold out"
		if left > 0 {
			zv.Left = strconv.Itoa(left) + " left"
		}
		v.Zones = append(v.Zones, zv)
		if v.Currency == "" {
			v.Currency = z.Price.Currency
		}
	}
	v.ZoneHeading = "Tickets"
	if len(v.Sections) > 0 {
		v.ZoneHeading = "Standing and other areas"
	}
	v.SelectionPrompt = "Choose seats on the map."
	if v.Max > 0 {
		v.LimitText = "You can choose up to " + plural(v.Max, "ticket", "tickets") + " in one order."
		v.SelectionPrompt = "Choose up to " + plural(v.Max, "seat", "seats") + " on the map."
	}
	return v
}

func items(in []ItemView) []itemView {
	out := make([]itemView, len(in))
	for i, it := range in {
		out[i] = itemView{Label: it.Label, Price: it.Price.String()}
	}
	return out
}

// remaining is the time left from now until expires, in milliseconds, and
// as the clock first shows it.
func remaining(now, expires time.Time) (ms int64, clock string) {
	if expires.IsZero() {
		return 0, ""
	}
	if now.IsZero() {
		now = time.Now()
	}
	left := max(expires.Sub(now), 0)
	return left.Milliseconds(), clockText(left)
}

// clockText is a countdown as mm:ss, rounded up to the second, so that
// 00:00 means the time is up. The script writes the same.
func clockText(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	mm, ss := strconv.FormatInt(s/60, 10), strconv.FormatInt(s%60, 10)
	if len(mm) < 2 {
		mm = "0" + mm
	}
	if len(ss) < 2 {
		ss = "0" + ss
	}
	return mm + ":" + ss
}

func newHoldView(p HoldPage) holdView {
	v := holdView{
		EventName: p.EventName, HoldID: p.HoldID,
		Items: items(p.Items), Total: p.Total.String(),
		Count:      plural(len(p.Items), "ticket", "tickets"),
		OrdersURL:  p.OrdersURL,
		ReleaseURL: fill(p.ReleaseURL, "hold", p.HoldID),
		EventURL:   p.EventURL,
	}
	v.RemainingMS, v.Clock = remaining(p.Now, p.ExpiresAt)
	v.Expired = p.Expired || v.RemainingMS <= 0
	if v.Expired {
		v.RemainingMS, v.Clock = 0, "00:00"
	}
	return v
}

func newOrderView(p OrderPage) orderView {
	v := orderView{
		OrderID: p.OrderID, EventName: p.EventName,
		Status: p.Status, LastPayment: p.LastPayment,
		Items: items(p.Items), Subtotal: p.Subtotal.String(), Total: p.Total.String(),
		PromoCode: p.PromoCode,
		PayURL:    p.PayURL,
		RetryURL:  fill(p.RetryURL, "id", p.OrderID),
		StatusURL: fill(p.StatusURL, "id", p.OrderID),
		EventURL:  p.EventURL,
	}
	if d := p.Discount.Cents; d != 0 {
		v.Discount = "−" + Money{Cents: max(d, -d), Currency: p.Discount.Currency}.String()
	}
	switch p.Status {
	case "pending":
		v.orderPending(p)
	case "paid":
		v.Paid = true
		v.Heading = "Your tickets"
		v.Lead = "You're going to " + p.EventName + "! Show each ticket's QR code at the entrance."
		if len(p.Tickets) == 0 {
			v.Lead = "Your payment is confirmed. Your tickets are on their way: reload this page in a moment."
		}
		v.Tickets = tickets(p.Tickets)
	case "failed":
		v.Closed = true
		v.Heading = "Your payment came too late"
		v.Lead = "Your payment arrived after your seats were released and they were sold meanwhile; your money has been refunded."
	case "expired":
		v.Closed = true
		v.Heading = "Your order has expired"
		v.Lead = "The time to pay ran out, so your seats were released. You can choose seats again."
	case "cancelled":
		v.Closed = true
		v.Heading = "Your order was cancelled"
		v.Lead = "This order was cancelled and its seats were released."
	default:
		v.Closed = true
		v.Heading = "Your order"
		v.Lead = "We cannot show where this order stands right now. Please reload this page in a moment."
	}
	return v
}

// orderPending chooses what a pending order offers: the last payment's
// outcome decides, then an open checkout, then a new attempt.
func (v *orderView) orderPending(p OrderPage) {
	switch {
	case p.LastPayment == "processing":
		v.Processing = true
		v.Heading = "Confirming your payment…"
		v.Lead = "This usually takes a few seconds. Keep this page open: it shows your tickets as soon as your payment is confirmed."
		return
	case p.LastPayment == "declined":
		v.Declined = true
		v.Heading = "Your card was declined"
		v.Lead = "Your card was declined. Try another card: your seats are still held for you."
	case p.PayURL != "":
		v.Pay = true
		v.Heading = "Pay for your tickets"
		v.Lead = "Your order is ready. Pay to get your tickets."
	default:
		v.Retry = true
		v.Heading = "Pay for your tickets"
		v.Lead = "Your order is ready. Pay to get your tickets."
	}
	v.RemainingMS, v.Clock = remaining(p.Now, p.ExpiresAt)
}

func tickets(in []TicketView) []ticketView {
	out := make([]ticketView, len(in))
	for i, t := range in {
		out[i] = ticketView{
			Label: t.Label, Code: t.Code,
			QR:        qrURL(t.QR),
			QRAlt:     "QR code for " + t.Label,
			Void:      t.Void,
			CheckedIn: t.CheckedIn,
		}
	}
	return out
}

const pngPrefix = "data:image/png;base64,"

// qrURL is a ticket's QR code as a URL the template may put in an img src,
// or "" when it is not a base64 PNG data: URI. The template would refuse a
// data: URI of its own accord; this lets through exactly the one kind the
// tickets use, and nothing a script could hide in.
func qrURL(s string) template.URL {
	data, ok := strings.CutPrefix(s, pngPrefix)
	if !ok || data == "" {
		return ""
	}
	if _, err := base64.StdEncoding.DecodeString(data); err != nil {
		return ""
	}
	return template.URL(s)
}

func newErrorView(status int, title, message string) errorView {
	if status < 400 || status > 599 {
		status = 500
	}
	t, m := errorText(status)
	if title == "" {
		title = t
	}
	if message == "" {
		message = m
	}
	return errorView{Status: status, Title: title, Message: message}
}

// errorText is the plain title and message for a status code.
func errorText(status int) (title, message string) {
	switch status {
	case 400:
		return "This request cannot be served", "Something in the address or the form was not right."
	case 401, 403:
		return "You cannot see this page", "You do not have access to this page. If you came through the waiting room, your turn may have ended."
	case 404:
		return "Page not found", "There is nothing at this address. The event may have been taken down."
	case 410:
		return "This is no longer here", "What you were looking for has expired or was removed."
	case 429:
		return "Too many requests", "Too many requests came from your connection. Please wait a moment."
	case 503:
		return "The site is busy", "Many people are trying to get in right now. Please try again in a moment."
	}
	if status >= 500 {
		return "Something went wrong", "Something went wrong on our side. Please try again in a moment."
	}
	return "This request cannot be served", "The site could not serve this request."
}
