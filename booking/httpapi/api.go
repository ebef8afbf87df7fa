// Package httpapi serves the booking backend over HTTP: the fans' JSON API
// and pages, the payment webhook and hosted checkout, the door's check-in,
// and the operators' API on its own listener.
//
// Every fan call but the catalogue needs a pass for the event's room, which
// the backend verifies itself with the gateway's published keys: a request
// that goes around the gateway gets nothing.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/internal/adminauth"
)

// Options configure the API.
type Options struct {
	// Passes verify the waiting room's passes (a verify-only admission
	// Tokens over the gateway's keys). Required.
	Passes *admission.Tokens
	// Admin checks operators' bearer tokens (operator API and check-in).
	// Required.
	Admin *adminauth.Authenticator
	// Checkout, when set, is the simulated provider's hosted checkout,
	// served under PayPrefix.
	Checkout http.Handler
	// PayPrefix is where Checkout is served. Default "/pay/".
	PayPrefix string
	Logger    *slog.Logger
}

// API serves the booking backend.
type API struct {
	svc  *booking.Service
	opts Options
	log  *slog.Logger

	catMu     sync.Mutex
	catalogue map[string]cachedBody // GET /api/events answers by query
	structMu  sync.Mutex
	structs   map[string]cachedStruct // event structure by id
}

// New returns the API over svc.
func New(svc *booking.Service, opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PayPrefix == "" {
		opts.PayPrefix = "/pay/"
	}
	return &API{svc: svc, opts: opts, log: opts.Logger, catalogue: map[string]cachedBody{}, structs: map[string]cachedStruct{}}
}

// FanHandler serves fans: pages, the JSON API, the webhook, check-in and the
// hosted checkout.
func (a *API) FanHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.landingPage)
	mux.HandleFunc("GET /events/{$}", a.listPage)
	mux.HandleFunc("GET /events/{id}", a.eventPage)
	mux.HandleFunc("GET /events/{id}/holds/{hold}", a.holdPage)
	mux.HandleFunc("GET /orders/{id}", a.orderPage)

	mux.HandleFunc("GET /api/events", a.listEvents)
	mux.HandleFunc("GET /api/events/{id}", a.withPass(a.getEvent))
	mux.HandleFunc("GET /api/events/{id}/availability", a.withPass(a.getAvailability))
	mux.HandleFunc("GET /api/events/{id}/availability/stream", a.withPass(a.streamAvailability))
	mux.HandleFunc("POST /api/holds", a.createHold)
	mux.HandleFunc("GET /api/holds/{id}", a.getHold)
	mux.HandleFunc("DELETE /api/holds/{id}", a.releaseHold)
	mux.HandleFunc("POST /api/orders", a.createOrder)
	mux.HandleFunc("GET /api/orders/{id}", a.getOrder)
	mux.HandleFunc("POST /api/orders/{id}/payments", a.retryPayment)
	mux.HandleFunc("GET /api/tickets/{id}", a.getTicket)
	mux.HandleFunc("GET /api/tickets/{id}/qr.png", a.getTicketQR)
	mux.HandleFunc("POST /api/checkin", a.checkIn)
	mux.HandleFunc("GET /api/keys", a.keys)
	mux.HandleFunc("POST /api/payments/webhook", a.webhook)
	if a.opts.Checkout != nil {
		mux.Handle(a.opts.PayPrefix, a.opts.Checkout)
	}
	return mux
}

// pass is the waiting room's pass a request carries, verified for room.
func (a *API) pass(r *http.Request, room string) (admission.Claims, bool) {
	raw := r.Header.Get(admission.PassHeader)
	if raw == "" {
		if c, err := r.Cookie(admission.PassCookie(room)); err == nil {
			raw = c.Value
		}
	}
	if raw == "" {
		return admission.Claims{}, false
	}
	c, err := a.opts.Passes.Verify([]byte(raw), admission.KindPass, room)
	return c, err == nil
}

// passFor checks that r carries a pass for the event's room, and answers
// 401 (or 404 for an unknown event) when it does not.
func (a *API) passFor(w http.ResponseWriter, r *http.Request, eventID string) (admission.Claims, booking.Event, bool) {
	st, err := a.structure(r.Context(), eventID)
	if err != nil {
		a.fail(w, r, err)
		return admission.Claims{}, booking.Event{}, false
	}
	c, ok := a.pass(r, st.event.Room)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a pass for the waiting room " + st.event.Room + " is required"})
		return c, st.event, false
	}
	return c, st.event, true
}

// withPass runs h for a request about event {id} that carries its pass.
func (a *API) withPass(h func(http.ResponseWriter, *http.Request, admission.Claims, booking.Event)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c, ev, ok := a.passFor(w, r, r.PathValue("id")); ok {
			h(w, r, c, ev)
		}
	}
}

func account(c admission.Claims) string { return booking.Account(c.Account, c.Visitor) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// fail maps a service error to its status, once, here.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		taken  *booking.TakenError
		short  *booking.NotEnoughError
		limits *booking.LimitError
	)
	switch {
	case errors.As(err, &taken):
		writeJSON(w, http.StatusConflict, map[string]any{"error": "some of these seats were just taken", "seat_ids": taken.SeatIDs})
	case errors.As(err, &short):
		writeJSON(w, http.StatusConflict, map[string]any{"error": "not enough places left", "zone_id": short.ZoneID, "available": short.Available})
	case errors.As(err, &limits):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": limits.Error(), "limit": limits.Limit, "max": limits.Max, "have": limits.Have})
	case errors.Is(err, booking.ErrNotFound):
		writeError(w, http.StatusNotFound, "not found")
	case errors.Is(err, booking.ErrNotOnSale):
		writeError(w, http.StatusForbidden, "this event is not on sale now")
	case errors.Is(err, booking.ErrHoldExpired):
		writeError(w, http.StatusGone, "the hold has expired; its places were released")
	case errors.Is(err, booking.ErrHoldUsed):
		writeError(w, http.StatusConflict, "this hold was already released or ordered")
	case errors.Is(err, booking.ErrIdempotencyMismatch):
		writeError(w, http.StatusUnprocessableEntity, "this Idempotency-Key was used with another request")
	case errors.Is(err, booking.ErrBadCode):
		writeError(w, http.StatusUnprocessableEntity, "unknown or used-up code")
	case errors.Is(err, booking.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, booking.ErrConflict):
		writeError(w, http.StatusConflict, "this changed in the meantime; reload and try again")
	case errors.Is(err, context.Canceled):
		// The client went away.
	default:
		a.log.Error("booking request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusServiceUnavailable, "something went wrong; try again in a moment")
	}
}

// decode reads a JSON body of at most 64 KiB into v, strictly.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.Join(booking.ErrInvalid, errors.New("the body must be a JSON object: "+err.Error()))
	}
	return nil
}

// cachedBody is an answer kept briefly.
type cachedBody struct {
	body []byte
	etag string
	at   time.Time
}

// cachedStruct is an event's structure kept briefly: it changes only when
// operators edit the event.
type cachedStruct struct {
	st *structure
	at time.Time
}

// structureTTL bounds how stale an event's structure may be after an
// operator's change on another instance.
const structureTTL = 5 * time.Second

// structure is an event with its sections, seats, zones and ticket types.
type structure struct {
	event       booking.Event
	sections    []booking.Section
	seats       []booking.Seat
	zones       []booking.Zone
	ticketTypes map[string]booking.TicketType
}

func (a *API) structure(ctx context.Context, id string) (*structure, error) {
	a.structMu.Lock()
	c, ok := a.structs[id]
	a.structMu.Unlock()
	if ok && time.Since(c.at) < structureTTL {
		return c.st, nil
	}
	store := a.svc.Store()
	ev, err := store.Event(ctx, id)
	if err != nil {
		return nil, err
	}
	st := &structure{event: ev, ticketTypes: map[string]booking.TicketType{}}
	if st.sections, err = store.Sections(ctx, id); err != nil {
		return nil, err
	}
	if st.seats, err = store.Seats(ctx, id); err != nil {
		return nil, err
	}
	if st.zones, err = store.Zones(ctx, id); err != nil {
		return nil, err
	}
	tts, err := store.TicketTypes(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, tt := range tts {
		st.ticketTypes[tt.ID] = tt
	}
	a.structMu.Lock()
	if len(a.structs) > 1000 {
		clear(a.structs)
	}
	a.structs[id] = cachedStruct{st: st, at: time.Now()}
	a.structMu.Unlock()
	return st, nil
}

// forget drops an event's cached structure after an operator's change.
func (a *API) forget(id string) {
	a.structMu.Lock()
	delete(a.structs, id)
	a.structMu.Unlock()
	a.catMu.Lock()
	clear(a.catalogue)
	a.catMu.Unlock()
}

// trimSpace normalises text input.
func trimSpace(s string) string { return strings.TrimSpace(s) }
