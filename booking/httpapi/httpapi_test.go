package httpapi_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/booking/httpapi"
	"github.com/usherhq/usher/booking/outbox"
	"github.com/usherhq/usher/booking/payment"
	"github.com/usherhq/usher/booking/postgres"
	"github.com/usherhq/usher/booking/sqlite"
	"github.com/usherhq/usher/booking/ticket"
	"github.com/usherhq/usher/internal/adminauth"
	"github.com/usherhq/usher/queue/queuetest"
)

const (
	room          = "sale"
	operatorToken = "door-token-0123456789"
	webhookSecret = "whsec-0123456789abcdef"
)

// backends are the two databases every flow runs on.
var backends = []struct {
	name string
	open func(t *testing.T) booking.Store
}{
	{"sqlite", func(t *testing.T) booking.Store {
		s, err := sqlite.Open(filepath.Join(t.TempDir(), "booking.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t *testing.T) booking.Store {
		base := os.Getenv("USHER_TEST_POSTGRES_URL")
		if base == "" {
			base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
		}
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { admin.Close() })
		schema := "test_api_" + booking.NewID()[:12]
		if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
			t.Fatalf("postgres at %s (make test starts one): %v", base, err)
		}
		t.Cleanup(func() { _, _ = admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
		u, _ := url.Parse(base)
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		s, err := postgres.Open(context.Background(), u.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// mailbox records the ticket e-mails.
type mailbox struct {
	mu    sync.Mutex
	mails []outbox.Mail
}

func (m *mailbox) Send(_ context.Context, mail outbox.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mail)
	return nil
}

// env is a booking backend on loopback with a fake clock, a simulated
// provider whose webhooks wait for Deliver, and the gateway's keys.
type env struct {
	t       *testing.T
	clock   *queuetest.Clock
	store   booking.Store
	svc     *booking.Service
	sim     *payment.Simulated
	srv     *httptest.Server
	gateway *admission.Tokens
	mail    *mailbox
}

// spaceKey is a ticket key whose codes begin with a space, as about one key
// in 45 has: base45 has a space in its alphabet, and the first characters
// come from the frame's version and key id. The door must take such codes
// as they are.
func spaceKey(t *testing.T) ed25519.PrivateKey {
	for range 2000 {
		k, err := ticket.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		code, err := ticket.NewKeys(k).Sign(ticket.Claims{TicketID: ticket.NewID(), EventID: "show", Place: "A1"})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(code, " ") {
			return k
		}
	}
	t.Fatal("no key in 2,000 gives codes that begin with a space")
	return nil
}

func newEnv(t *testing.T, open func(*testing.T) booking.Store) *env {
	t.Helper()
	e := &env{t: t, clock: queuetest.NewClock(time.Now().Truncate(time.Second)), store: open(t), mail: &mailbox{}}
	key, _ := admission.GenerateKey()
	gk := admission.NewKeySet(key)
	e.gateway = admission.NewTokens(gk, gk, admission.TokenOptions{Now: e.clock.Now})
	tk := spaceKey(t)
	e.srv = httptest.NewUnstartedServer(nil)
	e.sim = payment.NewSimulated(payment.SimulatedOptions{
		WebhookURL: "http://" + e.srv.Listener.Addr().String() + "/api/payments/webhook", Secret: []byte(webhookSecret),
		BaseURL: "/pay", Manual: true, Now: e.clock.Now,
	})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var err error
	e.svc, err = booking.NewService(e.store, booking.Options{
		HoldTTL: 10 * time.Minute, Provider: e.sim, WebhookSecrets: [][]byte{[]byte(webhookSecret)},
		Tickets: ticket.NewKeys(tk), Mail: e.mail, Logger: log, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(e.svc, httpapi.Options{
		Passes:   admission.NewTokens(nil, gk, admission.TokenOptions{Now: e.clock.Now}),
		Admin:    adminauth.New([]adminauth.Token{{Name: "door", SHA256: sha256.Sum256([]byte(operatorToken)), Role: adminauth.Operator}}, nil, e.clock.Now),
		Checkout: e.sim.Handler(), Logger: log,
	})
	mux := http.NewServeMux()
	mux.Handle("/", api.FanHandler())
	mux.Handle("/admin/", http.StripPrefix("/admin", api.AdminHandler()))
	e.srv.Config.Handler = mux
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.sim.Close)
	e.seed()
	return e
}

// seed puts one event: ten seats (the last two a VIP quota's), a zone of
// five, at most 4 per order and 6 per account.
func (e *env) seed() {
	ctx, s := context.Background(), e.store
	ev := booking.Event{ID: "show", Name: "The Show", Venue: "Hall", Room: room, StartsAt: e.clock.Now().Add(30 * 24 * time.Hour),
		Status: booking.EventOnSale, Currency: "EUR", MaxPerOrder: 4, MaxPerAccount: 6}
	must := func(err error) {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	must(s.PutEvent(ctx, ev))
	must(s.PutTicketType(ctx, booking.TicketType{ID: "seat", EventID: ev.ID, Name: "Seat", Tiers: []booking.PriceTier{{Name: "Early", PriceCents: 3000, UntilSold: 2}, {Name: "Standard", PriceCents: 4000}}}))
	must(s.PutTicketType(ctx, booking.TicketType{ID: "floor", EventID: ev.ID, Name: "Floor", Tiers: []booking.PriceTier{{Name: "Standard", PriceCents: 2000}}}))
	must(s.PutSection(ctx, booking.Section{ID: "main", EventID: ev.ID, Name: "Main", Position: 1}))
	must(s.PutQuota(ctx, booking.Quota{ID: "vip", EventID: ev.ID, Name: "VIP", Kind: booking.QuotaVIP}))
	var seats []booking.Seat
	for n := 1; n <= 10; n++ {
		st := booking.Seat{ID: fmt.Sprintf("s%d", n), EventID: ev.ID, SectionID: "main", Row: "A", Number: fmt.Sprint(n), TicketTypeID: "seat", X: float64(n * 30), Y: 50}
		if n > 8 {
			st.QuotaID = "vip"
		}
		seats = append(seats, st)
	}
	must(s.PutSeats(ctx, seats))
	must(s.PutZone(ctx, booking.Zone{ID: "floor", EventID: ev.ID, Name: "Floor", Capacity: 5, TicketTypeID: "floor"}))
	must(s.PutPresaleCode(ctx, booking.PresaleCode{Code: "VIP1", EventID: ev.ID, QuotaID: "vip", MaxUses: 1}))
	must(s.PutPromoCode(ctx, booking.PromoCode{Code: "HALF", EventID: ev.ID, PercentOff: 50, MaxUses: 10}))
}

// fan is a browser with a pass for room (or another).
type fan struct {
	e      *env
	pass   string
	client *http.Client
}

func (e *env) fan(account, passRoom string) *fan {
	pass, err := e.gateway.Sign(admission.Claims{Kind: admission.KindPass, Room: passRoom, Visitor: admission.NewVisitorID(), Account: account, Seq: 1, Expires: e.clock.Now().Add(time.Hour)})
	if err != nil {
		e.t.Fatal(err)
	}
	return &fan{e: e, pass: pass, client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type reply struct {
	code int
	body []byte
	hdr  http.Header
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return m
}

func (f *fan) do(method, path, body string, header ...string) reply {
	f.e.t.Helper()
	req, _ := http.NewRequest(method, f.e.srv.URL+path, strings.NewReader(body))
	if f.pass != "" {
		req.AddCookie(&http.Cookie{Name: admission.PassCookie(room), Value: f.pass})
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		f.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, b, resp.Header}
}

// hold holds seats and returns the hold id.
func (f *fan) hold(seats ...string) string {
	f.e.t.Helper()
	b, _ := json.Marshal(map[string]any{"event_id": "show", "seat_ids": seats})
	r := f.do("POST", "/api/holds", string(b))
	if r.code != http.StatusCreated {
		f.e.t.Fatalf("hold %v: %d %s", seats, r.code, r.body)
	}
	return r.json(f.e.t)["hold_id"].(string)
}

// checkout orders a hold and returns the order id and the provider's ref.
func (f *fan) checkout(holdID, key string, extra ...string) (string, string) {
	f.e.t.Helper()
	body := `{"hold_id":"` + holdID + `"` + strings.Join(extra, "") + `}`
	r := f.do("POST", "/api/orders", body, "Idempotency-Key", key)
	if r.code != http.StatusCreated {
		f.e.t.Fatalf("checkout: %d %s", r.code, r.body)
	}
	m := r.json(f.e.t)
	u, _ := url.Parse(m["payment"].(map[string]any)["checkout_url"].(string))
	return m["order_id"].(string), u.Path[len("/pay/"):]
}

// pay charges a card at the provider, delivers its webhooks as asked, and
// processes them.
func (e *env) pay(ref, card string, opts payment.DeliverOptions) {
	e.t.Helper()
	if _, err := e.sim.Pay(context.Background(), ref, card); err != nil {
		e.t.Fatal(err)
	}
	e.deliver(opts)
}

func (e *env) deliver(opts payment.DeliverOptions) {
	e.t.Helper()
	if err := e.sim.Deliver(context.Background(), opts); err != nil {
		e.t.Fatal(err)
	}
	if err := e.svc.ProcessWebhooks(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) order(id string) booking.Order {
	e.t.Helper()
	o, err := e.store.GetOrder(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return o
}

func TestPassesAreRequired(t *testing.T) {
	e := newEnv(t, backends[0].open)
	anon := &fan{e: e, client: http.DefaultClient}
	other := e.fan("", "another-room")
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/events/show", ""},
		{"GET", "/api/events/show/availability", ""},
		{"POST", "/api/holds", `{"event_id":"show","seat_ids":["s1"]}`},
	} {
		for name, f := range map[string]*fan{"no pass": anon, "another room's pass": other} {
			if r := f.do(tc.method, tc.path, tc.body); r.code != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %d %s", tc.method, tc.path, name, r.code, r.body)
			}
		}
	}
	// The catalogue is public and cheap to serve again.
	r := anon.do("GET", "/api/events", "")
	if r.code != 200 || !strings.Contains(string(r.body), `"id":"show"`) || r.hdr.Get("ETag") == "" || !strings.Contains(r.hdr.Get("Cache-Control"), "max-age") {
		t.Fatalf("catalogue: %d %s %v", r.code, r.body, r.hdr)
	}
	if again := anon.do("GET", "/api/events", "", "If-None-Match", r.hdr.Get("ETag")); again.code != http.StatusNotModified {
		t.Errorf("conditional catalogue: %d", again.code)
	}
	if s := anon.do("GET", "/api/events?q=nothing-like-it", ""); string(s.body) != "[]\n" {
		t.Errorf("search: %s", s.body)
	}
	// The seat map page explains the missing pass.
	if p := anon.do("GET", "/events/show", ""); p.code != http.StatusUnauthorized {
		t.Errorf("event page without a pass: %d", p.code)
	}
}

func TestBuyTickets(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open)
			ann := e.fan("ann", room)
			if p := ann.do("GET", "/events/show", ""); p.code != 200 || !strings.Contains(string(p.body), "s1") {
				t.Fatalf("event page: %d", p.code)
			}
			hold := ann.hold("s1", "s2")
			// Someone else cannot take them.
			bob := e.fan("bob", room)
			r := bob.do("POST", "/api/holds", `{"event_id":"show","seat_ids":["s2","s3"]}`)
			if r.code != http.StatusConflict || !strings.Contains(string(r.body), `"seat_ids":["s2"]`) {
				t.Fatalf("taken seats: %d %s", r.code, r.body)
			}
			orderID, ref := ann.checkout(hold, "key-1", `,"email":"ann@fans.example","promo_code":"HALF"`)
			// The same request again is the same order; another body with the
			// same key is refused.
			r = ann.do("POST", "/api/orders", `{"hold_id":"`+hold+`","email":"ann@fans.example","promo_code":"HALF"}`, "Idempotency-Key", "key-1")
			if r.code != http.StatusCreated || r.json(t)["order_id"] != orderID || r.hdr.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("replayed checkout: %d %s", r.code, r.body)
			}
			if r := ann.do("POST", "/api/orders", `{"hold_id":"`+hold+`"}`, "Idempotency-Key", "key-1"); r.code != http.StatusUnprocessableEntity {
				t.Errorf("same key, other body: %d %s", r.code, r.body)
			}
			o := e.order(orderID)
			if o.Status != booking.OrderPending || o.SubtotalCents != 6000 || o.TotalCents != 3000 {
				t.Fatalf("order: %+v", o)
			}
			// Paid; the webhooks come twice and in reverse order.
			e.pay(ref, "4242 4242 4242 4242", payment.DeliverOptions{Reverse: true, Twice: true})
			o = e.order(orderID)
			if o.Status != booking.OrderPaid || len(o.Tickets) != 2 {
				t.Fatalf("after payment: %s, %d tickets", o.Status, len(o.Tickets))
			}
			// The browser's return applies the same transition: nothing new.
			if p := ann.do("GET", "/orders/"+orderID+"?payment="+ref, ""); p.code != 200 || strings.Count(string(p.body), "data:image/png;base64,") != 2 {
				t.Errorf("order page: %d, %d QR codes", p.code, strings.Count(string(p.body), "data:image/png;base64,"))
			}
			if o = e.order(orderID); len(o.Tickets) != 2 {
				t.Errorf("%d tickets after the return", len(o.Tickets))
			}
			// The seats are sold; the map says so.
			r = ann.do("GET", "/api/events/show/availability", "")
			if seats := r.json(t)["seats"].(map[string]any); seats["s1"] != "s" || seats["s2"] != "s" || seats["s3"] != "a" {
				t.Errorf("availability: %v", seats)
			}
			// Tickets verify offline with the published keys, and get in once.
			keys := ann.do("GET", "/api/keys", "")
			verifier, err := ticket.ParsePublicJSON(keys.body)
			if err != nil {
				t.Fatal(err)
			}
			tj := ann.do("GET", "/api/tickets/"+o.Tickets[0].ID, "").json(t)
			claims, err := verifier.Verify(tj["code"].(string))
			if err != nil || claims.TicketID != o.Tickets[0].ID || claims.EventID != "show" {
				t.Fatalf("ticket code: %+v %v", claims, err)
			}
			door := &fan{e: e, client: http.DefaultClient}
			auth := []string{"Authorization", "Bearer " + operatorToken}
			body := `{"code":"` + tj["code"].(string) + `"}`
			if r := door.do("POST", "/api/checkin", body); r.code != http.StatusUnauthorized {
				t.Errorf("check-in without a token: %d", r.code)
			}
			if r := door.do("POST", "/api/checkin", body, auth...); r.code != 200 || r.json(t)["result"] != "valid" {
				t.Errorf("first scan: %d %s", r.code, r.body)
			}
			e.clock.Add(time.Minute)
			// A scanner may end what it read with a line break.
			r = door.do("POST", "/api/checkin", `{"code":"`+tj["code"].(string)+`\r\n"}`, auth...)
			if r.code != http.StatusConflict || r.json(t)["result"] != "already_checked_in" || r.json(t)["first_at"] == nil {
				t.Errorf("second scan: %d %s", r.code, r.body)
			}
			forged := []byte(tj["code"].(string))
			forged[len(forged)/2] ^= 1
			if r := door.do("POST", "/api/checkin", `{"code":"`+string(forged)+`"}`, auth...); r.code != http.StatusUnprocessableEntity {
				t.Errorf("forged code: %d %s", r.code, r.body)
			}
			if png := ann.do("GET", "/api/tickets/"+o.Tickets[0].ID+"/qr.png", ""); png.code != 200 || png.hdr.Get("Content-Type") != "image/png" {
				t.Errorf("QR: %d", png.code)
			}
			// The tickets go out by e-mail, once, with their QR codes.
			if err := e.svc.SendOutbox(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := e.svc.SendOutbox(context.Background()); err != nil {
				t.Fatal(err)
			}
			e.mail.mu.Lock()
			defer e.mail.mu.Unlock()
			if len(e.mail.mails) != 1 || e.mail.mails[0].To != "ann@fans.example" || len(e.mail.mails[0].Attachments) != 2 {
				t.Errorf("mails: %+v", e.mail.mails)
			}
		})
	}
}

func TestDeclinedThenPaid(t *testing.T) {
	e := newEnv(t, backends[0].open)
	ann := e.fan("ann", room)
	orderID, ref := ann.checkout(ann.hold("s4"), "k")
	e.pay(ref, "4000 0000 0000 0002", payment.DeliverOptions{})
	if o := e.order(orderID); o.Status != booking.OrderPending || len(o.Tickets) != 0 {
		t.Fatalf("after a decline: %+v", o)
	}
	if p := ann.do("GET", "/orders/"+orderID+"?payment="+ref, ""); !strings.Contains(strings.ToLower(string(p.body)), "declined") {
		t.Errorf("the order page does not say the card was declined")
	}
	r := ann.do("POST", "/api/orders/"+orderID+"/payments", "")
	if r.code != http.StatusCreated {
		t.Fatalf("retry: %d %s", r.code, r.body)
	}
	u, _ := url.Parse(r.json(t)["payment"].(map[string]any)["checkout_url"].(string))
	e.pay(u.Path[len("/pay/"):], "4242424242424242", payment.DeliverOptions{})
	if o := e.order(orderID); o.Status != booking.OrderPaid || len(o.Tickets) != 1 || len(o.Payments) != 2 {
		t.Fatalf("after a second card: %+v", o)
	}
}

func TestLatePayment(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open)
			ann, bob := e.fan("ann", room), e.fan("bob", room)
			freeOrder, freeRef := ann.checkout(ann.hold("s5"), "a")
			lostOrder, lostRef := ann.checkout(ann.hold("s6"), "b")
			e.clock.Add(11 * time.Minute) // both holds expire
			bob.hold("s6")                // and s6 goes to someone else
			e.pay(freeRef, "4242424242424242", payment.DeliverOptions{})
			if o := e.order(freeOrder); o.Status != booking.OrderPaid || len(o.Tickets) != 1 {
				t.Errorf("late payment, seat still free: %s %d", o.Status, len(o.Tickets))
			}
			e.pay(lostRef, "4242424242424242", payment.DeliverOptions{})
			if o := e.order(lostOrder); o.Status != booking.OrderFailed || len(o.Tickets) != 0 {
				t.Errorf("late payment, seat gone: %s %d tickets", o.Status, len(o.Tickets))
			}
			st, err := e.sim.Status(context.Background(), lostRef)
			if err != nil || st.State != payment.StateRefunded {
				t.Errorf("the late payment was not refunded: %+v %v", st, err)
			}
			e.deliver(payment.DeliverOptions{}) // the refund's own webhook changes nothing
			if o := e.order(lostOrder); o.Status != booking.OrderFailed {
				t.Errorf("after the refund webhook: %s", o.Status)
			}
		})
	}
}

func TestWebhookSignatures(t *testing.T) {
	e := newEnv(t, backends[0].open)
	ann := e.fan("ann", room)
	orderID, ref := ann.checkout(ann.hold("s7"), "k")
	if _, err := e.sim.Pay(context.Background(), ref, "4242424242424242"); err != nil {
		t.Fatal(err)
	}
	events := e.sim.Queued()
	if len(events) != 1 {
		t.Fatalf("%d events queued", len(events))
	}
	body, _ := json.Marshal(events[0])
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/payments/webhook", strings.NewReader(string(body)))
		req.Header.Set(payment.SignatureHeader, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(payment.Sign([]byte("another secret"), e.clock.Now(), body)); code != http.StatusBadRequest {
		t.Errorf("wrong secret: %d", code)
	}
	if code := post(payment.Sign([]byte(webhookSecret), e.clock.Now().Add(-6*time.Minute), body)); code != http.StatusBadRequest {
		t.Errorf("stale timestamp: %d", code)
	}
	if err := e.svc.ProcessWebhooks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := e.order(orderID); o.Status != booking.OrderPending {
		t.Fatalf("a refused webhook paid the order: %s", o.Status)
	}
	if code := post(payment.Sign([]byte(webhookSecret), e.clock.Now(), body)); code != 200 {
		t.Fatalf("good signature: %d", code)
	}
	if code := post(payment.Sign([]byte(webhookSecret), e.clock.Now(), body)); code != 200 {
		t.Fatalf("the same event again: %d", code)
	}
	if err := e.svc.ProcessWebhooks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := e.order(orderID); o.Status != booking.OrderPaid || len(o.Tickets) != 1 {
		t.Fatalf("after the webhook: %s %d", o.Status, len(o.Tickets))
	}
}

func TestLimitsAndCodes(t *testing.T) {
	e := newEnv(t, backends[0].open)
	ann := e.fan("ann", room)
	// Per order: at most 4.
	if r := ann.do("POST", "/api/holds", `{"event_id":"show","seat_ids":["s1","s2","s3","s4","s5"]}`); r.code != http.StatusUnprocessableEntity || r.json(t)["limit"] != "per_order" {
		t.Errorf("per order: %d %s", r.code, r.body)
	}
	// Per account: 6 across orders, held and bought.
	_, ref := ann.checkout(ann.hold("s1", "s2", "s3", "s4"), "k1")
	e.pay(ref, "4242424242424242", payment.DeliverOptions{})
	if r := ann.do("POST", "/api/holds", `{"event_id":"show","zone_id":"floor","quantity":3}`); r.code != http.StatusUnprocessableEntity || r.json(t)["limit"] != "per_account" {
		t.Errorf("per account: %d %s", r.code, r.body)
	}
	// The zone and quota.
	bob := e.fan("bob", room)
	if r := bob.do("POST", "/api/holds", `{"event_id":"show","seat_ids":["s9"]}`); r.code != http.StatusConflict {
		t.Errorf("a quota seat without its code: %d %s", r.code, r.body)
	}
	if r := bob.do("POST", "/api/holds", `{"event_id":"show","seat_ids":["s9"],"presale_code":"VIP1"}`); r.code != http.StatusCreated {
		t.Errorf("a quota seat with its code: %d %s", r.code, r.body)
	}
	if r := bob.do("POST", "/api/holds", `{"event_id":"show","seat_ids":["s10"],"presale_code":"VIP1"}`); r.code != http.StatusUnprocessableEntity {
		t.Errorf("a used-up code: %d %s", r.code, r.body)
	}
	if r := bob.do("POST", "/api/holds", `{"event_id":"show","zone_id":"floor","quantity":6}`); r.code != http.StatusUnprocessableEntity && r.code != http.StatusConflict {
		t.Errorf("more than the zone: %d %s", r.code, r.body)
	}
	if r := bob.do("POST", "/api/holds", `{"event_id":"show","zone_id":"floor","quantity":2}`); r.code != http.StatusCreated {
		t.Errorf("zone hold: %d %s", r.code, r.body)
	}
	// Releasing early frees at once.
	carl := e.fan("carl", room)
	h := carl.hold("s6")
	if r := carl.do("DELETE", "/api/holds/"+h, ""); r.code != http.StatusNoContent {
		t.Errorf("release: %d", r.code)
	}
	if r := bob.do("DELETE", "/api/holds/"+h, ""); r.code != http.StatusNotFound {
		t.Errorf("someone else's hold: %d", r.code)
	}
	bob.hold("s6")
}

func TestAvailabilityStream(t *testing.T) {
	e := newEnv(t, backends[0].open)
	ann, bob := e.fan("ann", room), e.fan("bob", room)
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/events/show/availability/stream", nil)
	req.AddCookie(&http.Cookie{Name: admission.PassCookie(room), Value: ann.pass})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	next := func() (string, string) {
		var ev, data string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev = line[7:]
			case strings.HasPrefix(line, "data: "):
				data = line[6:]
			case line == "" && ev != "":
				return ev, data
			}
		}
		t.Fatal("stream ended")
		return "", ""
	}
	if ev, data := next(); ev != "snapshot" || !strings.Contains(data, `"s3":"a"`) {
		t.Fatalf("first event: %s %s", ev, data)
	}
	bob.hold("s3")
	ev, data := next()
	if ev != "change" || !strings.Contains(data, `"s3":"h"`) || strings.Contains(data, `"s4"`) {
		t.Fatalf("change: %s %s", ev, data)
	}
}

func TestOperatorAPI(t *testing.T) {
	e := newEnv(t, backends[0].open)
	admin := &fan{e: e, client: http.DefaultClient}
	auth := []string{"Authorization", "Bearer " + operatorToken}
	put := func(path, body string, header ...string) int {
		return admin.do("PUT", "/admin"+path, body, header...).code
	}
	if code := put("/api/events/new", `{"name":"New","venue":"V","room":"sale","starts_at":"2031-06-01T20:00:00Z","status":"onsale","currency":"EUR"}`); code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", code)
	}
	// In order: each refers to what the ones before made.
	for _, c := range []struct{ path, body string }{
		{"/api/events/new", `{"name":"New","venue":"V","room":"sale","starts_at":"2031-06-01T20:00:00Z","status":"onsale","currency":"EUR"}`},
		{"/api/events/new/ticket-types/ga", `{"name":"GA","tiers":[{"name":"Std","price_cents":1500}]}`},
		{"/api/events/new/sections/main", `{"name":"Stalls","position":1}`},
		{"/api/events/new/zones/pit", `{"name":"Pit","capacity":100,"ticket_type_id":"ga"}`},
		{"/api/events/new/quotas/partners", `{"name":"Partners","kind":"partner"}`},
		{"/api/events/new/promo-codes/SPRING", `{"amount_off_cents":500,"max_uses":3}`},
	} {
		if code := put(c.path, c.body, auth...); code != http.StatusNoContent {
			t.Fatalf("PUT %s: %d", c.path, code)
		}
	}
	// Seat ids are unique within their event: "new" has an s4 of its own
	// in its own section "main", and the s4 of "show" stays as it was.
	if r := admin.do("PUT", "/admin/api/events/new/seats", `[{"id":"s4","section_id":"main","row":"B","number":"4","ticket_type_id":"ga"}]`, auth...); r.code != http.StatusNoContent {
		t.Fatalf("a seat id that another event uses: %d %s", r.code, r.body)
	}
	for _, want := range []booking.Seat{
		{ID: "s4", EventID: "new", SectionID: "main", Row: "B", Number: "4", TicketTypeID: "ga"},
		{ID: "s4", EventID: "show", SectionID: "main", Row: "A", Number: "4", TicketTypeID: "seat", X: 120, Y: 50},
	} {
		r := admin.do("GET", "/admin/api/events/"+want.EventID, "", auth...)
		var got struct {
			Seats []booking.Seat `json:"seats"`
		}
		if err := json.Unmarshal(r.body, &got); r.code != http.StatusOK || err != nil {
			t.Fatalf("GET event %s: %d %s", want.EventID, r.code, r.body)
		}
		if !slices.Contains(got.Seats, want) {
			t.Errorf("seats of %s: %+v, want one %+v", want.EventID, got.Seats, want)
		}
	}
	if r := admin.do("POST", "/admin/api/events/new/zones/pit/allocate", `{"quota_id":"partners","quantity":20}`, auth...); r.code != http.StatusNoContent {
		t.Fatalf("allocate: %d %s", r.code, r.body)
	}
	// The capacity is the pit's 100 places and seat s4.
	r := admin.do("GET", "/admin/api/events/new/summary", "", auth...)
	if r.code != 200 || r.json(t)["capacity"] != 101.0 || r.json(t)["available"] != 81.0 {
		t.Fatalf("summary: %d %s", r.code, r.body)
	}
	if r := admin.do("POST", "/admin/api/events/new/quotas/partners/release", `{"to":""}`, auth...); r.code != 200 || r.json(t)["moved"] != 20.0 {
		t.Fatalf("release: %d %s", r.code, r.body)
	}
	if r := admin.do("GET", "/admin/api/events/new/summary", "", auth...); r.json(t)["available"] != 101.0 {
		t.Errorf("after release: %s", r.body)
	}
	// Zones and quotas are found in the path's event: "show" has a zone
	// "floor" and a quota "vip", "new" has neither.
	for _, c := range []struct{ path, body string }{
		{"/admin/api/events/new/zones/floor/allocate", `{"quota_id":"partners","quantity":1}`},
		{"/admin/api/events/new/zones/pit/allocate", `{"quota_id":"vip","quantity":1}`},
		{"/admin/api/events/new/quotas/vip/release", `{"to":""}`},
		{"/admin/api/events/new/quotas/partners/release", `{"to":"vip"}`},
	} {
		if r := admin.do("POST", c.path, c.body, auth...); r.code != http.StatusNotFound {
			t.Errorf("POST %s %s: %d %s, want 404", c.path, c.body, r.code, r.body)
		}
	}
	if code := put("/api/events/bad", `{"name":"","venue":"V","room":"sale","starts_at":"2031-06-01T20:00:00Z","status":"onsale","currency":"EUR"}`, auth...); code != http.StatusBadRequest {
		t.Errorf("a bad event: %d", code)
	}
}
