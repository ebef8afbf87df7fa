package storetest

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/usherhq/usher/booking"
)

func testCatalogue(t *testing.T, s booking.Store) {
	ctx := t.Context()
	ev := booking.Event{ID: "cat", Name: "Night", Venue: "Arena", Room: "r1",
		StartsAt: t0.Add(48 * time.Hour), OnSaleFrom: t0, Status: booking.EventDraft, Currency: "EUR",
		MaxPerOrder: 6, MaxPerAccount: 8, Description: "Doors at 19:00"}
	must(t, s.PutEvent(ctx, ev))
	ev.Status = booking.EventOnSale
	ev.OnSaleUntil = t0.Add(24 * time.Hour)
	must(t, s.PutEvent(ctx, ev)) // replace
	got, err := s.Event(ctx, "cat")
	must(t, err)
	if !reflect.DeepEqual(got, ev) {
		t.Errorf("event:\n got %+v\nwant %+v", got, ev)
	}

	secs := []booking.Section{
		{ID: "cat-b", EventID: "cat", Name: "Balcony", Position: 2},
		{ID: "cat-s", EventID: "cat", Name: "Stalls", Position: 1},
	}
	for _, sec := range secs {
		must(t, s.PutSection(ctx, sec))
	}
	gotSecs, err := s.Sections(ctx, "cat")
	must(t, err)
	if want := []booking.Section{secs[1], secs[0]}; !reflect.DeepEqual(gotSecs, want) {
		t.Errorf("sections: got %+v, want %+v (by position)", gotSecs, want)
	}

	tts := []booking.TicketType{
		{ID: "cat-std", EventID: "cat", Name: "Standard", Tiers: []booking.PriceTier{
			{Name: "Early", PriceCents: 3000, Until: t0.Add(time.Hour)},
			{Name: "First 100", PriceCents: 4000, UntilSold: 100},
			{Name: "Regular", PriceCents: 5000},
		}},
		{ID: "cat-vip", EventID: "cat", Name: "VIP", Tiers: []booking.PriceTier{{Name: "VIP", PriceCents: 12000}}},
	}
	for _, tt := range tts {
		must(t, s.PutTicketType(ctx, tt))
	}
	tts[1].Tiers = append(tts[1].Tiers, booking.PriceTier{Name: "Late", PriceCents: 15000})
	must(t, s.PutTicketType(ctx, tts[1])) // tiers are replaced
	gotTTs, err := s.TicketTypes(ctx, "cat")
	must(t, err)
	if !reflect.DeepEqual(gotTTs, tts) {
		t.Errorf("ticket types:\n got %+v\nwant %+v", gotTTs, tts)
	}

	must(t, s.PutQuota(ctx, booking.Quota{ID: "cat-q", EventID: "cat", Name: "Fan club", Kind: booking.QuotaPresale}))
	qs, err := s.Quotas(ctx, "cat")
	must(t, err)
	if want := []booking.Quota{{ID: "cat-q", EventID: "cat", Name: "Fan club", Kind: booking.QuotaPresale}}; !reflect.DeepEqual(qs, want) {
		t.Errorf("quotas: got %+v, want %+v", qs, want)
	}

	seats := []booking.Seat{
		{ID: "cat-a1", EventID: "cat", SectionID: "cat-s", Row: "A", Number: "1", TicketTypeID: "cat-std", X: 10, Y: 20.5},
		{ID: "cat-a2", EventID: "cat", SectionID: "cat-s", Row: "A", Number: "2", TicketTypeID: "cat-vip", QuotaID: "cat-q", X: 12, Y: 20.5},
	}
	must(t, s.PutSeats(ctx, seats))
	seats[0].X = 11 // an update moves the seat
	must(t, s.PutSeats(ctx, seats[:1]))
	gotSeats, err := s.Seats(ctx, "cat")
	must(t, err)
	if !reflect.DeepEqual(gotSeats, seats) {
		t.Errorf("seats:\n got %+v\nwant %+v", gotSeats, seats)
	}

	z := booking.Zone{ID: "cat-floor", EventID: "cat", Name: "Floor", Capacity: 40, TicketTypeID: "cat-std"}
	must(t, s.PutZone(ctx, z))
	zs, err := s.Zones(ctx, "cat")
	must(t, err)
	if !reflect.DeepEqual(zs, []booking.Zone{z}) {
		t.Errorf("zones: got %+v, want %+v", zs, []booking.Zone{z})
	}

	pc := booking.PromoCode{Code: "TEN", EventID: "cat", PercentOff: 10, MaxUses: 3, Used: 1}
	must(t, s.PutPromoCode(ctx, pc))
	gotPC, err := s.PromoCode(ctx, "cat", "TEN")
	must(t, err)
	if gotPC != pc {
		t.Errorf("promo code: got %+v, want %+v", gotPC, pc)
	}
	_, err = s.PromoCode(ctx, "other", "TEN")
	wantErr(t, err, booking.ErrNotFound)

	// A known event with nothing in it lists nothing; an unknown one is not
	// found.
	must(t, s.PutEvent(ctx, booking.Event{ID: "bare", Name: "Bare", Status: booking.EventDraft, Currency: "EUR"}))
	if got, err := s.Sections(ctx, "bare"); err != nil || len(got) != 0 {
		t.Errorf("sections of an empty event: %v, %v", got, err)
	}
	if got, err := s.Zones(ctx, "bare"); err != nil || len(got) != 0 {
		t.Errorf("zones of an empty event: %v, %v", got, err)
	}

	// An id of cat's used in another event is that event's own row: cat's
	// stays as it was, and the other event's rows cannot refer to cat's.
	must(t, s.PutSection(ctx, booking.Section{ID: "cat-s", EventID: "bare", Name: "Other"}))
	gotSecs, err = s.Sections(ctx, "cat")
	must(t, err)
	if want := []booking.Section{secs[1], secs[0]}; !reflect.DeepEqual(gotSecs, want) {
		t.Errorf("sections after another event used an id: got %+v, want %+v", gotSecs, want)
	}
	err = s.PutSeats(ctx, []booking.Seat{{ID: "cat-a1", EventID: "bare", SectionID: "cat-s", Row: "A", Number: "1", TicketTypeID: "cat-std"}})
	wantErr(t, err, booking.ErrInvalid) // bare has no ticket type cat-std
}

func testEvents(t *testing.T, s booking.Store) {
	ctx := t.Context()
	day := func(d int) time.Time { return t0.Add(time.Duration(d) * 24 * time.Hour) }
	evs := []booking.Event{
		{ID: "e1", Name: "Jazz Night", Venue: "Blue Hall", StartsAt: day(3), Status: booking.EventOnSale},
		{ID: "e2", Name: "Rock Festival", Venue: "Zürich Arena", StartsAt: day(1), Status: booking.EventOnSale},
		{ID: "e3", Name: "Opera", Venue: "Blue Hall", StartsAt: day(2), Status: booking.EventClosed},
		{ID: "e4", Name: "Secret Show", Venue: "Blue Hall", StartsAt: day(4), Status: booking.EventDraft},
		{ID: "e5", Name: "Cancelled Jazz", Venue: "Blue Hall", StartsAt: day(5), Status: booking.EventCancelled},
		{ID: "e6", Name: "Late Jazz", Venue: "blue hall", StartsAt: day(6), Status: booking.EventOnSale},
	}
	for _, e := range evs {
		e.Currency = "EUR"
		must(t, s.PutEvent(ctx, e))
	}
	tests := []struct {
		name string
		f    booking.EventFilter
		want []string
	}{
		{"all listed, by start", booking.EventFilter{}, []string{"e2", "e3", "e1", "e6"}},
		{"query in name, any case", booking.EventFilter{Query: "JAZZ"}, []string{"e1", "e6"}},
		{"query in venue, unicode case", booking.EventFilter{Query: "zÜrich"}, []string{"e2"}},
		{"venue exact, any case", booking.EventFilter{Venue: "BLUE HALL"}, []string{"e3", "e1", "e6"}},
		{"venue is not a substring", booking.EventFilter{Venue: "Blue"}, nil},
		{"from inclusive", booking.EventFilter{From: day(2)}, []string{"e3", "e1", "e6"}},
		{"to exclusive", booking.EventFilter{To: day(3)}, []string{"e2", "e3"}},
		{"between", booking.EventFilter{From: day(2), To: day(6), Query: "a"}, []string{"e3", "e1"}},
		{"no match", booking.EventFilter{Query: "polka"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Events(ctx, tc.f)
			must(t, err)
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !reflect.DeepEqual(ids, tc.want) {
				t.Errorf("got %v, want %v", ids, tc.want)
			}
		})
	}
}

func testNotFound(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 1, zone: 1})
	tests := []struct {
		name string
		call func() error
	}{
		{"event", func() error { _, err := s.Event(ctx, "nope"); return err }},
		{"sections", func() error { _, err := s.Sections(ctx, "nope"); return err }},
		{"ticket types", func() error { _, err := s.TicketTypes(ctx, "nope"); return err }},
		{"seats", func() error { _, err := s.Seats(ctx, "nope"); return err }},
		{"zones", func() error { _, err := s.Zones(ctx, "nope"); return err }},
		{"quotas", func() error { _, err := s.Quotas(ctx, "nope"); return err }},
		{"promo code", func() error { _, err := s.PromoCode(ctx, f.ev.ID, "nope"); return err }},
		{"availability", func() error { _, err := s.Availability(ctx, "nope", t0); return err }},
		{"summary", func() error { _, err := s.Summary(ctx, "nope", t0); return err }},
		{"hold", func() error { _, err := s.GetHold(ctx, "nope"); return err }},
		{"release hold", func() error { return s.ReleaseHold(ctx, "nope", "a", t0) }},
		{"hold of an unknown event", func() error {
			r := f.seatReq("a", t0, f.seats[0])
			r.EventID = "nope"
			_, err := s.Hold(ctx, r)
			return err
		}},
		{"order", func() error { _, err := s.GetOrder(ctx, "nope"); return err }},
		{"order of an unknown hold", func() error {
			_, _, err := s.CreateOrder(ctx, booking.OrderRequest{OrderID: "o", HoldID: "nope", Account: "a", Now: t0})
			return err
		}},
		{"start payment", func() error { _, err := s.StartPayment(ctx, "p", "nope", t0); return err }},
		{"payment ref", func() error { return s.SetPaymentRef(ctx, "nope", "ref") }},
		{"payment by ref", func() error { _, err := s.PaymentByRef(ctx, "nope"); return err }},
		{"confirm payment", func() error { _, err := s.ConfirmPayment(ctx, "nope", ticketIDs, t0); return err }},
		{"fail payment", func() error { return s.FailPayment(ctx, "nope", t0) }},
		{"mark refunded", func() error { return s.MarkRefunded(ctx, "nope", t0) }},
		{"cancel order", func() error { return s.CancelOrder(ctx, "nope", t0) }},
		{"ticket", func() error { _, err := s.GetTicket(ctx, "nope"); return err }},
		{"check in", func() error { _, _, err := s.CheckIn(ctx, "nope", t0); return err }},
		{"mark webhook", func() error { return s.MarkWebhook(ctx, "sim", "nope", "", t0) }},
		{"mark outbox", func() error { return s.MarkOutbox(ctx, "nope", true, t0) }},
		{"allocate an unknown zone", func() error { return s.AllocateZone(ctx, f.ev.ID, "nope", "nope", 1, t0) }},
		{"allocate to an unknown quota", func() error { return s.AllocateZone(ctx, f.ev.ID, f.zone, "nope", 1, t0) }},
		{"allocate in an unknown event", func() error { return s.AllocateZone(ctx, "nope", f.zone, "nope", 1, t0) }},
		{"release an unknown quota", func() error { _, err := s.ReleaseQuota(ctx, f.ev.ID, "nope", "", t0); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.call(), booking.ErrNotFound)
		})
	}
}

func testInvalid(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 2, zone: 5})
	other := makeEvent(t, s, spec{zone: 1})
	must(t, s.PutQuota(ctx, booking.Quota{ID: f.ev.ID + "-q", EventID: f.ev.ID, Name: "q", Kind: booking.QuotaVIP}))
	tests := []struct {
		name string
		call func() error
	}{
		{"event without id", func() error {
			return s.PutEvent(ctx, booking.Event{Name: "x", Status: booking.EventDraft, Currency: "EUR"})
		}},
		{"event with unknown status", func() error {
			return s.PutEvent(ctx, booking.Event{ID: "x", Name: "x", Status: "sold", Currency: "EUR"})
		}},
		{"section of an unknown event", func() error {
			return s.PutSection(ctx, booking.Section{ID: "x", EventID: "nope", Name: "x"})
		}},
		{"seat of an unknown section", func() error {
			return s.PutSeats(ctx, []booking.Seat{{ID: "x", EventID: f.ev.ID, SectionID: "nope", Row: "A", Number: "1", TicketTypeID: f.ticketType}})
		}},
		{"seat in another event's section", func() error {
			return s.PutSeats(ctx, []booking.Seat{{ID: "x", EventID: other.ev.ID, SectionID: f.section, Row: "A", Number: "1", TicketTypeID: other.ticketType}})
		}},
		{"zone of another event's ticket type", func() error {
			return s.PutZone(ctx, booking.Zone{ID: "x", EventID: other.ev.ID, Name: "x", Capacity: 1, TicketTypeID: f.ticketType})
		}},
		{"presale code of another event's quota", func() error {
			return s.PutPresaleCode(ctx, booking.PresaleCode{Code: "x", EventID: other.ev.ID, QuotaID: f.ev.ID + "-q"})
		}},
		{"seat given twice", func() error {
			st := booking.Seat{ID: "x", EventID: f.ev.ID, SectionID: f.section, Row: "A", Number: "1", TicketTypeID: f.ticketType}
			return s.PutSeats(ctx, []booking.Seat{st, st})
		}},
		{"zone with negative capacity", func() error {
			return s.PutZone(ctx, booking.Zone{ID: "x", EventID: f.ev.ID, Name: "x", Capacity: -1, TicketTypeID: f.ticketType})
		}},
		{"quota of unknown kind", func() error {
			return s.PutQuota(ctx, booking.Quota{ID: "x", EventID: f.ev.ID, Name: "x", Kind: "friends"})
		}},
		{"promo code with two discounts", func() error {
			return s.PutPromoCode(ctx, booking.PromoCode{Code: "x", EventID: f.ev.ID, PercentOff: 5, AmountOffCents: 100})
		}},
		{"promo code over 100 percent", func() error {
			return s.PutPromoCode(ctx, booking.PromoCode{Code: "x", EventID: f.ev.ID, PercentOff: 101})
		}},
		{"unknown seat", func() error { _, err := s.Hold(ctx, f.seatReq("a", t0, f.seats[0], "nope")); return err }},
		{"seat asked for twice", func() error { _, err := s.Hold(ctx, f.seatReq("a", t0, f.seats[0], f.seats[0])); return err }},
		{"seats and a zone", func() error {
			r := f.seatReq("a", t0, f.seats[0])
			r.ZoneID, r.Quantity = f.zone, 1
			_, err := s.Hold(ctx, r)
			return err
		}},
		{"nothing", func() error { _, err := s.Hold(ctx, f.seatReq("a", t0)); return err }},
		{"unknown zone", func() error {
			r := f.zoneReq("a", t0, 1)
			r.ZoneID = "nope"
			_, err := s.Hold(ctx, r)
			return err
		}},
		{"zone of another event", func() error {
			r := f.zoneReq("a", t0, 1)
			r.ZoneID = other.zone
			_, err := s.Hold(ctx, r)
			return err
		}},
		{"no ttl", func() error {
			r := f.seatReq("a", t0, f.seats[0])
			r.TTL = 0
			_, err := s.Hold(ctx, r)
			return err
		}},
		{"no account", func() error { _, err := s.Hold(ctx, f.seatReq("", t0, f.seats[0])); return err }},
		{"allocate nothing", func() error { return s.AllocateZone(ctx, f.ev.ID, f.zone, f.ev.ID+"-q", 0, t0) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.call(), booking.ErrInvalid)
		})
	}
	// None of that took a place.
	a := availability(t, s, f, t0)
	if got := seatsIn(a, booking.PlaceAvailable); len(got) != 2 || a.Zones[f.zone].Available != 5 {
		t.Errorf("invalid requests changed the inventory: %+v", a)
	}
}

func testZoneSize(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{zone: 10})
	z := booking.Zone{ID: f.zone, EventID: f.ev.ID, Name: "Standing", Capacity: 10, TicketTypeID: f.ticketType}
	buy(t, s, f.zoneReq("buyer", t0, 2))
	hold(t, s, f.zoneReq("holder", t0, 3))
	resize := func(n int) error {
		z.Capacity = n
		return s.PutZone(ctx, z)
	}
	check := func(want booking.ZoneCount) {
		t.Helper()
		if got := availability(t, s, f, t0).Zones[f.zone]; got != want {
			t.Errorf("zone: got %+v, want %+v", got, want)
		}
		zs, err := s.Zones(ctx, f.ev.ID)
		must(t, err)
		if zs[0].Capacity != want.Capacity {
			t.Errorf("zone capacity: got %d, want %d", zs[0].Capacity, want.Capacity)
		}
	}
	check(booking.ZoneCount{Capacity: 10, Available: 5, Held: 3, Sold: 2})
	must(t, resize(25))
	check(booking.ZoneCount{Capacity: 25, Available: 20, Held: 3, Sold: 2})
	must(t, resize(6))
	check(booking.ZoneCount{Capacity: 6, Available: 1, Held: 3, Sold: 2})
	must(t, resize(5))
	check(booking.ZoneCount{Capacity: 5, Available: 0, Held: 3, Sold: 2})
	wantErr(t, resize(4), booking.ErrConflict)
	check(booking.ZoneCount{Capacity: 5, Available: 0, Held: 3, Sold: 2})
	must(t, resize(7))
	h := hold(t, s, f.zoneReq("late", t0, 2)) // the new places can be held
	if len(h.Items) != 2 {
		t.Errorf("hold of new places: %d items", len(h.Items))
	}
}

func testQuotaMoves(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{zone: 10})
	must(t, s.PutQuota(ctx, booking.Quota{ID: f.ev.ID + "-fans", EventID: f.ev.ID, Name: "Fans", Kind: booking.QuotaPresale}))
	must(t, s.PutQuota(ctx, booking.Quota{ID: f.ev.ID + "-press", EventID: f.ev.ID, Name: "Press", Kind: booking.QuotaPartner}))
	fans, press := f.ev.ID+"-fans", f.ev.ID+"-press"
	must(t, s.PutPresaleCode(ctx, booking.PresaleCode{Code: "FAN", EventID: f.ev.ID, QuotaID: fans}))

	buy(t, s, f.zoneReq("early", t0, 2)) // 8 public places left
	must(t, s.AllocateZone(ctx, f.ev.ID, f.zone, fans, 4, t0))
	if got := availability(t, s, f, t0).Zones[f.zone]; got != (booking.ZoneCount{Capacity: 10, Available: 4, Held: 4, Sold: 2}) {
		t.Errorf("after allocating 4: %+v", got)
	}
	err := s.AllocateZone(ctx, f.ev.ID, f.zone, press, 5, t0)
	var short *booking.NotEnoughError
	if !errors.As(err, &short) || short.Available != 4 {
		t.Fatalf("allocating more than is free: %v, want 4 available", err)
	}

	// The public cannot reach the quota; the code can, and takes the
	// quota's places first.
	_, err = s.Hold(ctx, f.zoneReq("public", t0, 5))
	if !errors.As(err, &short) || short.Available != 4 {
		t.Fatalf("public hold of 5: %v, want 4 available", err)
	}
	r := f.zoneReq("fan", t0, 1)
	r.PresaleCode = "FAN"
	buy(t, s, r) // one quota place sold
	r = f.zoneReq("fan2", t0, 1)
	r.PresaleCode = "FAN"
	hold(t, s, r) // one quota place held
	if got := availability(t, s, f, t0).Zones[f.zone]; got != (booking.ZoneCount{Capacity: 10, Available: 4, Held: 3, Sold: 3}) {
		t.Errorf("after presale: %+v", got)
	}

	// Unsold quota places, held or not, move; the sold one stays.
	moved, err := s.ReleaseQuota(ctx, f.ev.ID, fans, press, t0)
	must(t, err)
	if moved != 3 {
		t.Errorf("moved %d to press, want 3", moved)
	}
	moved, err = s.ReleaseQuota(ctx, f.ev.ID, press, "", t0)
	must(t, err)
	if moved != 3 {
		t.Errorf("moved %d to the public, want 3", moved)
	}
	if got := availability(t, s, f, t0).Zones[f.zone]; got != (booking.ZoneCount{Capacity: 10, Available: 6, Held: 1, Sold: 3}) {
		t.Errorf("after release: %+v", got)
	}
	h := hold(t, s, f.zoneReq("public", t0, 6))
	if len(h.Items) != 6 {
		t.Errorf("public hold after release: %d items", len(h.Items))
	}
}

func testSeatQuotas(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 3})
	q := f.ev.ID + "-vip"
	must(t, s.PutQuota(ctx, booking.Quota{ID: q, EventID: f.ev.ID, Name: "VIP", Kind: booking.QuotaVIP}))
	must(t, s.PutPresaleCode(ctx, booking.PresaleCode{Code: "VIP", EventID: f.ev.ID, QuotaID: q}))
	seat := func(id, quota string) booking.Seat {
		return booking.Seat{ID: id, EventID: f.ev.ID, SectionID: f.section, Row: "A", Number: "x", TicketTypeID: f.ticketType, QuotaID: quota}
	}
	must(t, s.PutSeats(ctx, []booking.Seat{seat(f.seats[0], q), seat(f.seats[1], q)}))
	a := availability(t, s, f, t0)
	if got := seatsIn(a, booking.PlaceHeld); !slices.Equal(got, sorted(f.seats[:2])) {
		t.Errorf("quota seats shown %v held, want %v", got, f.seats[:2])
	}
	_, err := s.Hold(ctx, f.seatReq("public", t0, f.seats[0]))
	var taken *booking.TakenError
	if !errors.As(err, &taken) {
		t.Fatalf("public hold of a quota seat: %v", err)
	}
	r := f.seatReq("vip", t0, f.seats[0], f.seats[2]) // with a code, public seats too
	r.PresaleCode = "VIP"
	hold(t, s, r)
	// A held seat keeps its quota; an available one may leave it.
	wantErr(t, s.PutSeats(ctx, []booking.Seat{seat(f.seats[0], "")}), booking.ErrConflict)
	must(t, s.PutSeats(ctx, []booking.Seat{seat(f.seats[1], "")}))
	hold(t, s, f.seatReq("public", t0, f.seats[1]))
}
