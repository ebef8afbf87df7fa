package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"time"
)

// The simulated provider's test card that pays.
const testCard = "4242 4242 4242 4242"

// Bounds of the shopping steps.
const (
	maxHoldTries   = 3
	maxOrderPolls  = 120
	orderPollEvery = 500 * time.Millisecond
)

// availabilityJSON is GET /api/events/{id}/availability.
type availabilityJSON struct {
	Seats map[string]string `json:"seats"`
	Zones map[string]struct {
		Available int `json:"available"`
	} `json:"zones"`
}

// orderJSON is the part of an order the storm reads.
type orderJSON struct {
	OrderID string `json:"order_id"`
	EventID string `json:"event_id"`
	Status  string `json:"status"`
	Items   []struct {
		PlaceID string `json:"place_id"`
	} `json:"items"`
	Payment *struct {
		CheckoutURL string `json:"checkout_url"`
	} `json:"payment"`
	Payments []struct {
		PaymentID string `json:"payment_id"`
		Status    string `json:"status"`
	} `json:"payments"`
	Tickets []struct {
		TicketID string `json:"ticket_id"`
		EventID  string `json:"event_id"`
		Label    string `json:"label"`
		Void     bool   `json:"void"`
	} `json:"tickets"`
}

// placed is an order the storm made, kept to check after the run.
type placed struct {
	owner   *client
	id      string
	bot     bool
	paid    bool // the card form was posted with the paying card
	last    orderJSON
	settled bool
}

// ledger is every order the storm made. Safe for concurrent use.
type ledger struct {
	mu     sync.Mutex
	orders []*placed
}

func (l *ledger) add(p *placed) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.orders = append(l.orders, p)
}

// all is a copy of the list of orders.
func (l *ledger) all() []*placed {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.orders)
}

// shopper is how a client behaves in the shop: which events it may buy,
// when it walks away, and how clumsy it is.
type shopper struct {
	events  []string
	rng     *rand.Rand
	abandon func(step string) bool // true: leave at this step
	double  bool                   // submits the order and the card form twice, as an impatient double click
	ledger  *ledger
}

// buy is the way from a pass to tickets: the seat map, a hold (seats or
// standing places, 1 to 4; on a conflict other places, a few times), an
// order, the card form, the order until it is paid, then each ticket. It
// returns how many tickets the client got, and whether it walked away.
func (c *client) buy(ctx context.Context, s shopper) (tickets int, abandoned bool) {
	if len(s.events) == 0 {
		return 0, false
	}
	ev := s.events[s.rng.IntN(len(s.events))]
	if _, err := c.request(ctx, kindProxied, "GET", "/events/"+url.PathEscape(ev), acceptHTML, "", "", nil, refused); err != nil {
		return 0, false
	}
	holdID := ""
	want := 1 + s.rng.IntN(4)
	for range maxHoldTries {
		a, err := c.request(ctx, kindProxied, "GET", "/api/events/"+url.PathEscape(ev)+"/availability", acceptJSON, "", "", nil, refused)
		if err != nil || a.status != 200 {
			return 0, false
		}
		var av availabilityJSON
		if json.Unmarshal(a.body, &av) != nil {
			return 0, false
		}
		body, ok := pickPlaces(av, ev, want, s.rng)
		if !ok {
			return 0, false // sold out
		}
		h, err := c.request(ctx, kindProxied, "POST", "/api/holds", acceptJSON, "application/json", body, nil, refused)
		if err != nil {
			return 0, false
		}
		if h.status == 201 {
			var out struct {
				HoldID string `json:"hold_id"`
			}
			_ = json.Unmarshal(h.body, &out)
			holdID = out.HoldID
			break
		}
		if h.status != 409 {
			return 0, false
		}
	}
	if holdID == "" {
		return 0, false
	}
	if s.abandon("hold") {
		return 0, true
	}

	key := fmt.Sprintf("storm-%x", s.rng.Uint64())
	body := fmt.Sprintf(`{"hold_id":%q}`, holdID)
	hdr := map[string]string{"Idempotency-Key": key}
	a, err := c.request(ctx, kindProxied, "POST", "/api/orders", acceptJSON, "application/json", body, hdr, refused)
	if err != nil || a.status != 201 {
		return 0, false
	}
	var o orderJSON
	if json.Unmarshal(a.body, &o) != nil || o.OrderID == "" {
		return 0, false
	}
	p := &placed{owner: c, id: o.OrderID, bot: c.bot != "", last: o}
	s.ledger.add(p)
	if s.double {
		// The same key and body again: the same order must come back.
		if again, err := c.request(ctx, kindProxied, "POST", "/api/orders", acceptJSON, "application/json", body, hdr, refused); err == nil {
			var o2 orderJSON
			if json.Unmarshal(again.body, &o2) == nil && o2.OrderID != "" && o2.OrderID != o.OrderID {
				s.ledger.add(&placed{owner: c, id: o2.OrderID, bot: c.bot != "", last: o2})
			}
		}
	}
	if s.abandon("order") || o.Payment == nil || o.Payment.CheckoutURL == "" {
		return 0, true
	}

	checkout := o.Payment.CheckoutURL
	if _, err := c.request(ctx, kindPay, "GET", checkout, acceptHTML, "", "", nil, refused); err != nil {
		return 0, false
	}
	form := "card=" + url.QueryEscape(testCard) + "&exp=12%2F34&cvc=123&name=Storm+Fan"
	posts := 1
	if s.double {
		posts = 2
	}
	for range posts {
		pa, err := c.request(ctx, kindPay, "POST", checkout, acceptHTML, "application/x-www-form-urlencoded", form, nil, refused)
		if err != nil {
			return 0, false
		}
		if pa.status == 303 || pa.status == 200 {
			p.paid = true
		}
	}
	if s.abandon("pay") {
		return 0, true
	}

	for range maxOrderPolls {
		if !sleep(ctx, orderPollEvery) {
			return 0, false
		}
		a, err := c.request(ctx, kindProxied, "GET", "/api/orders/"+url.PathEscape(o.OrderID), acceptJSON, "", "", nil, refused)
		if err != nil || a.status != 200 || json.Unmarshal(a.body, &o) != nil {
			continue
		}
		p.last = o
		if o.Status != "pending" {
			break
		}
	}
	if o.Status != "paid" {
		return 0, false
	}
	for _, t := range o.Tickets {
		if _, err := c.request(ctx, kindProxied, "GET", "/api/tickets/"+url.PathEscape(t.TicketID), acceptJSON, "", "", nil, refused); err != nil {
			break
		}
		tickets++
	}
	return tickets, false
}

// pickPlaces chooses want places that the availability shows free: seats
// next to each other in the id order when the event has enough (six times
// in ten when it also has standing room), else places in a standing zone
// with enough left; fewer when that is all there is. It returns the hold
// request's body, or false when nothing is left.
func pickPlaces(av availabilityJSON, event string, want int, rng *rand.Rand) (string, bool) {
	var free []string
	for id, st := range av.Seats {
		if st == "a" {
			free = append(free, id)
		}
	}
	slices.Sort(free)
	var zones []string
	for id, z := range av.Zones {
		if z.Available > 0 {
			zones = append(zones, id)
		}
	}
	slices.Sort(zones)
	useSeats := len(free) > 0 && (len(zones) == 0 || rng.Float64() < 0.6)
	if useSeats {
		n := min(want, len(free))
		start := rng.IntN(len(free) - n + 1)
		b, _ := json.Marshal(map[string]any{"event_id": event, "seat_ids": free[start : start+n]})
		return string(b), true
	}
	if len(zones) == 0 {
		return "", false
	}
	z := zones[rng.IntN(len(zones))]
	n := min(want, av.Zones[z].Available)
	b, _ := json.Marshal(map[string]any{"event_id": event, "zone_id": z, "quantity": n})
	return string(b), true
}
