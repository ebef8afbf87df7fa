package gateway

import (
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

// status is the status JSON of the outside contract.
type status struct {
	Room          string  `json:"room"`
	State         string  `json:"state"`
	Position      *int64  `json:"position"`
	Ahead         *int64  `json:"ahead"`
	ETASeconds    *int64  `json:"eta_seconds"`
	ETARange      []int64 `json:"eta_range_seconds"`
	Admitted      bool    `json:"admitted"`
	PollAfterMS   int64   `json:"poll_after_ms"`
	Entry         *int64  `json:"entry"`
	SoldOutLikely *bool   `json:"sold_out_likely"`
	Holding       *bool   `json:"holding"`
}

func (b *browser) status(g *testGateway) status {
	b.t.Helper()
	resp, body := b.get(g.URL+"/_usher/status?room=sale", "Accept", "application/json")
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("status: %d %s", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		b.t.Errorf("status Cache-Control = %q, want no-store", cc)
	}
	var s status
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		b.t.Fatalf("status body %q: %v", body, err)
	}
	return s
}

func (s status) position(t *testing.T) int64 {
	t.Helper()
	if s.Position == nil || s.Ahead == nil {
		t.Fatalf("status has no position: %+v", s)
	}
	if *s.Ahead != *s.Position-1 {
		t.Errorf("ahead %d with position %d", *s.Ahead, *s.Position)
	}
	return *s.Position
}

// join makes b join the room through the protected page and checks that it
// was queued, not admitted.
func (b *browser) join(g *testGateway) {
	b.t.Helper()
	resp, body := b.get(g.URL + "/events/1")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "in line") {
		b.t.Fatalf("join: %d, want the queue page; body starts %.200q", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		b.t.Errorf("queue page Cache-Control = %q, want no-store", cc)
	}
}

// TestPlaceIsKept: refresh, second tab, second instance, restart; and a place
// never moves backwards.
func TestPlaceIsKept(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			keys := newKeys(t)
			o := newOrigin(t, nil)
			setup := gatewaySetup{keys: keys, clock: clk, origin: o.URL, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) { r.RatePerMinute = 60 }}
			a, stopA := startGateway(t, setup)

			// A line ahead: the first joiners take the budget of the empty room.
			for range 20 {
				newBrowser(t).get(a.URL + "/events/")
			}
			fan := newBrowser(t)
			fan.join(a)
			a.tick(t) // the view every instance refreshes each tick
			first := fan.status(a).position(t)
			if first < 2 {
				t.Fatalf("position %d: the fan should wait behind the line", first)
			}

			// A refresh and a second tab share the cookie jar: same place.
			fan.join(a)
			if p := fan.status(a).position(t); p != first {
				t.Errorf("after a refresh: position %d, want %d", p, first)
			}

			// A second instance on the same store answers the same.
			setup.store = kind.open(t, clk.Now)
			b, _ := startGateway(t, setup)
			if p := fan.status(b).position(t); p != first {
				t.Errorf("through a second instance: position %d, want %d", p, first)
			}

			// Time passes; the line moves; the place only ever moves forward,
			// whichever instance answers.
			last := first
			for i := range 6 {
				clk.Add(time.Second)
				a.tick(t)
				b.tick(t)
				g := a
				if i%2 == 1 {
					g = b
				}
				p := fan.status(g).position(t)
				if p > last {
					t.Fatalf("position moved backwards: %d after %d", p, last)
				}
				last = p
			}
			if last >= first {
				t.Fatalf("the line did not move: position %d after %d", last, first)
			}

			// A restart of the gateway loses nothing: the place is in the
			// store and the ticket.
			stopA()
			setup.store = kind.open(t, clk.Now)
			a2, _ := startGateway(t, setup)
			if p := fan.status(a2).position(t); p != last {
				t.Errorf("after a restart: position %d, want %d", p, last)
			}
		})
	}
}

// TestAdmittedInArrivalOrder: 1,000 visitors who join one after another are
// admitted in exactly that order, polling in any order.
func TestAdmittedInArrivalOrder(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			o := newOrigin(t, nil)
			g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) { r.RatePerMinute, r.MaxActive, r.State = 6000, 100_000, "paused" }})
			// Paused while they arrive, so that nobody is admitted on joining.
			const n = 1000
			fans := make([]*browser, n)
			for i := range fans {
				fans[i] = newBrowser(t)
				fans[i].join(g)
				if p := fans[i].status(g).position(t); p != int64(i+1) {
					t.Fatalf("fan %d joined at position %d", i+1, p)
				}
			}
			setState(t, g.Gateway, "sale", admission.StateOpen)

			admittedAt := make([]int, n) // round in which each fan got through
			rng := rand.New(rand.NewPCG(1, 2))
			for round := 1; round <= 40; round++ {
				clk.Add(time.Second)
				g.tick(t)
				for _, i := range rng.Perm(n) {
					if admittedAt[i] == 0 && fans[i].status(g).Admitted {
						admittedAt[i] = round
					}
				}
				// Everyone admitted so far is exactly the first k arrivals.
				k := 0
				for k < n && admittedAt[k] != 0 {
					k++
				}
				for i := k; i < n; i++ {
					if admittedAt[i] != 0 {
						t.Fatalf("round %d: fan %d admitted while fan %d, who came earlier, still waits", round, i+1, k+1)
					}
				}
				if k == n {
					return
				}
			}
			t.Fatal("not everyone was admitted")
		})
	}
}

// TestRateAndCapacity: admissions per minute follow rate_per_minute within
// 10 % while enough visitors wait, and live passes never exceed max_active.
func TestRateAndCapacity(t *testing.T) {
	tests := []struct {
		name      string
		maxActive int
		minutes   int
	}{
		// Capacity to spare: the rate alone sets the pace.
		{"rate", 100_000, 4},
		// Capacity binds after 150; places free up as sessions end.
		{"capacity", 150, 5},
	}
	const rate, session = 120, 2 * time.Minute
	for _, kind := range storeKinds(t) {
		for _, tt := range tests {
			t.Run(kind.name+"/"+tt.name, func(t *testing.T) {
				clk := newClock()
				o := newOrigin(t, nil)
				g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: kind.open(t, clk.Now),
					room: func(r *RoomConfig) {
						r.RatePerMinute, r.MaxActive, r.Session, r.State = rate, tt.maxActive, config.Duration(session), "paused"
					}})
				n := rate*tt.minutes + 60
				fans := make([]*browser, n)
				for i := range fans {
					fans[i] = newBrowser(t)
					fans[i].join(g)
				}
				setState(t, g.Gateway, "sale", admission.StateOpen)

				passEnds := make([]time.Time, n)
				next := 0 // fans before next have been admitted
				perMinute := make([]int, tt.minutes)
				for sec := 1; sec <= tt.minutes*60; sec++ {
					clk.Add(time.Second)
					g.tick(t)
					served := g.ctrl.Room("sale").View().Served
					// Every offered fan claims at once, as a browser that
					// polls does.
					for next < n && int64(next+1) <= served {
						if !fans[next].status(g).Admitted {
							t.Fatalf("fan %d was offered admission but not admitted", next+1)
						}
						passEnds[next] = clk.Now().Add(session)
						perMinute[(sec-1)/60]++
						next++
					}
					live := 0
					for _, end := range passEnds[:next] {
						if end.After(clk.Now()) {
							live++
						}
					}
					if live > tt.maxActive {
						t.Fatalf("second %d: %d live passes, more than max_active %d", sec, live, tt.maxActive)
					}
				}
				t.Logf("admissions per minute: %v", perMinute)
				if tt.maxActive > n {
					for m, got := range perMinute {
						if got < rate*9/10 || got > rate*11/10 {
							t.Errorf("minute %d: %d admissions, want %d ± 10%%", m, got, rate)
						}
					}
					return
				}
				if got := perMinute[0]; got < rate*9/10 || got > rate*11/10 {
					t.Errorf("minute 0: %d admissions, want %d ± 10%%", got, rate)
				}
				if next <= tt.maxActive {
					t.Errorf("only %d admitted in %d minutes: ended sessions did not free places", next, tt.minutes)
				}
			})
		}
	}
}

// TestBadTokensAreNoTokens: a tampered, expired, wrong-room, wrong-kind,
// alg-none or unknown-kid pass is treated as no pass: the visitor sees the
// queue page, never an error, and the origin sees nothing.
func TestBadTokensAreNoTokens(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			keys := newKeys(t)
			o := newOrigin(t, nil)
			g, _ := startGateway(t, gatewaySetup{keys: keys, clock: clk, origin: o.URL, store: kind.open(t, clk.Now),
				room: func(r *RoomConfig) { r.State = "paused" }})
			for name, token := range badPasses(t, keys, clk) {
				t.Run(name, func(t *testing.T) {
					for _, cookie := range []string{"usher_pass_sale", "usher_ticket_sale"} {
						b := newBrowser(t)
						resp, body := b.get(g.URL+"/events/1", "Cookie", cookie+"="+token)
						if resp.StatusCode != http.StatusOK || !strings.Contains(body, "in line") {
							t.Errorf("%s=%s: status %d, want the queue page", cookie, name, resp.StatusCode)
						}
					}
				})
			}
			if _, _, hits := o.lastRequest(); hits != 0 {
				t.Errorf("the origin was reached %d times without a valid pass", hits)
			}
		})
	}
}

// TestWaitingClientsGetJSON: a client that asks for JSON gets 429 with
// Retry-After and the status body.
func TestWaitingClientsGetJSON(t *testing.T) {
	clk := newClock()
	o := newOrigin(t, nil)
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: storeKinds(t)[0].open(t, clk.Now),
		room: func(r *RoomConfig) { r.State = "paused" }})
	b := newBrowser(t)
	resp, body := b.get(g.URL+"/api/events", "Accept", "application/json")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", resp.StatusCode)
	}
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After = %q", ra)
	}
	var s status
	if err := json.Unmarshal([]byte(body), &s); err != nil || s.Room != "sale" || s.State != "paused" || s.Position == nil || *s.Position != 1 || s.ETASeconds != nil || s.Admitted {
		t.Errorf("body %s: %+v %v", body, s, err)
	}
	// The same client keeps its place through the status URL.
	if p := b.status(g).position(t); p != 1 {
		t.Errorf("status position %d, want 1", p)
	}
	// Without a ticket the status says so with nulls, and joins nobody.
	s = newBrowser(t).status(g)
	if s.Position != nil || s.Ahead != nil || s.Admitted {
		t.Errorf("status without a ticket: %+v", s)
	}
	g.tick(t)
	if joined := g.ctrl.Room("sale").View().Joined; joined != 1 {
		t.Errorf("%d joined, want 1: status must not join", joined)
	}
	// An unknown room is a 404.
	r, _ := b.get(g.URL+"/_usher/status?room=nope", "Accept", "application/json")
	if r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown room: %d", r.StatusCode)
	}
}

// TestAdmittedOnArrival: in a room with room to spare the first visitor goes
// straight through, with a pass the origin receives.
func TestAdmittedOnArrival(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			o := newOrigin(t, nil)
			g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: kind.open(t, clk.Now)})
			b := newBrowser(t)
			resp, body := b.get(g.URL + "/events/7?x=1")
			if resp.StatusCode != http.StatusOK || body != "origin /events/7?x=1" {
				t.Fatalf("got %d %q, want the origin's page", resp.StatusCode, body)
			}
			var pass string
			for _, c := range resp.Cookies() {
				if c.Name == "usher_pass_sale" {
					pass = c.Value
					if !c.HttpOnly || c.MaxAge != int((10*time.Minute)/time.Second) || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
						t.Errorf("pass cookie attributes: %+v", c)
					}
				}
			}
			if pass == "" {
				t.Fatal("no pass cookie set")
			}
			req, _, _ := o.lastRequest()
			if got := req.Header.Get("X-Usher-Pass"); got != pass {
				t.Errorf("origin got X-Usher-Pass %q, want the pass", got)
			}
			if s := b.status(g); !s.Admitted || *s.Position != 0 {
				t.Errorf("status after admission: %+v", s)
			}
		})
	}
}

// TestPreflightPassesThrough: a CORS preflight to a protected path reaches
// the origin without a pass and joins nobody.
func TestPreflightPassesThrough(t *testing.T) {
	clk := newClock()
	o := newOrigin(t, nil)
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: storeKinds(t)[0].open(t, clk.Now),
		room: func(r *RoomConfig) { r.State = "paused" }})
	req, _ := http.NewRequest(http.MethodOptions, g.URL+"/api/holds", nil)
	req.Header.Set("Origin", "https://other.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got, _, _ := o.lastRequest()
	if got == nil || got.Method != http.MethodOptions || len(resp.Cookies()) != 0 {
		t.Fatalf("preflight: origin saw %v, cookies %v", got, resp.Cookies())
	}
	g.tick(t)
	if joined := g.ctrl.Room("sale").View().Joined; joined != 0 {
		t.Errorf("a preflight joined the line (%d joined)", joined)
	}
}

// TestPassthrough: a room with no line lets every visitor through at once
// with a pass, without the queue store, until it is paused.
func TestPassthrough(t *testing.T) {
	clk := newClock()
	o := newOrigin(t, nil)
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) { r.Mode, r.MaxActive = "passthrough", 1 }})
	for i := range 5 {
		fan := newBrowser(t)
		resp, body := fan.get(g.URL + "/events/1")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
			t.Fatalf("visitor %d: %d %.100q", i, resp.StatusCode, body)
		}
		req, _, _ := o.lastRequest()
		if _, err := g.tokens.Verify([]byte(req.Header.Get(admission.PassHeader)), admission.KindPass, "sale"); err != nil {
			t.Errorf("visitor %d: the origin got no valid pass: %v", i, err)
		}
		// With the pass, the next request goes through as any admitted one.
		if resp, _ := fan.get(g.URL + "/events/2"); resp.StatusCode != 200 {
			t.Errorf("visitor %d, second request: %d", i, resp.StatusCode)
		}
	}
	g.tick(t)
	if v := g.ctrl.Room("sale").View(); v.Joined != 0 {
		t.Errorf("%d places made in a room with no line", v.Joined)
	}
	setState(t, g.Gateway, "sale", admission.StatePaused)
	newBrowser(t).join(g)
}

// TestSchedule: before opens_at a countdown and no line; from opens_at the
// prequeue, where fans join and wait in arrival order; from sale_starts_at
// admissions, first come first served.
func TestSchedule(t *testing.T) {
	clk := newClock()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) {
			r.OpensAt = queuetest.Start.Add(time.Hour).Format(time.RFC3339)
			r.SaleStartsAt = queuetest.Start.Add(2 * time.Hour).Format(time.RFC3339)
		}})
	early := newBrowser(t)
	resp, body := early.get(g.URL + "/events/1")
	if resp.StatusCode != 200 || !strings.Contains(body, "opens soon") || !strings.Contains(body, "The line opens on") {
		t.Fatalf("before opens_at: %d %.300q", resp.StatusCode, body)
	}
	if early.cookie(g.URL, admission.TicketCookie("sale")) != "" {
		t.Error("a ticket before the line opened")
	}
	if s := early.status(g); s.State != "scheduled" || s.Position != nil || s.PollAfterMS > 20_000 {
		t.Errorf("status before opens_at: %+v", s)
	}

	clk.Add(time.Hour)
	first, second := newBrowser(t), newBrowser(t)
	for _, b := range []*browser{first, second} {
		resp, body := b.get(g.URL + "/events/1")
		if resp.StatusCode != 200 || !strings.Contains(body, "The sale starts on") {
			t.Fatalf("in the prequeue: %d %.300q", resp.StatusCode, body)
		}
	}
	g.tick(t)
	if s := first.status(g); s.State != "prequeue" || s.position(t) != 1 || s.Admitted {
		t.Errorf("first in the prequeue: %+v", s)
	}
	if v := g.ctrl.Room("sale").View(); v.Served != 0 {
		t.Errorf("%d offered before the sale started", v.Served)
	}

	clk.Add(time.Hour)
	g.tick(t)
	if s := first.status(g); !s.Admitted {
		t.Errorf("first after the sale started: %+v", s)
	}
}

// TestOriginEndsSession: the origin answers X-Usher-Command: revoke after a
// checkout; the gateway strips it, removes the pass, and the capacity goes
// to the next visitor in line at once.
func TestOriginEndsSession(t *testing.T) {
	clk := newClock()
	o := newOrigin(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/events/done", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Usher-Command", "revoke")
			_, _ = io.WriteString(w, "thank you")
		})
		mux.HandleFunc("/about", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Usher-Command", "revoke")
			_, _ = io.WriteString(w, "about")
		})
	})
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) { r.MaxActive = 1 }})
	first, second := newBrowser(t), newBrowser(t)
	if resp, body := first.get(g.URL + "/events/1"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
		t.Fatalf("first: %d %.80q", resp.StatusCode, body)
	}
	second.join(g)

	resp, body := first.get(g.URL + "/events/done")
	if resp.StatusCode != 200 || body != "thank you" || resp.Header.Get("X-Usher-Command") != "" {
		t.Fatalf("checkout done: %d %q, X-Usher-Command %q", resp.StatusCode, body, resp.Header.Get("X-Usher-Command"))
	}
	if first.cookie(g.URL, admission.PassCookie("sale")) != "" {
		t.Error("the pass stayed after the origin ended the session")
	}
	clk.Add(time.Second)
	g.tick(t)
	if s := second.status(g); !s.Admitted {
		t.Errorf("the next visitor after the session ended: %+v", s)
	}
	// Outside the rooms the command is stripped too.
	if resp, _ := first.get(g.URL + "/about"); resp.Header.Get("X-Usher-Command") != "" {
		t.Error("X-Usher-Command reached a visitor outside the rooms")
	}
}

// TestSoldOutLikely: with the tickets left known, the visitors whose turn
// comes after the shoppers inside and the visitors ahead would likely have
// bought them all are told so, on the page and in the status; those before
// them are not.
func TestSoldOutLikely(t *testing.T) {
	clk := newClock()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: newOrigin(t, nil).URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) { r.MaxActive = 2 }})
	fans := make([]*browser, 8)
	for i := range fans {
		fans[i] = newBrowser(t)
		fans[i].get(g.URL + "/events/1")
	}
	g.tick(t)
	// Two shoppers inside, six waiting; ten tickets left at two a shopper:
	// the shoppers inside and three more buy them all.
	g.ctrl.Room("sale").SetInventory(10, 2)
	for i, f := range fans[2:] {
		s := f.status(g)
		resp, body := f.get(g.URL + "/events/1")
		page := resp.StatusCode == 200 && strings.Contains(body, `role="status">At the pace tickets are selling`)
		likely := s.SoldOutLikely != nil && *s.SoldOutLikely
		if want := s.position(t) > 3; likely != want || page != want {
			t.Errorf("waiting visitor %d, position %d: sold_out_likely %v, page says so %v; want %v", i, s.position(t), likely, page, want)
		}
	}
}
