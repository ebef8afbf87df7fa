package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/booking/ticket"
)

// eventJSON is an event in the catalogue.
type eventJSON struct {
	ID            string     `json:"id"`
	Name          string     `json:"name"`
	Venue         string     `json:"venue"`
	Description   string     `json:"description,omitempty"`
	StartsAt      time.Time  `json:"starts_at"`
	OnSaleFrom    *time.Time `json:"on_sale_from"`
	OnSaleUntil   *time.Time `json:"on_sale_until"`
	Status        string     `json:"status"`
	Room          string     `json:"room"`
	Currency      string     `json:"currency"`
	MaxPerOrder   int        `json:"max_per_order"`
	MaxPerAccount int        `json:"max_per_account"`
}

func toEventJSON(e booking.Event) eventJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	return eventJSON{
		ID: e.ID, Name: e.Name, Venue: e.Venue, Description: e.Description, StartsAt: e.StartsAt.UTC(),
		OnSaleFrom: opt(e.OnSaleFrom), OnSaleUntil: opt(e.OnSaleUntil), Status: string(e.Status), Room: e.Room,
		Currency: e.Currency, MaxPerOrder: e.MaxPerOrder, MaxPerAccount: e.MaxPerAccount,
	}
}

// catalogueTTL is how long the same catalogue answer is reused: an
// announcement's crowd reads it from memory, and caches may keep it as long.
const catalogueTTL = 10 * time.Second

// listEvents is the public catalogue: ?q= (name or venue), ?venue=, ?from=
// and ?to= (dates or RFC 3339 times). The answer carries an ETag and may be
// cached for a few seconds.
func (a *API) listEvents(w http.ResponseWriter, r *http.Request) {
	key := r.URL.RawQuery
	a.catMu.Lock()
	c, ok := a.catalogue[key]
	a.catMu.Unlock()
	if !ok || time.Since(c.at) > catalogueTTL/2 {
		f, err := filterOf(r)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		events, err := a.svc.Store().Events(r.Context(), f)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		out := make([]eventJSON, 0, len(events))
		for _, e := range events {
			out = append(out, toEventJSON(e))
		}
		body, _ := json.Marshal(out)
		sum := sha256.Sum256(body)
		c = cachedBody{body: append(body, '\n'), etag: `"` + hex.EncodeToString(sum[:8]) + `"`, at: time.Now()}
		a.catMu.Lock()
		if len(a.catalogue) > 256 {
			clear(a.catalogue)
		}
		a.catalogue[key] = c
		a.catMu.Unlock()
	}
	w.Header().Set("ETag", c.etag)
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(catalogueTTL/time.Second)))
	w.Header().Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, c.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(c.body)
}

func filterOf(r *http.Request) (booking.EventFilter, error) {
	q := r.URL.Query()
	f := booking.EventFilter{Query: trimSpace(q.Get("q")), Venue: trimSpace(q.Get("venue"))}
	parse := func(name string, end bool) (time.Time, error) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, nil
		}
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return time.Time{}, fmt.Errorf("%s must be a date (2027-07-01) or an RFC 3339 time", name)
		}
		if end {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		return t, nil
	}
	var err error
	if f.From, err = parse("from", false); err != nil {
		return f, err
	}
	f.To, err = parse("to", true)
	return f, err
}

// seatJSON is a seat of the event's map.
type seatJSON struct {
	ID           string  `json:"id"`
	Row          string  `json:"row"`
	Number       string  `json:"number"`
	X            float64 `json:"x"`
	Y            float64 `json:"y"`
	TicketTypeID string  `json:"ticket_type_id"`
	State        string  `json:"state"`
}

type sectionJSON struct {
	ID    string     `json:"id"`
	Name  string     `json:"name"`
	Seats []seatJSON `json:"seats"`
}

type zoneJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Capacity     int    `json:"capacity"`
	Available    int    `json:"available"`
	TicketTypeID string `json:"ticket_type_id"`
}

type ticketTypeJSON struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	PriceCents int64      `json:"price_cents"`
	Tier       string     `json:"tier"`
	Tiers      []tierJSON `json:"tiers"`
}

type tierJSON struct {
	Name       string     `json:"name"`
	PriceCents int64      `json:"price_cents"`
	Until      *time.Time `json:"until,omitempty"`
	UntilSold  int        `json:"until_sold,omitempty"`
}

// prices are each ticket type's tier in force now, counting the tickets sold
// from the cached availability.
func prices(st *structure, snap booking.Snapshot, now time.Time) map[string]booking.PriceTier {
	sold := map[string]int{}
	for _, s := range st.seats {
		if snap.Seats[s.ID] == booking.PlaceSold {
			sold[s.TicketTypeID]++
		}
	}
	for _, z := range st.zones {
		sold[z.TicketTypeID] += snap.Zones[z.ID].Sold
	}
	out := map[string]booking.PriceTier{}
	for id, tt := range st.ticketTypes {
		out[id] = tt.Price(now, sold[id])
	}
	return out
}

// getEvent is an event with its seat map, zones and prices.
func (a *API) getEvent(w http.ResponseWriter, r *http.Request, _ admission.Claims, ev booking.Event) {
	st, err := a.structure(r.Context(), ev.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	snap, err := a.svc.Availability(r.Context(), ev.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := struct {
		eventJSON
		Sections    []sectionJSON    `json:"sections"`
		Zones       []zoneJSON       `json:"zones"`
		TicketTypes []ticketTypeJSON `json:"ticket_types"`
	}{eventJSON: toEventJSON(ev), Sections: []sectionJSON{}, Zones: []zoneJSON{}, TicketTypes: []ticketTypeJSON{}}
	bySection := map[string][]seatJSON{}
	for _, s := range st.seats {
		bySection[s.SectionID] = append(bySection[s.SectionID], seatJSON{ID: s.ID, Row: s.Row, Number: s.Number, X: s.X, Y: s.Y, TicketTypeID: s.TicketTypeID, State: string(snap.Seats[s.ID])})
	}
	for _, sec := range st.sections {
		out.Sections = append(out.Sections, sectionJSON{ID: sec.ID, Name: sec.Name, Seats: nonNil(bySection[sec.ID])})
	}
	for _, z := range st.zones {
		out.Zones = append(out.Zones, zoneJSON{ID: z.ID, Name: z.Name, Capacity: z.Capacity, Available: snap.Zones[z.ID].Available, TicketTypeID: z.TicketTypeID})
	}
	now := a.svc.Now()
	current := prices(st, snap, now)
	ids := make([]string, 0, len(st.ticketTypes))
	for id := range st.ticketTypes {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		tt := st.ticketTypes[id]
		tj := ticketTypeJSON{ID: tt.ID, Name: tt.Name, PriceCents: current[id].PriceCents, Tier: current[id].Name, Tiers: []tierJSON{}}
		for _, t := range tt.Tiers {
			tr := tierJSON{Name: t.Name, PriceCents: t.PriceCents, UntilSold: t.UntilSold}
			if !t.Until.IsZero() {
				u := t.Until.UTC()
				tr.Until = &u
			}
			tj.Tiers = append(tj.Tiers, tr)
		}
		out.TicketTypes = append(out.TicketTypes, tj)
	}
	writeJSON(w, http.StatusOK, out)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// availabilityJSON is the compact availability: a (available), h (held),
// s (sold) per seat, and counts per zone.
type availabilityJSON struct {
	EventID string                   `json:"event_id,omitempty"`
	Version int64                    `json:"version"`
	At      time.Time                `json:"at"`
	Seats   map[string]string        `json:"seats"`
	Zones   map[string]zoneCountJSON `json:"zones"`
}

type zoneCountJSON struct {
	Capacity  int `json:"capacity"`
	Available int `json:"available"`
	Held      int `json:"held"`
	Sold      int `json:"sold"`
}

func compact(seats map[string]booking.PlaceState, zones map[string]booking.ZoneCount) (map[string]string, map[string]zoneCountJSON) {
	s := make(map[string]string, len(seats))
	for id, st := range seats {
		s[id] = string(st)[:1]
	}
	z := make(map[string]zoneCountJSON, len(zones))
	for id, c := range zones {
		z[id] = zoneCountJSON{c.Capacity, c.Available, c.Held, c.Sold}
	}
	return s, z
}

func (a *API) getAvailability(w http.ResponseWriter, r *http.Request, _ admission.Claims, ev booking.Event) {
	snap, err := a.svc.Availability(r.Context(), ev.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	seats, zones := compact(snap.Seats, snap.Zones)
	writeJSON(w, http.StatusOK, availabilityJSON{EventID: ev.ID, Version: snap.Version, At: snap.At.UTC(), Seats: seats, Zones: zones})
}

// streamAvailability sends the availability, then only what changes, as
// Server-Sent Events.
func (a *API) streamAvailability(w http.ResponseWriter, r *http.Request, _ admission.Claims, ev booking.Event) {
	snap, changes, cancel, err := a.svc.WatchAvailability(r.Context(), ev.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	defer cancel()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	send := func(event string, v any) bool {
		b, err := json.Marshal(v)
		if err == nil {
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		}
		return err == nil && rc.Flush() == nil
	}
	seats, zones := compact(snap.Seats, snap.Zones)
	if !send("snapshot", availabilityJSON{EventID: ev.ID, Version: snap.Version, At: snap.At.UTC(), Seats: seats, Zones: zones}) {
		return
	}
	keepAlive := time.NewTicker(25 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case ch, ok := <-changes:
			if !ok {
				return // dropped as too slow: the page reconnects
			}
			seats, zones := compact(ch.Seats, ch.Zones)
			if !send("change", availabilityJSON{Version: ch.Version, At: a.svc.Now().UTC(), Seats: seats, Zones: zones}) {
				return
			}
		}
	}
}

// holdJSON is a hold as fans see it.
type holdJSON struct {
	HoldID     string     `json:"hold_id"`
	EventID    string     `json:"event_id"`
	ExpiresAt  time.Time  `json:"expires_at"`
	Released   bool       `json:"released,omitempty"`
	Items      []itemJSON `json:"items"`
	TotalCents int64      `json:"total_cents"`
	Currency   string     `json:"currency"`
}

type itemJSON struct {
	PlaceID      string `json:"place_id"`
	SeatID       string `json:"seat_id,omitempty"`
	ZoneID       string `json:"zone_id,omitempty"`
	Label        string `json:"label"`
	TicketTypeID string `json:"ticket_type_id"`
	PriceCents   int64  `json:"price_cents"`
}

func toItems(items []booking.Item) []itemJSON {
	out := make([]itemJSON, 0, len(items))
	for _, it := range items {
		out = append(out, itemJSON{it.PlaceID, it.SeatID, it.ZoneID, it.Label, it.TicketTypeID, it.PriceCents})
	}
	return out
}

func toHoldJSON(h booking.Hold) holdJSON {
	return holdJSON{HoldID: h.ID, EventID: h.EventID, ExpiresAt: h.ExpiresAt.UTC(), Released: h.Released, Items: toItems(h.Items), TotalCents: h.TotalCents, Currency: h.Currency}
}

// createHold holds seats or zone places, all or nothing.
func (a *API) createHold(w http.ResponseWriter, r *http.Request) {
	var in struct {
		EventID     string   `json:"event_id"`
		SeatIDs     []string `json:"seat_ids"`
		ZoneID      string   `json:"zone_id"`
		Quantity    int      `json:"quantity"`
		PresaleCode string   `json:"presale_code"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	switch {
	case in.EventID == "":
		writeError(w, http.StatusBadRequest, "event_id is required")
		return
	case (len(in.SeatIDs) == 0) == (in.ZoneID == ""):
		writeError(w, http.StatusBadRequest, "give seat_ids, or zone_id and quantity")
		return
	case in.ZoneID != "" && in.Quantity < 1:
		writeError(w, http.StatusBadRequest, "quantity must be at least 1")
		return
	}
	c, _, ok := a.passFor(w, r, in.EventID)
	if !ok {
		return
	}
	h, err := a.svc.Hold(r.Context(), account(c), booking.HoldInput{EventID: in.EventID, SeatIDs: in.SeatIDs, ZoneID: in.ZoneID, Quantity: in.Quantity, PresaleCode: trimSpace(in.PresaleCode)})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toHoldJSON(h))
}

// ownHold finds hold {id} and checks the request's pass is its account's.
func (a *API) ownHold(w http.ResponseWriter, r *http.Request) (booking.Hold, admission.Claims, bool) {
	h, err := a.svc.Store().GetHold(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return h, admission.Claims{}, false
	}
	c, _, ok := a.passFor(w, r, h.EventID)
	if !ok {
		return h, c, false
	}
	if h.Account != account(c) {
		writeError(w, http.StatusNotFound, "not found")
		return h, c, false
	}
	return h, c, true
}

func (a *API) getHold(w http.ResponseWriter, r *http.Request) {
	if h, _, ok := a.ownHold(w, r); ok {
		writeJSON(w, http.StatusOK, toHoldJSON(h))
	}
}

func (a *API) releaseHold(w http.ResponseWriter, r *http.Request) {
	h, c, ok := a.ownHold(w, r)
	if !ok {
		return
	}
	if err := a.svc.Release(r.Context(), account(c), h.ID); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// orderJSON is an order as fans see it.
type orderJSON struct {
	OrderID       string        `json:"order_id"`
	EventID       string        `json:"event_id"`
	Status        string        `json:"status"`
	Items         []itemJSON    `json:"items"`
	SubtotalCents int64         `json:"subtotal_cents"`
	DiscountCents int64         `json:"discount_cents"`
	TotalCents    int64         `json:"total_cents"`
	Currency      string        `json:"currency"`
	PromoCode     string        `json:"promo_code,omitempty"`
	ExpiresAt     time.Time     `json:"expires_at"`
	PaidAt        *time.Time    `json:"paid_at,omitempty"`
	Payment       *paymentJSON  `json:"payment,omitempty"`
	Payments      []paymentJSON `json:"payments"`
	Tickets       []ticketJSON  `json:"tickets"`
}

type paymentJSON struct {
	PaymentID   string `json:"payment_id"`
	Attempt     int    `json:"attempt"`
	Status      string `json:"status"`
	CheckoutURL string `json:"checkout_url,omitempty"`
}

type ticketJSON struct {
	TicketID    string     `json:"ticket_id"`
	OrderID     string     `json:"order_id,omitempty"`
	EventID     string     `json:"event_id"`
	Label       string     `json:"label"`
	Code        string     `json:"code"`
	QRURL       string     `json:"qr_url"`
	Void        bool       `json:"void"`
	CheckedInAt *time.Time `json:"checked_in_at,omitempty"`
}

func (a *API) toTicketJSON(t booking.Ticket) (ticketJSON, error) {
	code, err := a.svc.TicketCode(t)
	if err != nil {
		return ticketJSON{}, err
	}
	tj := ticketJSON{TicketID: t.ID, OrderID: t.OrderID, EventID: t.EventID, Label: t.Label, Code: code, QRURL: "/api/tickets/" + t.ID + "/qr.png", Void: t.Void}
	if !t.CheckedInAt.IsZero() {
		at := t.CheckedInAt.UTC()
		tj.CheckedInAt = &at
	}
	return tj, nil
}

func (a *API) toOrderJSON(o booking.Order) (orderJSON, error) {
	out := orderJSON{
		OrderID: o.ID, EventID: o.EventID, Status: string(o.Status), Items: toItems(o.Items),
		SubtotalCents: o.SubtotalCents, DiscountCents: o.DiscountCents, TotalCents: o.TotalCents,
		Currency: o.Currency, PromoCode: o.PromoCode, ExpiresAt: o.ExpiresAt.UTC(),
		Payments: []paymentJSON{}, Tickets: []ticketJSON{},
	}
	if !o.PaidAt.IsZero() {
		at := o.PaidAt.UTC()
		out.PaidAt = &at
	}
	for _, p := range o.Payments {
		out.Payments = append(out.Payments, paymentJSON{PaymentID: p.ID, Attempt: p.Attempt, Status: string(p.Status)})
	}
	for _, t := range o.Tickets {
		tj, err := a.toTicketJSON(t)
		if err != nil {
			return out, err
		}
		out.Tickets = append(out.Tickets, tj)
	}
	return out, nil
}

// createOrder turns a hold into a pending order and begins its payment. It
// needs an Idempotency-Key: the same key and body answer the same order.
func (a *API) createOrder(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key == "" || len(key) > 255 {
		writeError(w, http.StatusBadRequest, "an Idempotency-Key header of at most 255 characters is required")
		return
	}
	var in struct {
		HoldID    string `json:"hold_id"`
		PromoCode string `json:"promo_code"`
		Email     string `json:"email"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if in.HoldID == "" {
		writeError(w, http.StatusBadRequest, "hold_id is required")
		return
	}
	if in.Email = trimSpace(in.Email); in.Email != "" && (!strings.Contains(in.Email, "@") || len(in.Email) > 254 || strings.ContainsAny(in.Email, "\r\n<>")) {
		writeError(w, http.StatusBadRequest, "email is not an e-mail address")
		return
	}
	h, err := a.svc.Store().GetHold(r.Context(), in.HoldID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, _, ok := a.passFor(w, r, h.EventID)
	if !ok {
		return
	}
	co, err := a.svc.Checkout(r.Context(), account(c), booking.CheckoutInput{HoldID: in.HoldID, PromoCode: trimSpace(in.PromoCode), Email: in.Email, IdempotencyKey: key})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out, err := a.toOrderJSON(co.Order)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out.Payment = &paymentJSON{PaymentID: co.Payment.ID, Attempt: co.Payment.Attempt, Status: string(co.Payment.Status), CheckoutURL: co.CheckoutURL}
	if co.Replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	writeJSON(w, http.StatusCreated, out)
}

// ownOrder finds order {id} for the pass's account.
func (a *API) ownOrder(w http.ResponseWriter, r *http.Request) (booking.Order, admission.Claims, bool) {
	o, err := a.svc.Store().GetOrder(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return o, admission.Claims{}, false
	}
	c, _, ok := a.passFor(w, r, o.EventID)
	if !ok {
		return o, c, false
	}
	if o.Account != account(c) {
		writeError(w, http.StatusNotFound, "not found")
		return o, c, false
	}
	return o, c, true
}

func (a *API) getOrder(w http.ResponseWriter, r *http.Request) {
	o, _, ok := a.ownOrder(w, r)
	if !ok {
		return
	}
	out, err := a.toOrderJSON(o)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// retryPayment begins another attempt after a declined card.
func (a *API) retryPayment(w http.ResponseWriter, r *http.Request) {
	o, c, ok := a.ownOrder(w, r)
	if !ok {
		return
	}
	co, err := a.svc.Retry(r.Context(), account(c), o.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"payment": paymentJSON{PaymentID: co.Payment.ID, Attempt: co.Payment.Attempt, Status: string(co.Payment.Status), CheckoutURL: co.CheckoutURL}})
}

// ownTicket finds ticket {id} whose event's pass the request carries.
func (a *API) ownTicket(w http.ResponseWriter, r *http.Request) (booking.Ticket, bool) {
	t, err := a.svc.Store().GetTicket(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return t, false
	}
	_, _, ok := a.passFor(w, r, t.EventID)
	return t, ok
}

func (a *API) getTicket(w http.ResponseWriter, r *http.Request) {
	t, ok := a.ownTicket(w, r)
	if !ok {
		return
	}
	tj, err := a.toTicketJSON(t)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tj)
}

func (a *API) getTicketQR(w http.ResponseWriter, r *http.Request) {
	t, ok := a.ownTicket(w, r)
	if !ok {
		return
	}
	code, err := a.svc.TicketCode(t)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	png, err := ticket.QR(code, 384)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	_, _ = w.Write(png)
}

// checkIn admits a ticket once: for the door's scanners, with an operator
// token.
func (a *API) checkIn(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.operator(w, r, true); !ok {
		return
	}
	var in struct {
		Code string `json:"code"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.CheckIn(r.Context(), in.Code)
	switch {
	case errors.Is(err, booking.ErrBadTicket):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"result": "invalid", "error": "this code was not signed by us"})
	case errors.Is(err, booking.ErrNotFound):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"result": "unknown", "error": "no such ticket"})
	case errors.Is(err, booking.ErrInvalid):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]string{"result": "void", "error": "this ticket was refunded"})
	case err != nil:
		a.fail(w, r, err)
	case !res.First:
		writeJSON(w, http.StatusConflict, map[string]any{"result": "already_checked_in", "ticket_id": res.Ticket.ID, "label": res.Ticket.Label, "first_at": res.At.UTC()})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"result": "valid", "ticket_id": res.Ticket.ID, "event_id": res.Ticket.EventID, "label": res.Ticket.Label, "at": res.At.UTC()})
	}
}

// keys publishes the public keys that verify tickets offline.
func (a *API) keys(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(a.svc.Tickets().PublicJSON())
}

// webhook takes the provider's notifications: verified on the raw bytes,
// kept once by event id, acknowledged, then processed.
func (a *API) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := readAll(r, 64<<10)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body too large")
		return
	}
	err = a.svc.ReceiveWebhook(r.Context(), r.Header.Get("Usher-Signature"), body)
	switch {
	case errors.Is(err, booking.ErrBadSignature):
		a.log.Warn("webhook refused", "err", err)
		writeError(w, http.StatusBadRequest, "bad signature")
	case errors.Is(err, booking.ErrInvalid):
		writeError(w, http.StatusBadRequest, "not an event")
	case err != nil:
		a.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, map[string]string{"received": "ok"})
	}
}
