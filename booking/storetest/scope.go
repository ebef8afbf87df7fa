package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/usherhq/usher/booking"
)

// testIDsPerEvent runs each case on two events whose catalogues have the
// same ids, as two shows of one venue have: ids of sections, ticket types,
// quotas, zones and seats are unique within their event only.
func testIDsPerEvent(t *testing.T, s booking.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s booking.Store, a, b fixture)
	}{
		{"each event keeps its own catalogue", testOwnCatalogue},
		{"a seat hold takes its own event's seat", testOwnSeats},
		{"a zone hold takes its own event's places", testOwnZone},
		{"quotas and presale codes stay in their event", testOwnQuotas},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := spec{seats: 3, zone: 4, sharedIDs: true}
			a, b := makeEvent(t, s, sp), makeEvent(t, s, sp)
			if a.section != b.section || a.ticketType != b.ticketType || a.zone != b.zone || !slices.Equal(a.seats, b.seats) {
				t.Fatalf("the events do not share their ids: %+v, %+v", a, b)
			}
			tc.run(t, s, a, b)
		})
	}
}

// testOwnCatalogue changes b's rows and finds a's as they were, and each
// event's holds priced and labelled by its own rows.
func testOwnCatalogue(t *testing.T, s booking.Store, a, b fixture) {
	ctx := t.Context()
	ha := hold(t, s, a.zoneReq("fan", t0, 3))
	must(t, s.PutSection(ctx, booking.Section{ID: b.section, EventID: b.ev.ID, Name: "Balcony", Position: 2}))
	lateB := booking.TicketType{ID: b.ticketType, EventID: b.ev.ID, Name: "Late",
		Tiers: []booking.PriceTier{{Name: "Late", PriceCents: 7000}}}
	vipB := booking.TicketType{ID: "vip", EventID: b.ev.ID, Name: "VIP",
		Tiers: []booking.PriceTier{{Name: "VIP", PriceCents: 9000}}}
	must(t, s.PutTicketType(ctx, lateB))
	must(t, s.PutTicketType(ctx, vipB))
	seatB := booking.Seat{ID: b.seats[0], EventID: b.ev.ID, SectionID: b.section, Row: "Z", Number: "9",
		TicketTypeID: b.ticketType, X: 99, Y: 99}
	must(t, s.PutSeats(ctx, []booking.Seat{seatB}))
	// b's floor shrinks while a's is mostly held, and its places take a
	// ticket type that a does not have: only b's places count and change.
	zoneB := booking.Zone{ID: b.zone, EventID: b.ev.ID, Name: "Pit", Capacity: 2, TicketTypeID: "vip"}
	must(t, s.PutZone(ctx, zoneB))

	tests := []struct {
		name      string
		f         fixture
		section   booking.Section
		tts       []booking.TicketType
		seat      booking.Seat
		zone      booking.Zone
		zoneCount booking.ZoneCount
	}{
		{"unchanged", a,
			booking.Section{ID: a.section, EventID: a.ev.ID, Name: "Stalls", Position: 1},
			[]booking.TicketType{{ID: a.ticketType, EventID: a.ev.ID, Name: "Standard",
				Tiers: []booking.PriceTier{{Name: "Standard", PriceCents: 5000}}}},
			booking.Seat{ID: a.seats[0], EventID: a.ev.ID, SectionID: a.section, Row: "A", Number: "1",
				TicketTypeID: a.ticketType, X: 0, Y: 1},
			booking.Zone{ID: a.zone, EventID: a.ev.ID, Name: "Standing", Capacity: 4, TicketTypeID: a.ticketType},
			booking.ZoneCount{Capacity: 4, Available: 1, Held: 3}},
		{"changed", b,
			booking.Section{ID: b.section, EventID: b.ev.ID, Name: "Balcony", Position: 2},
			[]booking.TicketType{lateB, vipB}, seatB, zoneB,
			booking.ZoneCount{Capacity: 2, Available: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.f.ev.ID
			secs, err := s.Sections(ctx, id)
			must(t, err)
			if want := []booking.Section{tc.section}; !reflect.DeepEqual(secs, want) {
				t.Errorf("sections: got %+v, want %+v", secs, want)
			}
			tts, err := s.TicketTypes(ctx, id)
			must(t, err)
			if !reflect.DeepEqual(tts, tc.tts) {
				t.Errorf("ticket types: got %+v, want %+v", tts, tc.tts)
			}
			seats, err := s.Seats(ctx, id)
			must(t, err)
			if len(seats) != 3 || !reflect.DeepEqual(seats[0], tc.seat) {
				t.Errorf("seats: got %+v, want 3 starting with %+v", seats, tc.seat)
			}
			zones, err := s.Zones(ctx, id)
			must(t, err)
			if want := []booking.Zone{tc.zone}; !reflect.DeepEqual(zones, want) {
				t.Errorf("zones: got %+v, want %+v", zones, want)
			}
			if got := availability(t, s, tc.f, t0).Zones[tc.f.zone]; got != tc.zoneCount {
				t.Errorf("zone: got %+v, want %+v", got, tc.zoneCount)
			}
		})
	}

	// Holds take their names and prices from their own event's rows.
	items := []struct {
		name  string
		got   booking.Item
		label string
		price int64
	}{
		{"a's zone", ha.Items[0], "Standing", 5000},
		{"a's seat", hold(t, s, a.seatReq("fan", t0, a.seats[0])).Items[0], "Stalls, row A, seat 1", 5000},
		{"b's seat", hold(t, s, b.seatReq("fan", t0, b.seats[0])).Items[0], "Balcony, row Z, seat 9", 7000},
		{"b's zone", hold(t, s, b.zoneReq("fan", t0, 1)).Items[0], "Pit", 9000},
	}
	for _, it := range items {
		if it.got.Label != it.label || it.got.PriceCents != it.price {
			t.Errorf("%s: item %+v, want %q at %d", it.name, it.got, it.label, it.price)
		}
	}
	if len(ha.Items) != 3 {
		t.Errorf("a's zone hold has %d items, want 3", len(ha.Items))
	}
}

// testOwnSeats holds and buys seats of a and finds b's seats of the same
// ids untouched, in its availability and its summary.
func testOwnSeats(t *testing.T, s booking.Store, a, b fixture) {
	ctx := t.Context()
	ha := hold(t, s, a.seatReq("fan", t0, a.seats[0]))
	if st := availability(t, s, b, t0).Seats[b.seats[0]]; st != booking.PlaceAvailable {
		t.Fatalf("b's %s is %s after a's was held, want available", b.seats[0], st)
	}
	hb := hold(t, s, b.seatReq("fan", t0, b.seats[0]))
	if ha.Items[0].PlaceID == hb.Items[0].PlaceID {
		t.Errorf("both holds have place %s", ha.Items[0].PlaceID)
	}
	// Each event's A1 is taken now, and a's A2 is not.
	_, err := s.Hold(ctx, a.seatReq("other", t0, a.seats[0], a.seats[1]))
	var taken *booking.TakenError
	if !errors.As(err, &taken) || !slices.Equal(taken.SeatIDs, []string{a.seats[0]}) {
		t.Fatalf("hold of a's taken seat: %v, want only %s taken", err, a.seats[0])
	}
	buy(t, s, a.seatReq("buyer", t0, a.seats[1]))

	tests := []struct {
		name                  string
		f                     fixture
		held, sold, available []string
		sum                   booking.Summary
	}{
		{"a", a, a.seats[:1], a.seats[1:2], a.seats[2:], booking.Summary{
			EventID: a.ev.ID, Capacity: 7, Available: 5, Held: 1, Sold: 1, RevenueCents: 5000,
			Orders: map[booking.OrderStatus]int{booking.OrderPaid: 1}, ByTicketType: map[string]int{a.ticketType: 1}}},
		{"b", b, b.seats[:1], nil, b.seats[1:], booking.Summary{
			EventID: b.ev.ID, Capacity: 7, Available: 6, Held: 1,
			Orders: map[booking.OrderStatus]int{}, ByTicketType: map[string]int{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			av := availability(t, s, tc.f, t0)
			if got := seatsIn(av, booking.PlaceHeld); !slices.Equal(got, tc.held) {
				t.Errorf("held %v, want %v", got, tc.held)
			}
			if got := seatsIn(av, booking.PlaceSold); !slices.Equal(got, tc.sold) {
				t.Errorf("sold %v, want %v", got, tc.sold)
			}
			if got := seatsIn(av, booking.PlaceAvailable); !slices.Equal(got, tc.available) {
				t.Errorf("available %v, want %v", got, tc.available)
			}
			sum, err := s.Summary(ctx, tc.f.ev.ID, t0)
			must(t, err)
			if !reflect.DeepEqual(sum, tc.sum) {
				t.Errorf("summary:\n got %+v\nwant %+v", sum, tc.sum)
			}
		})
	}
}

// testOwnZone shrinks and fills a's zone and finds b's zone of the same id
// whole.
func testOwnZone(t *testing.T, s booking.Store, a, b fixture) {
	ctx := t.Context()
	must(t, s.PutZone(ctx, booking.Zone{ID: a.zone, EventID: a.ev.ID, Name: "Standing", Capacity: 3, TicketTypeID: a.ticketType}))
	ha := hold(t, s, a.zoneReq("fan", t0, 3))
	if got, want := availability(t, s, b, t0).Zones[b.zone], (booking.ZoneCount{Capacity: 4, Available: 4}); got != want {
		t.Fatalf("b's zone after a's shrank and was filled: %+v, want %+v", got, want)
	}
	// The shortage counts a's places, not b's free ones.
	_, err := s.Hold(ctx, a.zoneReq("late", t0, 2))
	var short *booking.NotEnoughError
	if !errors.As(err, &short) || short.Available != 0 {
		t.Fatalf("hold of a's full zone: %v, want none available", err)
	}
	hb := hold(t, s, b.zoneReq("fan", t0, 4))
	places := map[string]bool{}
	for _, it := range slices.Concat(ha.Items, hb.Items) {
		if places[it.PlaceID] {
			t.Errorf("place %s is in both events' holds", it.PlaceID)
		}
		places[it.PlaceID] = true
	}
	// Releasing b's hold frees b's places only.
	must(t, s.ReleaseHold(ctx, hb.ID, "fan", t0))
	if got, want := availability(t, s, a, t0).Zones[a.zone], (booking.ZoneCount{Capacity: 3, Held: 3}); got != want {
		t.Errorf("a's zone: %+v, want %+v", got, want)
	}
	if got, want := availability(t, s, b, t0).Zones[b.zone], (booking.ZoneCount{Capacity: 4, Available: 4}); got != want {
		t.Errorf("b's zone: %+v, want %+v", got, want)
	}
}

// testOwnQuotas gives both events a quota "fans" and finds that
// allocations, releases and presale codes reach their own event's places
// only.
func testOwnQuotas(t *testing.T, s booking.Store, a, b fixture) {
	ctx := t.Context()
	for _, f := range []fixture{a, b} {
		must(t, s.PutQuota(ctx, booking.Quota{ID: "fans", EventID: f.ev.ID, Name: "Fans", Kind: booking.QuotaPresale}))
	}
	must(t, s.PutQuota(ctx, booking.Quota{ID: "press", EventID: b.ev.ID, Name: "Press", Kind: booking.QuotaPartner}))
	must(t, s.PutPresaleCode(ctx, booking.PresaleCode{Code: "FAN", EventID: a.ev.ID, QuotaID: "fans"}))

	zones := func(wantA, wantB booking.ZoneCount) {
		t.Helper()
		if got := availability(t, s, a, t0).Zones[a.zone]; got != wantA {
			t.Errorf("a's zone: %+v, want %+v", got, wantA)
		}
		if got := availability(t, s, b, t0).Zones[b.zone]; got != wantB {
			t.Errorf("b's zone: %+v, want %+v", got, wantB)
		}
	}
	// a gives half its zone to its fans while b's places are all free; b
	// then gives its whole zone and its A1 to its own fans, while a's A1 is
	// held: b's seat is another seat, free to change quota.
	must(t, s.AllocateZone(ctx, a.ev.ID, a.zone, "fans", 2, t0))
	zones(booking.ZoneCount{Capacity: 4, Available: 2, Held: 2}, booking.ZoneCount{Capacity: 4, Available: 4})
	hold(t, s, a.seatReq("early", t0, a.seats[0]))
	must(t, s.AllocateZone(ctx, b.ev.ID, b.zone, "fans", 4, t0))
	must(t, s.PutSeats(ctx, []booking.Seat{{ID: b.seats[0], EventID: b.ev.ID, SectionID: b.section,
		Row: "A", Number: "1", TicketTypeID: b.ticketType, QuotaID: "fans"}}))
	zones(booking.ZoneCount{Capacity: 4, Available: 2, Held: 2}, booking.ZoneCount{Capacity: 4, Held: 4})

	// a's code is no code of b's, for b's quota of the same id.
	rz := b.zoneReq("fan", t0, 1)
	rz.PresaleCode = "FAN"
	_, err := s.Hold(ctx, rz)
	wantErr(t, err, booking.ErrBadCode)
	rs := b.seatReq("fan", t0, b.seats[0])
	rs.PresaleCode = "FAN"
	_, err = s.Hold(ctx, rs)
	wantErr(t, err, booking.ErrBadCode)
	_, err = s.Hold(ctx, b.seatReq("public", t0, b.seats[0]))
	var taken *booking.TakenError
	if !errors.As(err, &taken) {
		t.Fatalf("public hold of b's quota seat: %v, want it taken", err)
	}
	// In a the code takes a's quota places first, then public ones.
	ra := a.zoneReq("fan", t0, 3)
	ra.PresaleCode = "FAN"
	hold(t, s, ra)
	zones(booking.ZoneCount{Capacity: 4, Available: 1, Held: 3}, booking.ZoneCount{Capacity: 4, Held: 4})

	// An event reaches no quota of another.
	_, err = s.ReleaseQuota(ctx, a.ev.ID, "fans", "press", t0)
	wantErr(t, err, booking.ErrNotFound)
	wantErr(t, s.AllocateZone(ctx, a.ev.ID, a.zone, "press", 1, t0), booking.ErrNotFound)

	// Releasing b's quota moves b's four zone places and its seat, none of
	// them taken by a's hold; a's stay as they were.
	moved, err := s.ReleaseQuota(ctx, b.ev.ID, "fans", "", t0)
	must(t, err)
	if moved != 5 {
		t.Errorf("released %d of b's places, want 5", moved)
	}
	zones(booking.ZoneCount{Capacity: 4, Available: 1, Held: 3}, booking.ZoneCount{Capacity: 4, Available: 4})
	hold(t, s, b.zoneReq("public", t0, 4))
	hold(t, s, b.seatReq("public", t0, b.seats[0]))
}
