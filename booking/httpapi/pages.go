package httpapi

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/booking/pages"
	"github.com/usherhq/usher/booking/ticket"
)

// render writes a page with its security headers; status 0 means 200.
func (a *API) render(w http.ResponseWriter, r *http.Request, status int, fn func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := fn(&buf); err != nil {
		a.log.Error("render page", "path", r.URL.Path, "err", err)
		http.Error(w, "something went wrong", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pages.CSP())
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (a *API) errorPage(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	a.render(w, r, status, func(b *bytes.Buffer) error { return pages.RenderError(b, status, title, msg) })
}

func money(cents int64, currency string) pages.Money {
	return pages.Money{Cents: cents, Currency: currency}
}

// landingPage lists the events; in the demo it is outside every room, so
// an announcement's crowd reads it cheaply.
func (a *API) landingPage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=10")
	a.eventList(w, r, "Tickets", "/")
}

func (a *API) listPage(w http.ResponseWriter, r *http.Request) {
	a.eventList(w, r, "Events on sale", "/events/")
}

func (a *API) eventList(w http.ResponseWriter, r *http.Request, title, action string) {
	f, err := filterOf(r)
	if err != nil {
		a.errorPage(w, r, http.StatusBadRequest, "That search did not work", err.Error())
		return
	}
	events, err := a.svc.Store().Events(r.Context(), f)
	if err != nil {
		a.errorPage(w, r, http.StatusServiceUnavailable, "Something went wrong", "Please try again in a moment.")
		return
	}
	q := r.URL.Query()
	l := pages.EventList{Title: title, Query: q.Get("q"), Venue: q.Get("venue"), From: q.Get("from"), To: q.Get("to"), SearchURL: action}
	now := a.svc.Now()
	for _, ev := range events {
		card := pages.EventCard{ID: ev.ID, Name: ev.Name, Venue: ev.Venue, StartsAt: ev.StartsAt, URL: "/events/" + ev.ID, OnSale: onSale(ev, now)}
		if st, err := a.structure(r.Context(), ev.ID); err == nil {
			if snap, err := a.svc.Availability(r.Context(), ev.ID); err == nil {
				card.From, card.SoldOut = lowest(st, snap, now), soldOut(snap)
			}
		}
		l.Events = append(l.Events, card)
	}
	a.render(w, r, 0, func(b *bytes.Buffer) error { return pages.RenderEventList(b, l) })
}

func onSale(ev booking.Event, now time.Time) bool {
	return ev.Status == booking.EventOnSale && (ev.OnSaleFrom.IsZero() || !now.Before(ev.OnSaleFrom)) && (ev.OnSaleUntil.IsZero() || now.Before(ev.OnSaleUntil))
}

func lowest(st *structure, snap booking.Snapshot, now time.Time) pages.Money {
	var best int64 = -1
	for _, p := range prices(st, snap, now) {
		if best < 0 || p.PriceCents < best {
			best = p.PriceCents
		}
	}
	return money(max(best, 0), st.event.Currency)
}

func soldOut(snap booking.Snapshot) bool {
	for _, s := range snap.Seats {
		if s == booking.PlaceAvailable {
			return false
		}
	}
	for _, z := range snap.Zones {
		if z.Available > 0 {
			return false
		}
	}
	return len(snap.Seats)+len(snap.Zones) > 0
}

// passPage checks a page request's pass, answering a page that says how to
// get one when it has none.
func (a *API) passPage(w http.ResponseWriter, r *http.Request, eventID string) (*structure, string, bool) {
	st, err := a.structure(r.Context(), eventID)
	if err != nil {
		a.errorPage(w, r, http.StatusNotFound, "No such event", "This event does not exist, or is no longer listed.")
		return nil, "", false
	}
	c, ok := a.pass(r, st.event.Room)
	if !ok {
		a.errorPage(w, r, http.StatusUnauthorized, "Your turn has ended", "Picking seats needs a pass from the waiting room, and yours has ended or is missing. Open the event again to queue for a new one.")
		return nil, "", false
	}
	return st, account(c), true
}

// eventPage is the seat map.
func (a *API) eventPage(w http.ResponseWriter, r *http.Request) {
	st, _, ok := a.passPage(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	snap, err := a.svc.Availability(r.Context(), st.event.ID)
	if err != nil {
		a.errorPage(w, r, http.StatusServiceUnavailable, "Something went wrong", "Please try again in a moment.")
		return
	}
	ev, now := st.event, a.svc.Now()
	current := prices(st, snap, now)
	p := pages.EventPage{
		ID: ev.ID, Name: ev.Name, Venue: ev.Venue, Description: ev.Description, StartsAt: ev.StartsAt,
		OnSale: onSale(ev, now), MaxPerOrder: ev.MaxPerOrder,
		HoldsURL: "/api/holds", StreamURL: "/api/events/" + ev.ID + "/availability/stream",
		HoldPageURL: "/events/" + ev.ID + "/holds/{hold}",
	}
	if !p.OnSale {
		p.Message = "Tickets for this event are not on sale right now."
		if ev.Status == booking.EventOnSale && now.Before(ev.OnSaleFrom) {
			p.Message = "Sales open on " + ev.OnSaleFrom.Format("Mon 2 Jan 2006 at 15:04 MST") + "."
		}
	}
	bySection := map[string][]pages.SeatView{}
	for _, s := range st.seats {
		tt := st.ticketTypes[s.TicketTypeID]
		bySection[s.SectionID] = append(bySection[s.SectionID], pages.SeatView{
			ID: s.ID, Row: s.Row, Number: s.Number, Label: "Row " + s.Row + " seat " + s.Number, X: s.X, Y: s.Y,
			State: string(snap.Seats[s.ID]), Price: money(current[s.TicketTypeID].PriceCents, ev.Currency), TicketType: tt.Name,
		})
	}
	for _, sec := range st.sections {
		p.Sections = append(p.Sections, pages.SectionView{ID: sec.ID, Name: sec.Name, Seats: bySection[sec.ID]})
	}
	for _, z := range st.zones {
		zc := snap.Zones[z.ID]
		p.Zones = append(p.Zones, pages.ZoneView{ID: z.ID, Name: z.Name, Available: zc.Available, Capacity: zc.Capacity, Price: money(current[z.TicketTypeID].PriceCents, ev.Currency)})
	}
	a.render(w, r, 0, func(b *bytes.Buffer) error { return pages.RenderEvent(b, p) })
}

// holdPage shows a hold with its countdown.
func (a *API) holdPage(w http.ResponseWriter, r *http.Request) {
	st, acct, ok := a.passPage(w, r, r.PathValue("id"))
	if !ok {
		return
	}
	h, err := a.svc.Store().GetHold(r.Context(), r.PathValue("hold"))
	if err != nil || h.Account != acct || h.EventID != st.event.ID {
		a.errorPage(w, r, http.StatusNotFound, "No such hold", "This hold does not exist or is not yours.")
		return
	}
	now := a.svc.Now()
	p := pages.HoldPage{
		EventID: st.event.ID, EventName: st.event.Name, HoldID: h.ID, Total: money(h.TotalCents, h.Currency),
		ExpiresAt: h.ExpiresAt, Now: now, OrdersURL: "/api/orders", ReleaseURL: "/api/holds/" + h.ID,
		EventURL: "/events/" + st.event.ID, Expired: !now.Before(h.ExpiresAt) || h.Released,
	}
	for _, it := range h.Items {
		p.Items = append(p.Items, pages.ItemView{Label: it.Label, Price: money(it.PriceCents, h.Currency)})
	}
	a.render(w, r, 0, func(b *bytes.Buffer) error { return pages.RenderHold(b, p) })
}

// orderPage shows an order and, once paid, its tickets. Its unguessable id
// is its key, so fans keep their tickets after their pass ends. Coming back
// from the provider (?payment=ref), the payment is reconciled first: the
// same guarded step as the webhook, whichever comes first.
func (a *API) orderPage(w http.ResponseWriter, r *http.Request) {
	ref := r.URL.Query().Get("payment")
	if ref != "" {
		if err := a.svc.Reconcile(r.Context(), ref); err != nil {
			a.log.Warn("reconcile on return failed", "payment", ref, "err", err)
		}
	}
	o, err := a.svc.Store().GetOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		a.errorPage(w, r, http.StatusNotFound, "No such order", "Check the link you followed.")
		return
	}
	ev, err := a.svc.Store().Event(r.Context(), o.EventID)
	if err != nil {
		a.errorPage(w, r, http.StatusServiceUnavailable, "Something went wrong", "Please try again in a moment.")
		return
	}
	p := pages.OrderPage{
		OrderID: o.ID, EventName: ev.Name, Status: string(o.Status),
		Subtotal: money(o.SubtotalCents, o.Currency), Discount: money(o.DiscountCents, o.Currency), Total: money(o.TotalCents, o.Currency),
		PromoCode: o.PromoCode, RetryURL: "/api/orders/" + o.ID + "/payments", StatusURL: "/api/orders/" + o.ID,
		EventURL: "/events/" + ev.ID, Now: a.svc.Now(), ExpiresAt: o.ExpiresAt,
	}
	for _, it := range o.Items {
		p.Items = append(p.Items, pages.ItemView{Label: it.Label, Price: money(it.PriceCents, o.Currency)})
	}
	if o.Status == booking.OrderPending {
		if last, ok := lastPayment(o); ok {
			switch last.Status {
			case booking.PaymentFailed:
				p.LastPayment = "declined"
			case booking.PaymentCreated:
				if ref != "" && ref == last.ProviderRef {
					// Back from the provider, and its answer is not in yet.
					p.LastPayment = "processing"
				} else if url, err := a.svc.CheckoutURL(r.Context(), o, last); err == nil {
					p.PayURL = url
				}
			}
		}
	}
	for _, t := range o.Tickets {
		code, err := a.svc.TicketCode(t)
		if err != nil {
			continue
		}
		tv := pages.TicketView{ID: t.ID, Label: t.Label, Code: code, Void: t.Void, CheckedIn: !t.CheckedInAt.IsZero()}
		if png, err := ticket.QR(code, 320); err == nil {
			tv.QR = "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
		}
		p.Tickets = append(p.Tickets, tv)
	}
	a.render(w, r, 0, func(b *bytes.Buffer) error { return pages.RenderOrder(b, p) })
}

func lastPayment(o booking.Order) (booking.Payment, bool) {
	var last booking.Payment
	for _, p := range o.Payments {
		if p.Attempt > last.Attempt {
			last = p
		}
	}
	return last, last.ID != ""
}
