package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/booking"
)

func testCreateOrder(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 4})
	h := hold(t, s, f.seatReq("fan", t0, f.seats[0], f.seats[1]))
	now := t0.Add(time.Minute)
	o, _, err := s.CreateOrder(ctx, booking.OrderRequest{OrderID: newID("order"), HoldID: h.ID,
		Account: "fan", Email: "fan@example.com", IdempotencyKey: newID("key"), RequestHash: "h", Now: now})
	must(t, err)
	want := booking.Order{ID: o.ID, EventID: f.ev.ID, HoldID: h.ID, Account: "fan", Status: booking.OrderPending,
		Items: h.Items, SubtotalCents: 10000, TotalCents: 10000, Currency: "EUR", Email: "fan@example.com",
		CreatedAt: now, ExpiresAt: h.ExpiresAt}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("order:\n got %+v\nwant %+v", o, want)
	}
	got, err := s.GetOrder(ctx, o.ID)
	must(t, err)
	if !reflect.DeepEqual(got, o) {
		t.Errorf("read back:\n got %+v\nwant %+v", got, o)
	}
	// The places stay held while the order waits for payment.
	if held := seatsIn(availability(t, s, f, now), booking.PlaceHeld); len(held) != 2 {
		t.Errorf("%d seats held by a pending order, want 2", len(held))
	}
	if hh, _ := s.GetHold(ctx, h.ID); !hh.Released {
		t.Error("ordered hold is not marked released")
	}

	tests := []struct {
		name    string
		hold    booking.Hold
		account string
		now     time.Time
		want    error
	}{
		{"used hold", h, "fan", now, booking.ErrHoldUsed},
		{"someone else's hold", hold(t, s, f.seatReq("fan", t0, f.seats[2])), "thief", now, booking.ErrNotFound},
		{"expired hold", hold(t, s, f.seatReq("late", t0, f.seats[3])), "late", t0.Add(ttl), booking.ErrHoldExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateOrder(ctx, booking.OrderRequest{OrderID: newID("order"), HoldID: tc.hold.ID,
				Account: tc.account, IdempotencyKey: newID("key"), RequestHash: "h", Now: tc.now})
			wantErr(t, err, tc.want)
		})
	}
}

func testIdempotency(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 2})
	h := hold(t, s, f.seatReq("fan", t0, f.seats[0]))
	req := booking.OrderRequest{OrderID: "first", HoldID: h.ID, Account: "fan", IdempotencyKey: "k1", RequestHash: "abc", Now: t0}
	o, replayed, err := s.CreateOrder(ctx, req)
	must(t, err)
	if replayed {
		t.Error("first request reported replayed")
	}
	req.OrderID = "second"
	again, replayed, err := s.CreateOrder(ctx, req)
	must(t, err)
	if !replayed || again.ID != "first" {
		t.Errorf("repeat: order %s, replayed %v; want the first order, replayed", again.ID, replayed)
	}
	_, err = s.GetOrder(ctx, "second")
	wantErr(t, err, booking.ErrNotFound)

	req.RequestHash = "other"
	_, _, err = s.CreateOrder(ctx, req)
	wantErr(t, err, booking.ErrIdempotencyMismatch)

	// Keys belong to their account.
	h2 := hold(t, s, f.seatReq("someone", t0, f.seats[1]))
	o2, replayed, err := s.CreateOrder(ctx, booking.OrderRequest{OrderID: "third", HoldID: h2.ID, Account: "someone",
		IdempotencyKey: "k1", RequestHash: "abc", Now: t0})
	must(t, err)
	if replayed || o2.ID != "third" || o.ID != "first" {
		t.Errorf("another account's key: order %s, replayed %v", o2.ID, replayed)
	}
}

func testIdempotencyConcurrent(t *testing.T, s booking.Store) {
	f := makeEvent(t, s, spec{seats: 1})
	h := hold(t, s, f.seatReq("fan", t0, f.seats[0]))
	orders := make([]booking.Order, 20)
	replays := make([]bool, 20)
	errs := make([]error, 20)
	race(t, s, 20, func(i int) {
		orders[i], replays[i], errs[i] = s.CreateOrder(t.Context(), booking.OrderRequest{OrderID: fmt.Sprintf("o%d", i),
			HoldID: h.ID, Account: "fan", IdempotencyKey: "same", RequestHash: "abc", Now: t0})
	})
	fresh := 0
	for i, err := range errs {
		must(t, err)
		if orders[i].ID != orders[0].ID {
			t.Errorf("request %d got order %s, request 0 got %s", i, orders[i].ID, orders[0].ID)
		}
		if !replays[i] {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d requests made an order, want 1", fresh)
	}
}

func testPromo(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 7, tiers: []booking.PriceTier{{Name: "Odd", PriceCents: 3333}}})
	must(t, s.PutPromoCode(ctx, booking.PromoCode{Code: "PCT", EventID: f.ev.ID, PercentOff: 15}))
	must(t, s.PutPromoCode(ctx, booking.PromoCode{Code: "BIG", EventID: f.ev.ID, AmountOffCents: 50000}))
	must(t, s.PutPromoCode(ctx, booking.PromoCode{Code: "ONCE", EventID: f.ev.ID, AmountOffCents: 500, MaxUses: 1}))
	tests := []struct {
		name, code         string
		seats              []string
		subtotal, discount int64
		wantErr            error
	}{
		{"percent rounds down", "PCT", f.seats[0:3], 9999, 1499, nil},
		{"amount never below zero", "BIG", f.seats[3:4], 3333, 3333, nil},
		{"limited code", "ONCE", f.seats[4:5], 3333, 500, nil},
		{"used up", "ONCE", f.seats[5:6], 0, 0, booking.ErrBadCode},
		{"unknown", "NOPE", f.seats[6:7], 0, 0, booking.ErrBadCode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hold(t, s, f.seatReq(newID("fan"), t0, tc.seats...))
			o, _, err := s.CreateOrder(ctx, booking.OrderRequest{OrderID: newID("order"), HoldID: h.ID, Account: h.Account,
				PromoCode: tc.code, IdempotencyKey: "k", RequestHash: "h", Now: t0})
			if tc.wantErr != nil {
				wantErr(t, err, tc.wantErr)
				// The hold is not used up by a refused order.
				order(t, s, h, "", t0)
				return
			}
			must(t, err)
			if o.SubtotalCents != tc.subtotal || o.DiscountCents != tc.discount || o.TotalCents != tc.subtotal-tc.discount || o.PromoCode != tc.code {
				t.Errorf("order %+v, want subtotal %d, discount %d", o, tc.subtotal, tc.discount)
			}
		})
	}
	pc, err := s.PromoCode(ctx, f.ev.ID, "ONCE")
	must(t, err)
	if pc.Used != 1 {
		t.Errorf("ONCE used %d times, want 1", pc.Used)
	}
}

// testPromoGiveBack: an order that expires, is cancelled or fails gives its
// use of a code back, and a late payment of an expired order takes it again.
func testPromoGiveBack(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 5})
	must(t, s.PutPromoCode(ctx, booking.PromoCode{Code: "ONCE", EventID: f.ev.ID, PercentOff: 50, MaxUses: 1}))
	used := func(want int) {
		t.Helper()
		pc, err := s.PromoCode(ctx, f.ev.ID, "ONCE")
		must(t, err)
		if pc.Used != want {
			t.Errorf("code used %d times, want %d", pc.Used, want)
		}
	}
	// Expiry.
	o := order(t, s, hold(t, s, f.seatReq("a", t0, f.seats[0])), "ONCE", t0)
	p := startPayment(t, s, o, t0)
	used(1)
	if n, err := s.ExpireOrders(ctx, t0.Add(ttl)); err != nil || n != 1 {
		t.Fatalf("expire: %d, %v", n, err)
	}
	used(0)
	// A late payment that can still have its seat takes the use again.
	late := confirmPayment(t, s, p, t0.Add(ttl+time.Minute))
	if late.Order.Status != booking.OrderPaid || late.Order.DiscountCents != 2500 {
		t.Errorf("late payment: %+v", late.Order)
	}
	used(1)

	// Cancellation.
	now := t0.Add(time.Hour)
	o = order(t, s, hold(t, s, f.seatReq("b", now, f.seats[1])), "", now)
	must(t, s.CancelOrder(ctx, o.ID, now))
	must(t, s.PutPromoCode(ctx, booking.PromoCode{Code: "ONCE", EventID: f.ev.ID, PercentOff: 50, MaxUses: 2}))
	o = order(t, s, hold(t, s, f.seatReq("c", now, f.seats[2])), "ONCE", now)
	used(2)
	must(t, s.CancelOrder(ctx, o.ID, now))
	used(1)

	// Failure: paid after the seat went to someone else.
	o = order(t, s, hold(t, s, f.seatReq("d", now, f.seats[3])), "ONCE", now)
	p = startPayment(t, s, o, now)
	used(2)
	hold(t, s, f.seatReq("e", now.Add(ttl), f.seats[3]))
	c := confirmPayment(t, s, p, now.Add(ttl+time.Minute))
	if c.Order.Status != booking.OrderFailed {
		t.Fatalf("order %s, want failed", c.Order.Status)
	}
	used(1)
}

func testPaymentAttempts(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 2})
	o := order(t, s, hold(t, s, f.seatReq("fan", t0, f.seats[0])), "", t0)
	p1, err := s.StartPayment(ctx, "p1", o.ID, t0)
	must(t, err)
	want := booking.Payment{ID: "p1", OrderID: o.ID, Attempt: 1, IdempotencyKey: o.ID + ":1",
		Status: booking.PaymentCreated, AmountCents: 5000, Currency: "EUR", CreatedAt: t0}
	if p1 != want {
		t.Errorf("payment:\n got %+v\nwant %+v", p1, want)
	}
	must(t, s.SetPaymentRef(ctx, "p1", "prov-1"))
	got, err := s.PaymentByRef(ctx, "prov-1")
	must(t, err)
	want.ProviderRef = "prov-1"
	if got != want {
		t.Errorf("by ref:\n got %+v\nwant %+v", got, want)
	}
	_, err = s.StartPayment(ctx, "p1", o.ID, t0)
	wantErr(t, err, booking.ErrConflict) // the id is taken
	p2, err := s.StartPayment(ctx, "p2", o.ID, t0)
	must(t, err)
	if p2.Attempt != 2 || p2.IdempotencyKey != o.ID+":2" {
		t.Errorf("second attempt %+v", p2)
	}
	wantErr(t, s.SetPaymentRef(ctx, "p2", "prov-1"), booking.ErrConflict)

	// No attempt for an order that is paid, or expired with a seat gone.
	pay(t, s, o, t0)
	_, err = s.StartPayment(ctx, "p3", o.ID, t0)
	wantErr(t, err, booking.ErrConflict)
	gone := order(t, s, hold(t, s, f.seatReq("slow", t0, f.seats[1])), "", t0)
	hold(t, s, f.seatReq("quick", t0.Add(ttl), f.seats[1]))
	_, err = s.StartPayment(ctx, "p4", gone.ID, t0.Add(ttl+time.Minute))
	wantErr(t, err, booking.ErrConflict)
}

func testConfirm(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 3, zone: 5})
	h := hold(t, s, f.seatReq("fan", t0, f.seats[0], f.seats[1]))
	o := order(t, s, h, "", t0)
	p, err := s.StartPayment(ctx, newID("pay"), o.ID, t0)
	must(t, err)
	now := t0.Add(2 * time.Minute)
	c, err := s.ConfirmPayment(ctx, p.ID, ticketIDs, now)
	must(t, err)
	if !c.Changed || c.Refund || c.Order.Status != booking.OrderPaid || !c.Order.PaidAt.Equal(now) {
		t.Fatalf("confirmation %+v", c)
	}
	if len(c.Order.Payments) != 1 || c.Order.Payments[0].Status != booking.PaymentSucceeded {
		t.Errorf("payments %+v", c.Order.Payments)
	}
	checkTickets(t, s, c.Order, h)
	a := availability(t, s, f, now.Add(time.Hour))
	if got := seatsIn(a, booking.PlaceSold); !slices.Equal(got, sorted(f.seats[:2])) {
		t.Errorf("sold seats %v, want %v, even after the hold's expiry", got, f.seats[:2])
	}
	msgs, err := s.PendingOutbox(ctx, 0)
	must(t, err)
	if len(msgs) != 1 || msgs[0].Kind != "tickets" || msgs[0].OrderID != o.ID || len(msgs[0].Payload) == 0 {
		t.Errorf("outbox %+v, want one tickets message", msgs)
	}

	// A repeat, even after the hold's expiry, changes nothing.
	again, err := s.ConfirmPayment(ctx, p.ID, ticketIDs, now.Add(time.Hour))
	must(t, err)
	if again.Changed || again.Refund || len(again.Order.Tickets) != 2 {
		t.Errorf("repeat: %+v", again)
	}
	if msgs, _ := s.PendingOutbox(ctx, 0); len(msgs) != 1 {
		t.Errorf("%d outbox messages after a repeat", len(msgs))
	}
	// A zone order gets a ticket per place too.
	hz := hold(t, s, f.zoneReq("fan2", now, 3))
	cz := pay(t, s, order(t, s, hz, "", now), now)
	checkTickets(t, s, cz.Order, hz)
}

// checkTickets checks that a paid order has exactly one valid ticket per
// place of its hold, each readable.
func checkTickets(t *testing.T, s booking.Store, o booking.Order, h booking.Hold) {
	t.Helper()
	if len(o.Tickets) != len(h.Items) {
		t.Fatalf("%d tickets for %d places", len(o.Tickets), len(h.Items))
	}
	var places, want []string
	for _, tk := range o.Tickets {
		places = append(places, tk.PlaceID)
		got, err := s.GetTicket(t.Context(), tk.ID)
		must(t, err)
		if got != tk || tk.OrderID != o.ID || tk.EventID != o.EventID || tk.Void || tk.Label == "" || tk.IssuedAt.IsZero() {
			t.Errorf("ticket %+v, read back %+v", tk, got)
		}
	}
	for _, it := range h.Items {
		want = append(want, it.PlaceID)
	}
	if !slices.Equal(sorted(places), sorted(want)) {
		t.Errorf("tickets for places %v, want %v", places, want)
	}
}

func testConfirmConcurrent(t *testing.T, s booking.Store) {
	f := makeEvent(t, s, spec{seats: 3})
	h := hold(t, s, f.seatReq("fan", t0, f.seats...))
	o := order(t, s, h, "", t0)
	p, err := s.StartPayment(t.Context(), newID("pay"), o.ID, t0)
	must(t, err)
	confs := make([]booking.Confirmation, 20)
	errs := make([]error, 20)
	race(t, s, 20, func(i int) {
		confs[i], errs[i] = s.ConfirmPayment(t.Context(), p.ID, ticketIDs, t0)
	})
	changed := 0
	for i, err := range errs {
		must(t, err)
		if confs[i].Changed {
			changed++
		}
		if confs[i].Refund || confs[i].Order.Status != booking.OrderPaid {
			t.Errorf("confirmation %d: %+v", i, confs[i])
		}
	}
	if changed != 1 {
		t.Errorf("%d confirmations changed the order, want 1", changed)
	}
	got, err := s.GetOrder(t.Context(), o.ID)
	must(t, err)
	checkTickets(t, s, got, h)
}

func testLatePaymentFree(t *testing.T, s booking.Store) {
	tests := []struct {
		name  string
		sweep bool // ExpireOrders ran before the payment came
	}{
		{"order still pending", false},
		{"order expired", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			f := makeEvent(t, s, spec{seats: 2, zone: 2})
			hs := hold(t, s, f.seatReq("fan", t0, f.seats...))
			hz := hold(t, s, f.zoneReq("fan", t0, 2))
			oSeats, oZone := order(t, s, hs, "", t0), order(t, s, hz, "", t0)
			ps, pz := startPayment(t, s, oSeats, t0), startPayment(t, s, oZone, t0)
			late := t0.Add(ttl + 5*time.Minute)
			if tc.sweep {
				if n, err := s.ExpireOrders(ctx, late); err != nil || n != 2 {
					t.Fatalf("expire: %d, %v", n, err)
				}
			}
			for _, x := range []struct {
				p booking.Payment
				h booking.Hold
			}{{ps, hs}, {pz, hz}} {
				c := confirmPayment(t, s, x.p, late)
				if !c.Changed || c.Refund || c.Order.Status != booking.OrderPaid {
					t.Fatalf("late payment: %+v", c)
				}
				checkTickets(t, s, c.Order, x.h)
			}
			a := availability(t, s, f, late)
			if len(seatsIn(a, booking.PlaceSold)) != 2 || a.Zones[f.zone].Sold != 2 {
				t.Errorf("after late payments: %+v", a)
			}
		})
	}
}

func testLatePaymentLost(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 2, zone: 3})
	h := hold(t, s, f.seatReq("slow", t0, f.seats...))
	o := order(t, s, h, "", t0)
	p, err := s.StartPayment(ctx, newID("pay"), o.ID, t0)
	must(t, err)
	later := t0.Add(ttl)
	quick := hold(t, s, f.seatReq("quick", later, f.seats[1]))
	c, err := s.ConfirmPayment(ctx, p.ID, ticketIDs, later.Add(time.Minute))
	must(t, err)
	if !c.Changed || !c.Refund || c.Order.Status != booking.OrderFailed || len(c.Order.Tickets) != 0 {
		t.Fatalf("payment after losing a seat: %+v", c)
	}
	if c.Order.Payments[0].Status != booking.PaymentSucceeded {
		t.Errorf("the money came: payment is %s", c.Order.Payments[0].Status)
	}
	// Nothing was sold, and the seat the slow fan kept is free again.
	a := availability(t, s, f, later.Add(time.Minute))
	if got := seatsIn(a, booking.PlaceHeld); !slices.Equal(got, []string{f.seats[1]}) {
		t.Errorf("held %v, want only the quick fan's seat", got)
	}
	if len(seatsIn(a, booking.PlaceSold)) != 0 {
		t.Error("a seat of a failed order was sold")
	}
	order(t, s, quick, "", later.Add(time.Minute))
	if msgs, _ := s.PendingOutbox(ctx, 0); len(msgs) != 0 {
		t.Errorf("outbox has %d messages for a failed order", len(msgs))
	}
	// A zone order that lost one place fails as a whole.
	hz := hold(t, s, f.zoneReq("slow", t0, 3))
	pz := startPayment(t, s, order(t, s, hz, "", t0), t0)
	hold(t, s, f.zoneReq("quick", later, 1))
	cz := confirmPayment(t, s, pz, later)
	if !cz.Refund || cz.Order.Status != booking.OrderFailed {
		t.Errorf("zone order after losing a place: %+v", cz)
	}
	if got := availability(t, s, f, later).Zones[f.zone]; got.Sold != 0 || got.Held != 1 {
		t.Errorf("zone after a failed order: %+v", got)
	}
}

func testDeclinedThenPaid(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 1})
	h := hold(t, s, f.seatReq("fan", t0, f.seats[0]))
	o := order(t, s, h, "", t0)
	p1, err := s.StartPayment(ctx, newID("pay"), o.ID, t0)
	must(t, err)
	must(t, s.FailPayment(ctx, p1.ID, t0.Add(time.Minute)))
	got, err := s.GetOrder(ctx, o.ID)
	must(t, err)
	if got.Status != booking.OrderPending || got.Payments[0].Status != booking.PaymentFailed {
		t.Fatalf("after a decline: %+v", got)
	}
	p2, err := s.StartPayment(ctx, newID("pay"), o.ID, t0.Add(2*time.Minute))
	must(t, err)
	if p2.Attempt != 2 || p2.IdempotencyKey == p1.IdempotencyKey {
		t.Errorf("second attempt %+v", p2)
	}
	c, err := s.ConfirmPayment(ctx, p2.ID, ticketIDs, t0.Add(3*time.Minute))
	must(t, err)
	if c.Order.Status != booking.OrderPaid || c.Refund {
		t.Fatalf("second attempt: %+v", c)
	}
	checkTickets(t, s, c.Order, h)
	// A late "failed" for the attempt that succeeded changes nothing.
	must(t, s.FailPayment(ctx, p2.ID, t0.Add(4*time.Minute)))
	got, err = s.GetOrder(ctx, o.ID)
	must(t, err)
	var statuses []booking.PaymentStatus
	for _, p := range got.Payments {
		statuses = append(statuses, p.Status)
	}
	if !slices.Equal(statuses, []booking.PaymentStatus{booking.PaymentFailed, booking.PaymentSucceeded}) {
		t.Errorf("payments %v", statuses)
	}
}

func testConfirmCancelled(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 1})
	o := order(t, s, hold(t, s, f.seatReq("fan", t0, f.seats[0])), "", t0)
	p, err := s.StartPayment(ctx, newID("pay"), o.ID, t0)
	must(t, err)
	must(t, s.CancelOrder(ctx, o.ID, t0))
	c, err := s.ConfirmPayment(ctx, p.ID, ticketIDs, t0)
	must(t, err)
	if !c.Refund || c.Changed || c.Order.Status != booking.OrderCancelled || len(c.Order.Tickets) != 0 {
		t.Errorf("confirmation of a cancelled order: %+v", c)
	}
	if got := seatsIn(availability(t, s, f, t0), booking.PlaceAvailable); len(got) != 1 {
		t.Error("the seat of a cancelled order is not free")
	}
}

func testSecondCharge(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 1})
	h := hold(t, s, f.seatReq("fan", t0, f.seats[0]))
	o := order(t, s, h, "", t0)
	p1, err := s.StartPayment(ctx, newID("pay"), o.ID, t0)
	must(t, err)
	p2, err := s.StartPayment(ctx, newID("pay"), o.ID, t0)
	must(t, err)
	_, err = s.ConfirmPayment(ctx, p1.ID, ticketIDs, t0)
	must(t, err)
	c, err := s.ConfirmPayment(ctx, p2.ID, ticketIDs, t0)
	must(t, err)
	if c.Changed || !c.Refund || len(c.Order.Tickets) != 1 {
		t.Fatalf("second charge: %+v, want a refund and no change", c)
	}
	// Refunding the second charge leaves the tickets valid.
	must(t, s.MarkRefunded(ctx, p2.ID, t0))
	got, err := s.GetOrder(ctx, o.ID)
	must(t, err)
	if got.Status != booking.OrderPaid || got.Tickets[0].Void {
		t.Errorf("after refunding the second charge: %+v", got)
	}
}

func testExpireOrders(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 4})
	due := order(t, s, hold(t, s, f.seatReq("a", t0, f.seats[0])), "", t0)
	paid := buy(t, s, f.seatReq("b", t0, f.seats[1]))
	notYet := order(t, s, hold(t, s, f.seatReq("c", t0.Add(5*time.Minute), f.seats[2])), "", t0.Add(5*time.Minute))
	cancelled := order(t, s, hold(t, s, f.seatReq("d", t0, f.seats[3])), "", t0)
	must(t, s.CancelOrder(ctx, cancelled.ID, t0))

	now := t0.Add(ttl)
	n, err := s.ExpireOrders(ctx, now)
	must(t, err)
	if n != 1 {
		t.Errorf("expired %d orders, want 1", n)
	}
	for id, want := range map[string]booking.OrderStatus{
		due.ID: booking.OrderExpired, paid.ID: booking.OrderPaid,
		notYet.ID: booking.OrderPending, cancelled.ID: booking.OrderCancelled,
	} {
		got, err := s.GetOrder(ctx, id)
		must(t, err)
		if got.Status != want {
			t.Errorf("order %s is %s, want %s", id, got.Status, want)
		}
	}
	if n, _ := s.ExpireOrders(ctx, now); n != 0 {
		t.Errorf("second run expired %d", n)
	}
	a := availability(t, s, f, now)
	if got := seatsIn(a, booking.PlaceAvailable); !slices.Equal(got, sorted([]string{f.seats[0], f.seats[3]})) {
		t.Errorf("available %v", got)
	}
	hold(t, s, f.seatReq("e", now, f.seats[0]))
}

func testCancelOrder(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 2, zone: 2})
	h := hold(t, s, f.zoneReq("fan", t0, 2))
	o := order(t, s, h, "", t0)
	must(t, s.CancelOrder(ctx, o.ID, t0))
	must(t, s.CancelOrder(ctx, o.ID, t0)) // again: nothing to do
	got, err := s.GetOrder(ctx, o.ID)
	must(t, err)
	if got.Status != booking.OrderCancelled {
		t.Errorf("order is %s", got.Status)
	}
	if hh, _ := s.GetHold(ctx, h.ID); !hh.Released {
		t.Error("hold of a cancelled order is not released")
	}
	if got := availability(t, s, f, t0).Zones[f.zone]; got.Available != 2 {
		t.Errorf("zone %+v after cancelling", got)
	}
	paid := buy(t, s, f.seatReq("fan", t0, f.seats[0]))
	wantErr(t, s.CancelOrder(ctx, paid.ID, t0), booking.ErrConflict)
}

func testRefund(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 2})
	o := buy(t, s, f.seatReq("fan", t0, f.seats...))
	must(t, s.MarkRefunded(ctx, o.Payments[0].ID, t0.Add(time.Hour)))
	got, err := s.GetOrder(ctx, o.ID)
	must(t, err)
	if got.Payments[0].Status != booking.PaymentRefunded {
		t.Errorf("payment %s", got.Payments[0].Status)
	}
	for _, tk := range got.Tickets {
		if !tk.Void {
			t.Errorf("ticket %s is valid after a refund", tk.ID)
		}
	}
	// The places stay sold in this version.
	if got := seatsIn(availability(t, s, f, t0), booking.PlaceSold); len(got) != 2 {
		t.Errorf("sold %v after a refund", got)
	}
	// A refunded payment confirms nothing.
	c, err := s.ConfirmPayment(ctx, o.Payments[0].ID, ticketIDs, t0.Add(2*time.Hour))
	must(t, err)
	if c.Changed {
		t.Errorf("confirming a refunded payment: %+v", c)
	}
}

func testCheckIn(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 2})
	valid := buy(t, s, f.seatReq("a", t0, f.seats[0]))
	void := buy(t, s, f.seatReq("b", t0, f.seats[1]))
	must(t, s.MarkRefunded(ctx, void.Payments[0].ID, t0))
	first, second := t0.Add(time.Hour), t0.Add(2*time.Hour)
	tests := []struct {
		name      string
		ticket    string
		now       time.Time
		wantFirst bool
		wantAt    time.Time
		wantErr   error
	}{
		{"first scan", valid.Tickets[0].ID, first, true, first, nil},
		{"repeat scan", valid.Tickets[0].ID, second, false, first, nil},
		{"void ticket", void.Tickets[0].ID, first, false, time.Time{}, booking.ErrInvalid},
		{"unknown ticket", "nope", first, false, time.Time{}, booking.ErrNotFound},
	}
	for _, tc := range tests { // in order: the repeat follows the first scan
		gotFirst, at, err := s.CheckIn(ctx, tc.ticket, tc.now)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || gotFirst != tc.wantFirst || !at.Equal(tc.wantAt) {
			t.Errorf("%s: got %v, %v, %v; want %v, %v", tc.name, gotFirst, at, err, tc.wantFirst, tc.wantAt)
		}
	}
	tk, err := s.GetTicket(ctx, valid.Tickets[0].ID)
	must(t, err)
	if !tk.CheckedInAt.Equal(first) {
		t.Errorf("ticket checked in at %v, want %v", tk.CheckedInAt, first)
	}
}

func testCheckInConcurrent(t *testing.T, s booking.Store) {
	f := makeEvent(t, s, spec{seats: 1})
	o := buy(t, s, f.seatReq("fan", t0, f.seats[0]))
	var firsts atomic.Int32
	errs := make([]error, 20)
	ats := make([]time.Time, 20)
	race(t, s, 20, func(i int) {
		var first bool
		first, ats[i], errs[i] = s.CheckIn(t.Context(), o.Tickets[0].ID, t0.Add(time.Duration(i)*time.Second))
		if first {
			firsts.Add(1)
		}
	})
	for i, err := range errs {
		must(t, err)
		if !ats[i].Equal(ats[0]) {
			t.Errorf("scan %d reports %v, scan 0 %v", i, ats[i], ats[0])
		}
	}
	if n := firsts.Load(); n != 1 {
		t.Errorf("%d first scans, want 1", n)
	}
}
