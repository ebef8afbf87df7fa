package httpapi

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/internal/adminauth"
)

// operator checks an operators' bearer token; write asks for the operator
// role, otherwise a viewer will do.
func (a *API) operator(w http.ResponseWriter, r *http.Request, write bool) (adminauth.Principal, bool) {
	p, err := a.opts.Admin.Request(r)
	need := adminauth.Viewer
	if write {
		need = adminauth.Operator
	}
	switch {
	case errors.Is(err, adminauth.ErrNoRole):
		writeError(w, http.StatusForbidden, "your account has no usher role")
	case err != nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="usher"`)
		writeError(w, http.StatusUnauthorized, "a valid bearer token is required")
	case !p.Role.Allows(need):
		writeError(w, http.StatusForbidden, "this needs the operator role")
	default:
		return p, true
	}
	return p, false
}

func readAll(r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errors.New("too large")
	}
	return b, nil
}

// AdminHandler serves operators: the catalogue and inventory of every
// event, quotas and codes, and sales summaries.
func (a *API) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	read := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if _, ok := a.operator(w, r, false); ok {
				h(w, r)
			}
		}
	}
	write := func(h func(http.ResponseWriter, *http.Request, adminauth.Principal)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if p, ok := a.operator(w, r, true); ok {
				h(w, r, p)
			}
		}
	}
	mux.HandleFunc("GET /api/events/{id}", read(a.adminGetEvent))
	mux.HandleFunc("PUT /api/events/{id}", write(a.putEvent))
	mux.HandleFunc("PUT /api/events/{id}/sections/{sid}", write(a.putSection))
	mux.HandleFunc("PUT /api/events/{id}/seats", write(a.putSeats))
	mux.HandleFunc("PUT /api/events/{id}/zones/{zid}", write(a.putZone))
	mux.HandleFunc("PUT /api/events/{id}/ticket-types/{tid}", write(a.putTicketType))
	mux.HandleFunc("PUT /api/events/{id}/quotas/{qid}", write(a.putQuota))
	mux.HandleFunc("POST /api/events/{id}/zones/{zid}/allocate", write(a.allocateZone))
	mux.HandleFunc("POST /api/events/{id}/quotas/{qid}/release", write(a.releaseQuota))
	mux.HandleFunc("PUT /api/events/{id}/presale-codes/{code}", write(a.putPresale))
	mux.HandleFunc("PUT /api/events/{id}/promo-codes/{code}", write(a.putPromo))
	mux.HandleFunc("GET /api/events/{id}/summary", read(a.summary))
	return mux
}

// adminEventJSON is an event as operators write and read it.
type adminEventJSON struct {
	Name          string    `json:"name"`
	Venue         string    `json:"venue"`
	Description   string    `json:"description"`
	Room          string    `json:"room"`
	StartsAt      time.Time `json:"starts_at"`
	OnSaleFrom    time.Time `json:"on_sale_from"`
	OnSaleUntil   time.Time `json:"on_sale_until"`
	Status        string    `json:"status"`
	Currency      string    `json:"currency"`
	MaxPerOrder   int       `json:"max_per_order"`
	MaxPerAccount int       `json:"max_per_account"`
}

func (a *API) changed(w http.ResponseWriter, r *http.Request, p adminauth.Principal, eventID, what string, err error) {
	if errors.Is(err, booking.ErrConflict) {
		// Operators need the store's reason, such as a held seat whose
		// quota would change or a zone that cannot shrink that far.
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.forget(eventID)
	a.svc.EventChanged(r.Context(), eventID)
	a.log.Info("event changed", "event", eventID, "what", what, "who", p.Who, "via", p.Via)
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) putEvent(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in adminEventJSON
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	ev := booking.Event{
		ID: r.PathValue("id"), Name: in.Name, Venue: in.Venue, Description: in.Description, Room: in.Room,
		StartsAt: in.StartsAt, OnSaleFrom: in.OnSaleFrom, OnSaleUntil: in.OnSaleUntil,
		Status: booking.EventStatus(in.Status), Currency: in.Currency, MaxPerOrder: in.MaxPerOrder, MaxPerAccount: in.MaxPerAccount,
	}
	if err := validEvent(ev); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	a.changed(w, r, p, ev.ID, "event", a.svc.Store().PutEvent(r.Context(), ev))
}

func validEvent(ev booking.Event) error {
	switch {
	case ev.Name == "" || ev.Venue == "" || ev.Room == "":
		return errors.New("name, venue and room are required")
	case ev.StartsAt.IsZero():
		return errors.New("starts_at is required")
	case len(ev.Currency) != 3:
		return errors.New("currency must be a three-letter code such as EUR")
	case ev.MaxPerOrder < 0 || ev.MaxPerAccount < 0:
		return errors.New("limits must not be negative")
	}
	switch ev.Status {
	case booking.EventDraft, booking.EventOnSale, booking.EventClosed, booking.EventCancelled:
		return nil
	}
	return errors.New("status must be draft, onsale, closed or cancelled")
}

func (a *API) putSection(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in struct {
		Name     string `json:"name"`
		Position int    `json:"position"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	a.changed(w, r, p, id, "section", a.svc.Store().PutSection(r.Context(), booking.Section{ID: r.PathValue("sid"), EventID: id, Name: in.Name, Position: in.Position}))
}

func (a *API) putSeats(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in []struct {
		ID           string  `json:"id"`
		SectionID    string  `json:"section_id"`
		Row          string  `json:"row"`
		Number       string  `json:"number"`
		TicketTypeID string  `json:"ticket_type_id"`
		QuotaID      string  `json:"quota_id"`
		X            float64 `json:"x"`
		Y            float64 `json:"y"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	seats := make([]booking.Seat, 0, len(in))
	for _, s := range in {
		seats = append(seats, booking.Seat{ID: s.ID, EventID: id, SectionID: s.SectionID, Row: s.Row, Number: s.Number, TicketTypeID: s.TicketTypeID, QuotaID: s.QuotaID, X: s.X, Y: s.Y})
	}
	a.changed(w, r, p, id, "seats", a.svc.Store().PutSeats(r.Context(), seats))
}

func (a *API) putZone(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in struct {
		Name         string `json:"name"`
		Capacity     int    `json:"capacity"`
		TicketTypeID string `json:"ticket_type_id"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	a.changed(w, r, p, id, "zone", a.svc.Store().PutZone(r.Context(), booking.Zone{ID: r.PathValue("zid"), EventID: id, Name: in.Name, Capacity: in.Capacity, TicketTypeID: in.TicketTypeID}))
}

func (a *API) putTicketType(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in struct {
		Name  string     `json:"name"`
		Tiers []tierJSON `json:"tiers"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(in.Tiers) == 0 {
		writeError(w, http.StatusBadRequest, "at least one price tier is required")
		return
	}
	tt := booking.TicketType{ID: r.PathValue("tid"), EventID: r.PathValue("id"), Name: in.Name}
	for _, t := range in.Tiers {
		pt := booking.PriceTier{Name: t.Name, PriceCents: t.PriceCents, UntilSold: t.UntilSold}
		if t.Until != nil {
			pt.Until = *t.Until
		}
		if pt.PriceCents < 0 {
			writeError(w, http.StatusBadRequest, "prices must not be negative")
			return
		}
		tt.Tiers = append(tt.Tiers, pt)
	}
	a.changed(w, r, p, tt.EventID, "ticket type", a.svc.Store().PutTicketType(r.Context(), tt))
}

func (a *API) putQuota(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in struct {
		Name string `json:"name"`
		Kind string `json:"kind"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	switch booking.QuotaKind(in.Kind) {
	case booking.QuotaPresale, booking.QuotaPartner, booking.QuotaVIP:
	default:
		writeError(w, http.StatusBadRequest, "kind must be presale, partner or vip")
		return
	}
	id := r.PathValue("id")
	a.changed(w, r, p, id, "quota", a.svc.Store().PutQuota(r.Context(), booking.Quota{ID: r.PathValue("qid"), EventID: id, Name: in.Name, Kind: booking.QuotaKind(in.Kind)}))
}

func (a *API) allocateZone(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in struct {
		QuotaID  string `json:"quota_id"`
		Quantity int    `json:"quantity"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	a.changed(w, r, p, id, "allocation", a.svc.Store().AllocateZone(r.Context(), id, r.PathValue("zid"), in.QuotaID, in.Quantity, a.svc.Now()))
}

// releaseQuota gives a quota's unsold places to the public ("to" empty) or
// to another quota.
func (a *API) releaseQuota(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in struct {
		To string `json:"to"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	moved, err := a.svc.Store().ReleaseQuota(r.Context(), id, r.PathValue("qid"), in.To, a.svc.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.forget(id)
	a.svc.EventChanged(r.Context(), id)
	a.log.Info("quota released", "event", id, "quota", r.PathValue("qid"), "to", in.To, "places", moved, "who", p.Who)
	writeJSON(w, http.StatusOK, map[string]int{"moved": moved})
}

func (a *API) putPresale(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in struct {
		QuotaID string `json:"quota_id"`
		MaxUses int    `json:"max_uses"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	a.changed(w, r, p, id, "presale code", a.svc.Store().PutPresaleCode(r.Context(), booking.PresaleCode{Code: r.PathValue("code"), EventID: id, QuotaID: in.QuotaID, MaxUses: in.MaxUses}))
}

func (a *API) putPromo(w http.ResponseWriter, r *http.Request, p adminauth.Principal) {
	var in struct {
		PercentOff     int   `json:"percent_off"`
		AmountOffCents int64 `json:"amount_off_cents"`
		MaxUses        int   `json:"max_uses"`
	}
	if err := decode(r, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	if (in.PercentOff > 0) == (in.AmountOffCents > 0) || in.PercentOff > 100 || in.PercentOff < 0 || in.AmountOffCents < 0 {
		writeError(w, http.StatusBadRequest, "give percent_off (1 to 100) or amount_off_cents, not both")
		return
	}
	id := r.PathValue("id")
	a.changed(w, r, p, id, "promo code", a.svc.Store().PutPromoCode(r.Context(), booking.PromoCode{Code: r.PathValue("code"), EventID: id, PercentOff: in.PercentOff, AmountOffCents: in.AmountOffCents, MaxUses: in.MaxUses}))
}

// adminGetEvent is the whole event for operators.
func (a *API) adminGetEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a.forget(id)
	st, err := a.structure(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	quotas, err := a.svc.Store().Quotas(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := map[string]any{"event": toEventJSON(st.event), "sections": st.sections, "seats": st.seats, "zones": st.zones, "ticket_types": st.ticketTypes, "quotas": quotas}
	writeJSON(w, http.StatusOK, out)
}

// summary is an event's sales for the dashboard.
func (a *API) summary(w http.ResponseWriter, r *http.Request) {
	s, err := a.svc.Store().Summary(r.Context(), r.PathValue("id"), a.svc.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	orders := map[string]int{}
	for st, n := range s.Orders {
		orders[string(st)] = n
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"event_id": s.EventID, "capacity": s.Capacity, "available": s.Available, "held": s.Held, "sold": s.Sold,
		"revenue_cents": s.RevenueCents, "orders": orders, "checked_in": s.CheckedIn, "sold_by_ticket_type": s.ByTicketType,
	})
}
