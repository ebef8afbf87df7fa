// Package storetest is the conformance suite of booking.Store: every
// implementation runs the same cases, so that the SQLite and PostgreSQL
// stores answer alike, call for call, and neither sells a place twice.
//
// Time is whatever the cases pass as now: no case sleeps or reads the
// clock, and a hold expires because a case asks a minute later.
package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/booking"
)

// Run runs the conformance suite against the stores that open makes: an
// empty store for one test, released (with anything it left behind) in
// t.Cleanup. Each case has a store of its own; cases run in parallel.
func Run(t *testing.T, open func(t *testing.T) booking.Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, s booking.Store)
	}{
		{"catalogue round trips", testCatalogue},
		{"ids are unique within their event", testIDsPerEvent},
		{"events are filtered and ordered", testEvents},
		{"missing ids are not found", testNotFound},
		{"bad input is invalid", testInvalid},
		{"zone grows and shrinks", testZoneSize},
		{"allocate zone and release quota", testQuotaMoves},
		{"seat quotas", testSeatQuotas},
		{"concurrent seat holds never overlap", testConcurrentSeatHolds},
		{"concurrent zone holds never exceed capacity", testConcurrentZoneHolds},
		{"an expired hold frees its places at once", testExpiry},
		{"holds are all or nothing", testAllOrNothing},
		{"presale codes unlock quotas", testPresale},
		{"presale MaxUses under concurrency", testPresaleMaxUses},
		{"not on sale", testNotOnSale},
		{"per-order limit", testPerOrderLimit},
		{"per-account limit across holds and orders", testPerAccountLimit},
		{"per-account limit under concurrency", testPerAccountConcurrent},
		{"release hold", testReleaseHold},
		{"prices follow tiers", testPrices},
		{"create order", testCreateOrder},
		{"create order is idempotent", testIdempotency},
		{"one key under concurrency makes one order", testIdempotencyConcurrent},
		{"promo codes", testPromo},
		{"promo use comes back", testPromoGiveBack},
		{"payment attempts", testPaymentAttempts},
		{"confirm payment issues tickets once", testConfirm},
		{"concurrent confirmations issue one set of tickets", testConfirmConcurrent},
		{"late payment with places free", testLatePaymentFree},
		{"late payment with a place lost", testLatePaymentLost},
		{"declined attempt then success", testDeclinedThenPaid},
		{"confirmation of a cancelled order", testConfirmCancelled},
		{"a second charge is refunded", testSecondCharge},
		{"expire orders", testExpireOrders},
		{"cancel order", testCancelOrder},
		{"refund voids tickets", testRefund},
		{"check in", testCheckIn},
		{"concurrent check-ins admit once", testCheckInConcurrent},
		{"webhook inbox", testWebhooks},
		{"outbox", testOutbox},
		{"summary", testSummary},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, open(t))
		})
	}
}

// t0 is when every case happens, give or take minutes.
var t0 = time.Date(2030, 6, 1, 18, 0, 0, 0, time.UTC)

// ttl is the hold time of the cases.
const ttl = 10 * time.Minute

// seq makes ids unique within a test run.
var seq atomic.Int64

func newID(prefix string) string { return fmt.Sprintf("%s-%d", prefix, seq.Add(1)) }

// spec describes an event to make.
type spec struct {
	seats, zone                int // seats in one row; capacity of one zone (0: none)
	maxPerOrder, maxPerAccount int
	tiers                      []booking.PriceTier // default: one tier at 50.00
	status                     booking.EventStatus // default: on sale
	// sharedIDs names the catalogue as every event of a venue would:
	// section "stalls", ticket type "std", seats "A1", "A2", …, zone
	// "floor". By default each id starts with the event's id.
	sharedIDs bool
}

// fixture is an event made for a case.
type fixture struct {
	ev         booking.Event
	section    string
	ticketType string
	seats      []string // row A, seats 1, 2, …
	zone       string   // empty without one
}

// makeEvent makes an event on sale from an hour before t0 to a day after,
// with one section of seats and one zone, as sp says.
func makeEvent(t testing.TB, s booking.Store, sp spec) fixture {
	t.Helper()
	ctx := t.Context()
	id := newID("ev")
	prefix := id + "-"
	if sp.sharedIDs {
		prefix = ""
	}
	f := fixture{section: prefix + "stalls", ticketType: prefix + "std"}
	f.ev = booking.Event{
		ID: id, Name: "Concert " + id, Venue: "Hall", Room: "room-" + id,
		StartsAt: t0.Add(30 * 24 * time.Hour), OnSaleFrom: t0.Add(-time.Hour), OnSaleUntil: t0.Add(24 * time.Hour),
		Status: booking.EventOnSale, Currency: "EUR",
		MaxPerOrder: sp.maxPerOrder, MaxPerAccount: sp.maxPerAccount,
	}
	if sp.status != "" {
		f.ev.Status = sp.status
	}
	tiers := sp.tiers
	if tiers == nil {
		tiers = []booking.PriceTier{{Name: "Standard", PriceCents: 5000}}
	}
	must(t, s.PutEvent(ctx, f.ev))
	must(t, s.PutTicketType(ctx, booking.TicketType{ID: f.ticketType, EventID: id, Name: "Standard", Tiers: tiers}))
	must(t, s.PutSection(ctx, booking.Section{ID: f.section, EventID: id, Name: "Stalls", Position: 1}))
	var seats []booking.Seat
	for i := range sp.seats {
		seat := booking.Seat{ID: fmt.Sprintf("%sA%d", prefix, i+1), EventID: id, SectionID: f.section,
			Row: "A", Number: fmt.Sprint(i + 1), TicketTypeID: f.ticketType, X: float64(i), Y: 1}
		seats = append(seats, seat)
		f.seats = append(f.seats, seat.ID)
	}
	if len(seats) > 0 {
		must(t, s.PutSeats(ctx, seats))
	}
	if sp.zone > 0 {
		f.zone = prefix + "floor"
		must(t, s.PutZone(ctx, booking.Zone{ID: f.zone, EventID: id, Name: "Standing", Capacity: sp.zone, TicketTypeID: f.ticketType}))
	}
	return f
}

// seatReq asks for seats for account at now.
func (f fixture) seatReq(account string, now time.Time, seats ...string) booking.HoldRequest {
	return booking.HoldRequest{HoldID: newID("hold"), EventID: f.ev.ID, SeatIDs: seats,
		Account: account, Now: now, TTL: ttl}
}

// zoneReq asks for n zone places for account at now.
func (f fixture) zoneReq(account string, now time.Time, n int) booking.HoldRequest {
	return booking.HoldRequest{HoldID: newID("hold"), EventID: f.ev.ID, ZoneID: f.zone, Quantity: n,
		Account: account, Now: now, TTL: ttl}
}

// hold takes r and fails the test if it cannot.
func hold(t testing.TB, s booking.Store, r booking.HoldRequest) booking.Hold {
	t.Helper()
	h, err := s.Hold(t.Context(), r)
	if err != nil {
		t.Fatalf("hold %v%v: %v", r.SeatIDs, r.ZoneID, err)
	}
	return h
}

// order turns a hold into an order at now.
func order(t testing.TB, s booking.Store, h booking.Hold, promo string, now time.Time) booking.Order {
	t.Helper()
	o, _, err := s.CreateOrder(t.Context(), booking.OrderRequest{OrderID: newID("order"), HoldID: h.ID,
		Account: h.Account, PromoCode: promo, IdempotencyKey: newID("key"), RequestHash: "h", Now: now})
	if err != nil {
		t.Fatalf("create order for hold %s: %v", h.ID, err)
	}
	return o
}

// startPayment starts a payment attempt of o at now.
func startPayment(t testing.TB, s booking.Store, o booking.Order, now time.Time) booking.Payment {
	t.Helper()
	p, err := s.StartPayment(t.Context(), newID("pay"), o.ID, now)
	if err != nil {
		t.Fatalf("start payment of %s: %v", o.ID, err)
	}
	return p
}

// confirmPayment confirms p at now.
func confirmPayment(t testing.TB, s booking.Store, p booking.Payment, now time.Time) booking.Confirmation {
	t.Helper()
	c, err := s.ConfirmPayment(t.Context(), p.ID, ticketIDs, now)
	if err != nil {
		t.Fatalf("confirm payment %s: %v", p.ID, err)
	}
	return c
}

// pay starts a payment of o and confirms it at now.
func pay(t testing.TB, s booking.Store, o booking.Order, now time.Time) booking.Confirmation {
	t.Helper()
	return confirmPayment(t, s, startPayment(t, s, o, now), now)
}

// buy holds, orders and pays for r at now.
func buy(t testing.TB, s booking.Store, r booking.HoldRequest) booking.Order {
	t.Helper()
	c := pay(t, s, order(t, s, hold(t, s, r), "", r.Now), r.Now)
	if c.Order.Status != booking.OrderPaid {
		t.Fatalf("order %s is %s, want paid", c.Order.ID, c.Order.Status)
	}
	return c.Order
}

// ticketIDs makes n fresh ticket ids.
func ticketIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newID("ticket")
	}
	return ids
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless err is target.
func wantErr(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

// itemSeats lists the seats of items, sorted.
func itemSeats(items []booking.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.SeatID)
	}
	slices.Sort(out)
	return out
}

// sorted returns a sorted copy.
func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// availability reads f's inventory at now.
func availability(t testing.TB, s booking.Store, f fixture, now time.Time) booking.Availability {
	t.Helper()
	a, err := s.Availability(t.Context(), f.ev.ID, now)
	if err != nil {
		t.Fatalf("availability: %v", err)
	}
	return a
}

// seatsIn lists the seats of a that are in state st, sorted.
func seatsIn(a booking.Availability, st booking.PlaceState) []string {
	var out []string
	for id, s := range a.Seats {
		if s == st {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
