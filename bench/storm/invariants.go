package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/usherhq/usher/bench/storm/report"
)

// settleEvery is how often orders still waiting for their payment are read
// again after the run.
const settleEvery = time.Second

// settleOrders reads every order the storm made once more, through its
// owner (orders are only their maker's), and again every settleEvery while
// one whose card was charged is still pending, until ctx ends: a payment's
// webhook may land after its fan stopped looking. An order that cannot be
// read (its owner's pass refused, as a shared pass's is) keeps what its
// owner last saw.
func (st *storm) settleOrders(ctx context.Context) {
	orders := st.ledger.all()
	// What is read now is no part of the storm's traffic: it goes
	// unrecorded.
	quiet := *st.env
	quiet.rec = newRecorder(time.Now())
	for {
		var wg sync.WaitGroup
		for _, p := range orders {
			if p.settled {
				continue
			}
			wg.Go(func() {
				c := *p.owner
				c.env = &quiet
				a, err := c.request(ctx, kindProxied, "GET", "/api/orders/"+url.PathEscape(p.id), acceptJSON, "", "", nil, nil)
				if err != nil || a.status != 200 {
					return
				}
				var o orderJSON
				if json.Unmarshal(a.body, &o) == nil {
					p.last = o
					p.settled = o.Status != "pending" || !p.paid
				}
			})
		}
		wg.Wait()
		pending := false
		for _, p := range orders {
			pending = pending || (!p.settled && p.paid)
		}
		if !pending || !sleep(ctx, settleEvery) {
			return
		}
	}
}

// eventSummary is the booking operator API's summary of an event.
type eventSummary struct {
	Capacity int `json:"capacity"`
	Sold     int `json:"sold"`
}

// judge fills in the invariants from the storm's orders and the booking
// backend's summaries, and names every one that broke.
//
// Double charges can be judged only from orders: the operator API lists
// no payments. They are counted on the storm's own orders (every order it
// made, read again after the run), which is where a storm can cause them:
// the same order submitted twice, the card form posted twice.
func (st *storm) judge(ctx context.Context, res *report.Results) error {
	type place struct{ event, id string }
	seen := map[place]int{} // places of paid orders
	ticketsByEvent := map[string]int{}
	for _, p := range st.ledger.all() {
		o := p.last
		captured := 0
		for _, pay := range o.Payments {
			if pay.Status == "succeeded" {
				captured++
			}
		}
		res.DoubleCharges += max(captured-1, 0)
		live := 0
		for _, t := range o.Tickets {
			if !t.Void {
				live++
			}
		}
		switch {
		case o.Status == "paid" && live < len(o.Items):
			res.PaidWithoutTickets++
		case o.Status != "paid" && live > 0:
			res.TicketsWithoutPayment += live
		}
		if o.Status == "paid" {
			ticketsByEvent[o.EventID] += live
			for _, it := range o.Items {
				seen[place{o.EventID, it.PlaceID}]++
			}
		}
	}
	for _, n := range seen {
		res.Oversold += n - 1 // one place in two paid orders
	}

	if st.cfg.bookingAdmin != "" {
		for _, ev := range st.events {
			var s eventSummary
			if err := st.adminCall(ctx, "GET", st.cfg.bookingAdmin, "/api/events/"+url.PathEscape(ev)+"/summary", nil, &s); err != nil {
				return fmt.Errorf("check the books: %w", err)
			}
			res.Capacity += s.Capacity
			res.TicketsSold += s.Sold
			res.Oversold += max(s.Sold-s.Capacity, 0)
			// More live tickets than sold places: a ticket for a place
			// the books do not count as sold.
			res.Oversold += max(ticketsByEvent[ev]-s.Sold, 0)
			if st.cfg.exclusive {
				// Nobody else buys: every sold place is one of the storm's
				// tickets.
				res.TicketsWithoutPayment += max(s.Sold-ticketsByEvent[ev], 0)
			}
		}
	} else {
		for _, n := range ticketsByEvent {
			res.TicketsSold += n
		}
	}
	res.Violations = violations(res)
	return nil
}

// violations names each broken invariant of res.
func violations(res *report.Results) []string {
	var v []string
	if res.Oversold > 0 {
		v = append(v, fmt.Sprintf("oversold: %d place(s) sold more than once or beyond capacity", res.Oversold))
	}
	if res.DoubleCharges > 0 {
		v = append(v, fmt.Sprintf("double charge: %d extra captured payment(s)", res.DoubleCharges))
	}
	if res.PaidWithoutTickets > 0 {
		v = append(v, fmt.Sprintf("paid without tickets: %d paid order(s) lack tickets", res.PaidWithoutTickets))
	}
	if res.TicketsWithoutPayment > 0 {
		v = append(v, fmt.Sprintf("tickets without payment: %d ticket(s) or sold place(s) without a paid order", res.TicketsWithoutPayment))
	}
	if res.MaxActive > 0 && res.MaxActiveSeen > res.MaxActive {
		v = append(v, fmt.Sprintf("admission above max_active: %d passes live, max_active %d", res.MaxActiveSeen, res.MaxActive))
	}
	return v
}
