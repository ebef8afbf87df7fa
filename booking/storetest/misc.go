package storetest

import (
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/usherhq/usher/booking"
)

func testWebhooks(t *testing.T, s booking.Store) {
	ctx := t.Context()
	events := []booking.WebhookEvent{
		{Provider: "sim", ID: "e1", Type: "payment.succeeded", Payload: []byte(`{"n":1}`), ReceivedAt: t0.Add(time.Second)},
		{Provider: "sim", ID: "e2", Type: "payment.failed", Payload: []byte(`{"n":2}`), ReceivedAt: t0},
		{Provider: "sim", ID: "e3", Type: "payment.succeeded", Payload: []byte(`{"n":3}`), ReceivedAt: t0},
		{Provider: "other", ID: "e1", Type: "charge", Payload: []byte(`{}`), ReceivedAt: t0.Add(2 * time.Second)},
	}
	for _, e := range events {
		isNew, err := s.RecordWebhook(ctx, e)
		must(t, err)
		if !isNew {
			t.Errorf("%s/%s reported seen before", e.Provider, e.ID)
		}
	}
	dup := events[0]
	dup.Payload = []byte(`{"n":"again"}`)
	if isNew, err := s.RecordWebhook(ctx, dup); err != nil || isNew {
		t.Errorf("duplicate: new %v, %v", isNew, err)
	}
	ids := func(es []booking.WebhookEvent) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Provider+"/"+e.ID)
		}
		return out
	}
	pending, err := s.PendingWebhooks(ctx, 10)
	must(t, err)
	if got, want := ids(pending), []string{"sim/e2", "sim/e3", "sim/e1", "other/e1"}; !slices.Equal(got, want) {
		t.Errorf("pending %v, want %v (oldest first, then arrival)", got, want)
	}
	if !reflect.DeepEqual(pending[2], events[0]) {
		t.Errorf("read back %+v, want the first delivery %+v", pending[2], events[0])
	}
	first2, err := s.PendingWebhooks(ctx, 2)
	must(t, err)
	if got := ids(first2); !slices.Equal(got, []string{"sim/e2", "sim/e3"}) {
		t.Errorf("limit 2: %v", got)
	}
	must(t, s.MarkWebhook(ctx, "sim", "e2", "", t0))
	must(t, s.MarkWebhook(ctx, "sim", "e3", "order not found", t0))
	pending, err = s.PendingWebhooks(ctx, 0)
	must(t, err)
	if got := ids(pending); !slices.Equal(got, []string{"sim/e1", "other/e1"}) {
		t.Errorf("after marking: %v", got)
	}
	// A processed event stays known.
	if isNew, err := s.RecordWebhook(ctx, events[1]); err != nil || isNew {
		t.Errorf("processed event recorded again: %v, %v", isNew, err)
	}
}

func testOutbox(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 3})
	o2 := buy(t, s, f.seatReq("b", t0.Add(time.Minute), f.seats[1]))
	o1 := buy(t, s, f.seatReq("a", t0, f.seats[0]))
	o3 := buy(t, s, f.seatReq("c", t0.Add(2*time.Minute), f.seats[2]))
	orders := func() []string {
		t.Helper()
		msgs, err := s.PendingOutbox(ctx, 10)
		must(t, err)
		var out []string
		for _, m := range msgs {
			out = append(out, m.OrderID)
		}
		return out
	}
	if got, want := orders(), []string{o1.ID, o2.ID, o3.ID}; !slices.Equal(got, want) {
		t.Fatalf("pending %v, want %v (oldest first)", got, want)
	}
	msgs, err := s.PendingOutbox(ctx, 1)
	must(t, err)
	if len(msgs) != 1 || msgs[0].OrderID != o1.ID || msgs[0].Kind != "tickets" || !msgs[0].CreatedAt.Equal(t0) {
		t.Fatalf("limit 1: %+v", msgs)
	}
	must(t, s.MarkOutbox(ctx, msgs[0].ID, true, t0))
	if got := orders(); !slices.Equal(got, []string{o2.ID, o3.ID}) {
		t.Errorf("after sending: %v", got)
	}
	msgs, _ = s.PendingOutbox(ctx, 1)
	for i := range 9 {
		must(t, s.MarkOutbox(ctx, msgs[0].ID, false, t0.Add(time.Duration(i)*time.Minute)))
	}
	again, _ := s.PendingOutbox(ctx, 1)
	if len(again) != 1 || again[0].Attempts != 9 {
		t.Errorf("after 9 failures: %+v", again)
	}
	must(t, s.MarkOutbox(ctx, msgs[0].ID, false, t0.Add(time.Hour)))
	if got := orders(); !slices.Equal(got, []string{o3.ID}) {
		t.Errorf("after 10 failures the message still pends: %v", got)
	}
}

func testSummary(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 4, zone: 10})
	must(t, s.PutPromoCode(ctx, booking.PromoCode{Code: "TEN", EventID: f.ev.ID, PercentOff: 10}))
	earlier := t0.Add(-ttl)

	// a buys two seats with 10 % off: 9000 revenue, one checked in.
	ha := hold(t, s, f.seatReq("a", t0, f.seats[0], f.seats[1]))
	a := pay(t, s, order(t, s, ha, "TEN", t0), t0).Order
	if _, _, err := s.CheckIn(ctx, a.Tickets[0].ID, t0); err != nil {
		t.Fatal(err)
	}
	// b buys three zone places and is refunded: sold, but no revenue.
	b := buy(t, s, f.zoneReq("b", t0, 3))
	must(t, s.MarkRefunded(ctx, b.Payments[0].ID, t0))
	// c has a pending order for a seat; d's hold of a seat lapsed.
	order(t, s, hold(t, s, f.seatReq("c", t0, f.seats[2])), "", t0)
	hold(t, s, f.seatReq("d", earlier, f.seats[3]))
	// e cancelled an order of two zone places; g's order of one expired.
	must(t, s.CancelOrder(ctx, order(t, s, hold(t, s, f.zoneReq("e", t0, 2)), "", t0).ID, t0))
	order(t, s, hold(t, s, f.zoneReq("g", earlier, 1)), "", earlier)
	if n, err := s.ExpireOrders(ctx, t0); err != nil || n != 1 {
		t.Fatalf("expire: %d, %v", n, err)
	}
	// A quota has two zone places; f holds one.
	must(t, s.PutQuota(ctx, booking.Quota{ID: f.ev.ID + "-vip", EventID: f.ev.ID, Name: "VIP", Kind: booking.QuotaVIP}))
	must(t, s.AllocateZone(ctx, f.ev.ID, f.zone, f.ev.ID+"-vip", 2, t0))
	hold(t, s, f.zoneReq("f", t0, 1))

	got, err := s.Summary(ctx, f.ev.ID, t0.Add(time.Minute))
	must(t, err)
	want := booking.Summary{
		EventID: f.ev.ID, Capacity: 14,
		Available: 5, // seat 3; zone 10 - 3 sold - 2 quota - 1 held
		Held:      4, // seat 2; zone: 2 quota + 1 held
		Sold:      5, RevenueCents: 9000, CheckedIn: 1,
		Orders: map[booking.OrderStatus]int{booking.OrderPaid: 2, booking.OrderPending: 1,
			booking.OrderCancelled: 1, booking.OrderExpired: 1},
		ByTicketType: map[string]int{f.ticketType: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("summary:\n got %+v\nwant %+v", got, want)
	}
	// The same figures as Availability.
	av := availability(t, s, f, t0.Add(time.Minute))
	zone := av.Zones[f.zone]
	seatStates := slices.Collect(maps.Values(av.Seats))
	count := func(st booking.PlaceState) int {
		n := 0
		for _, s := range seatStates {
			if s == st {
				n++
			}
		}
		return n
	}
	if count(booking.PlaceAvailable)+zone.Available != got.Available || count(booking.PlaceHeld)+zone.Held != got.Held ||
		count(booking.PlaceSold)+zone.Sold != got.Sold {
		t.Errorf("availability %+v disagrees with the summary", av)
	}
}
