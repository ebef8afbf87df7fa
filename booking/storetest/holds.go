package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/booking"
)

// racers is how many goroutines the contention cases start at once.
const racers = 200

// race runs fn(i) for i in [0, n) on n goroutines released together,
// after warming s up so that they do not queue for new connections, which
// would line them up one after the other.
func race(t testing.TB, s booking.Store, n int, fn func(i int)) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if err := s.Ping(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// pick returns n different elements of from, in random order.
func pick(r *rand.Rand, from []string, n int) []string {
	p := slices.Clone(from)
	r.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
	return p[:n]
}

func testConcurrentSeatHolds(t *testing.T, s booking.Store) {
	f := makeEvent(t, s, spec{seats: 10})
	type result struct {
		asked []string
		hold  booking.Hold
		err   error
	}
	results := make([]result, racers)
	race(t, s, racers, func(i int) {
		r := rand.New(rand.NewPCG(uint64(i), 1))
		asked := pick(r, f.seats, 1+r.IntN(3))
		h, err := s.Hold(t.Context(), f.seatReq(fmt.Sprintf("fan%d", i), t0, asked...))
		results[i] = result{asked, h, err}
	})

	owner := map[string]int{} // seat → the goroutine whose hold has it
	for i, r := range results {
		if r.err != nil {
			continue
		}
		if got := itemSeats(r.hold.Items); !slices.Equal(got, sorted(r.asked)) {
			t.Errorf("hold %d has seats %v, asked for %v", i, got, r.asked)
		}
		for _, seat := range r.asked {
			if j, ok := owner[seat]; ok {
				t.Errorf("seat %s held by both %d and %d", seat, j, i)
			}
			owner[seat] = i
		}
	}
	if len(owner) == 0 {
		t.Fatal("no hold succeeded")
	}
	for i, r := range results {
		if r.err == nil {
			continue
		}
		var taken *booking.TakenError
		if !errors.As(r.err, &taken) {
			t.Errorf("hold %d: %v, want a TakenError", i, r.err)
			continue
		}
		if len(taken.SeatIDs) == 0 {
			t.Errorf("hold %d: TakenError names no seat", i)
		}
		for _, seat := range taken.SeatIDs {
			if !slices.Contains(r.asked, seat) {
				t.Errorf("hold %d: TakenError names %s, which it did not ask for", i, seat)
			}
			if _, ok := owner[seat]; !ok {
				t.Errorf("hold %d: TakenError names %s, which no hold has", i, seat)
			}
		}
	}
	var heldByHolds []string
	for seat := range owner {
		heldByHolds = append(heldByHolds, seat)
	}
	a := availability(t, s, f, t0)
	if got, want := seatsIn(a, booking.PlaceHeld), sorted(heldByHolds); !slices.Equal(got, want) {
		t.Errorf("held seats %v, want the union of the successful holds %v", got, want)
	}
}

func testConcurrentZoneHolds(t *testing.T, s booking.Store) {
	const capacity = 50
	f := makeEvent(t, s, spec{zone: capacity})
	holds := make([]booking.Hold, racers)
	errs := make([]error, racers)
	asked := make([]int, racers)
	race(t, s, racers, func(i int) {
		asked[i] = 1 + rand.New(rand.NewPCG(uint64(i), 2)).IntN(3)
		holds[i], errs[i] = s.Hold(t.Context(), f.zoneReq(fmt.Sprintf("fan%d", i), t0, asked[i]))
	})
	total := 0
	places := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			var short *booking.NotEnoughError
			if !errors.As(err, &short) || short.Available >= asked[i] {
				t.Errorf("hold %d of %d: %v, want fewer than %[2]d available", i, asked[i], err)
			}
			continue
		}
		if len(holds[i].Items) != asked[i] {
			t.Errorf("hold %d has %d places, asked for %d", i, len(holds[i].Items), asked[i])
		}
		for _, it := range holds[i].Items {
			if places[it.PlaceID] {
				t.Errorf("place %s held twice", it.PlaceID)
			}
			places[it.PlaceID] = true
		}
		total += asked[i]
	}
	if total > capacity || total == 0 {
		t.Fatalf("holds took %d places of %d", total, capacity)
	}
	want := booking.ZoneCount{Capacity: capacity, Available: capacity - total, Held: total}
	if got := availability(t, s, f, t0).Zones[f.zone]; got != want {
		t.Errorf("zone %+v, want %+v", got, want)
	}
}

func testExpiry(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 2, zone: 3})
	hs := hold(t, s, f.seatReq("first", t0, f.seats...))
	hz := hold(t, s, f.zoneReq("first", t0, 3))
	before, at := hs.ExpiresAt.Add(-time.Microsecond), hs.ExpiresAt

	a := availability(t, s, f, before)
	if got := seatsIn(a, booking.PlaceHeld); len(got) != 2 || a.Zones[f.zone].Held != 3 {
		t.Errorf("just before expiry: %+v", a)
	}
	a = availability(t, s, f, at)
	if got := seatsIn(a, booking.PlaceAvailable); len(got) != 2 || a.Zones[f.zone].Available != 3 {
		t.Errorf("at expiry, nothing is free: %+v", a)
	}
	sum, err := s.Summary(ctx, f.ev.ID, at)
	must(t, err)
	if sum.Available != 5 || sum.Held != 0 {
		t.Errorf("summary at expiry: %+v", sum)
	}

	// Before expiry the places are taken; at expiry anyone may have them.
	_, err = s.Hold(ctx, f.seatReq("second", before, f.seats[0]))
	var taken *booking.TakenError
	if !errors.As(err, &taken) {
		t.Fatalf("hold before expiry: %v", err)
	}
	h2 := hold(t, s, f.seatReq("second", at, f.seats...))
	hold(t, s, f.zoneReq("second", at, 3))
	if got := itemSeats(h2.Items); !slices.Equal(got, sorted(f.seats)) {
		t.Errorf("second hold has %v", got)
	}

	// The lapsed holds are still there to read, but cannot be ordered.
	old, err := s.GetHold(ctx, hs.ID)
	must(t, err)
	if len(old.Items) != 2 || old.Released {
		t.Errorf("lapsed hold reads %+v", old)
	}
	_, _, err = s.CreateOrder(ctx, booking.OrderRequest{OrderID: newID("order"), HoldID: hz.ID, Account: "first", Now: at})
	wantErr(t, err, booking.ErrHoldExpired)
}

func testAllOrNothing(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 4, zone: 3})
	hold(t, s, f.seatReq("first", t0, f.seats[1]))
	_, err := s.Hold(ctx, f.seatReq("second", t0, f.seats[0], f.seats[1], f.seats[2]))
	var taken *booking.TakenError
	if !errors.As(err, &taken) || !slices.Equal(taken.SeatIDs, []string{f.seats[1]}) {
		t.Fatalf("got %v, want seat %s taken", err, f.seats[1])
	}
	a := availability(t, s, f, t0)
	if got := seatsIn(a, booking.PlaceHeld); !slices.Equal(got, []string{f.seats[1]}) {
		t.Errorf("held seats %v after a failed hold, want only %s", got, f.seats[1])
	}

	hold(t, s, f.zoneReq("first", t0, 2))
	_, err = s.Hold(ctx, f.zoneReq("second", t0, 2))
	var short *booking.NotEnoughError
	if !errors.As(err, &short) || short.Available != 1 || short.ZoneID != f.zone {
		t.Fatalf("got %v, want 1 available", err)
	}
	if got := availability(t, s, f, t0).Zones[f.zone]; got.Held != 2 {
		t.Errorf("zone %+v after a failed hold", got)
	}
	// A sold seat is taken too.
	buy(t, s, f.seatReq("buyer", t0, f.seats[3]))
	_, err = s.Hold(ctx, f.seatReq("second", t0, f.seats[0], f.seats[3]))
	if !errors.As(err, &taken) || !slices.Equal(taken.SeatIDs, []string{f.seats[3]}) {
		t.Fatalf("got %v, want seat %s taken", err, f.seats[3])
	}
}

func testPresale(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{zone: 4})
	fans := f.ev.ID + "-fans"
	must(t, s.PutQuota(ctx, booking.Quota{ID: fans, EventID: f.ev.ID, Name: "Fans", Kind: booking.QuotaPresale}))
	must(t, s.AllocateZone(ctx, f.ev.ID, f.zone, fans, 4, t0))
	must(t, s.PutPresaleCode(ctx, booking.PresaleCode{Code: "FAN", EventID: f.ev.ID, QuotaID: fans, MaxUses: 1}))
	other := makeEvent(t, s, spec{zone: 1})

	_, err := s.Hold(ctx, f.zoneReq("public", t0, 1))
	var short *booking.NotEnoughError
	if !errors.As(err, &short) || short.Available != 0 {
		t.Fatalf("public hold of quota places: %v", err)
	}
	tests := []struct {
		name, code string
		event      fixture
	}{
		{"unknown code", "NOPE", f},
		{"code of another event", "FAN", other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.event.zoneReq("fan", t0, 1)
			r.PresaleCode = tc.code
			_, err := s.Hold(ctx, r)
			wantErr(t, err, booking.ErrBadCode)
		})
	}
	r := f.zoneReq("fan", t0, 2)
	r.PresaleCode = "FAN"
	hold(t, s, r)
	r = f.zoneReq("fan2", t0, 1)
	r.PresaleCode = "FAN"
	_, err = s.Hold(ctx, r)
	wantErr(t, err, booking.ErrBadCode) // used up
}

func testPresaleMaxUses(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{zone: 30})
	fans := f.ev.ID + "-fans"
	must(t, s.PutQuota(ctx, booking.Quota{ID: fans, EventID: f.ev.ID, Name: "Fans", Kind: booking.QuotaPresale}))
	must(t, s.AllocateZone(ctx, f.ev.ID, f.zone, fans, 30, t0))
	must(t, s.PutPresaleCode(ctx, booking.PresaleCode{Code: "FAN", EventID: f.ev.ID, QuotaID: fans, MaxUses: 5}))
	errs := make([]error, 20)
	race(t, s, 20, func(i int) {
		r := f.zoneReq(fmt.Sprintf("fan%d", i), t0, 1)
		r.PresaleCode = "FAN"
		_, errs[i] = s.Hold(ctx, r)
	})
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, booking.ErrBadCode):
			t.Errorf("presale hold: %v", err)
		}
	}
	if ok != 5 {
		t.Errorf("%d holds with a code of 5 uses", ok)
	}
	if got := availability(t, s, f, t0).Zones[f.zone]; got.Held != 30 || got.Available != 0 {
		t.Errorf("zone %+v", got)
	}
}

func testNotOnSale(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 1})
	tests := []struct {
		name   string
		status booking.EventStatus
		now    time.Time
	}{
		{"before the window", booking.EventOnSale, f.ev.OnSaleFrom.Add(-time.Second)},
		{"at its end", booking.EventOnSale, f.ev.OnSaleUntil},
		{"draft", booking.EventDraft, t0},
		{"closed", booking.EventClosed, t0},
		{"cancelled", booking.EventCancelled, t0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := makeEvent(t, s, spec{seats: 1, status: tc.status})
			_, err := s.Hold(ctx, g.seatReq("fan", tc.now, g.seats[0]))
			wantErr(t, err, booking.ErrNotOnSale)
		})
	}
	hold(t, s, f.seatReq("fan", f.ev.OnSaleFrom, f.seats[0])) // the window includes its start
}

func testPerOrderLimit(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 5, zone: 10, maxPerOrder: 3})
	_, err := s.Hold(ctx, f.seatReq("fan", t0, f.seats[:4]...))
	var limit *booking.LimitError
	if !errors.As(err, &limit) || limit.Limit != "per_order" || limit.Max != 3 {
		t.Fatalf("4 seats: %v, want the per-order limit of 3", err)
	}
	_, err = s.Hold(ctx, f.zoneReq("fan", t0, 4))
	if !errors.As(err, &limit) || limit.Limit != "per_order" {
		t.Fatalf("4 zone places: %v, want the per-order limit", err)
	}
	hold(t, s, f.seatReq("fan", t0, f.seats[:3]...))
	hold(t, s, f.zoneReq("fan", t0, 3)) // per order, not per account
}

func testPerAccountLimit(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 10, maxPerAccount: 4})
	buy(t, s, f.seatReq("fan", t0, f.seats[0], f.seats[1]))
	h := hold(t, s, f.seatReq("fan", t0, f.seats[2]))
	_, err := s.Hold(ctx, f.seatReq("fan", t0, f.seats[3], f.seats[4]))
	var limit *booking.LimitError
	if !errors.As(err, &limit) || limit.Limit != "per_account" || limit.Max != 4 || limit.Have != 3 {
		t.Fatalf("got %v, want the per-account limit with 3 had", err)
	}
	hold(t, s, f.seatReq("other", t0, f.seats[3], f.seats[4])) // another account is not limited
	hold(t, s, f.seatReq("fan", t0, f.seats[5]))
	_, err = s.Hold(ctx, f.seatReq("fan", t0, f.seats[6]))
	if !errors.As(err, &limit) || limit.Have != 4 {
		t.Fatalf("fifth place: %v", err)
	}
	// Released and expired holds stop counting; paid orders do not.
	must(t, s.ReleaseHold(ctx, h.ID, "fan", t0))
	hold(t, s, f.seatReq("fan", t0, f.seats[6]))
	later := t0.Add(ttl)
	hold(t, s, f.seatReq("fan", later, f.seats[7], f.seats[8]))
	_, err = s.Hold(ctx, f.seatReq("fan", later, f.seats[9]))
	if !errors.As(err, &limit) || limit.Have != 4 {
		t.Fatalf("after expiry: %v, want 4 had (2 paid, 2 held)", err)
	}
}

func testPerAccountConcurrent(t *testing.T, s booking.Store) {
	f := makeEvent(t, s, spec{seats: 10, maxPerAccount: 4})
	errs := make([]error, 10)
	race(t, s, 10, func(i int) {
		_, errs[i] = s.Hold(t.Context(), f.seatReq("fan", t0, f.seats[i]))
	})
	ok := 0
	for _, err := range errs {
		var limit *booking.LimitError
		switch {
		case err == nil:
			ok++
		case !errors.As(err, &limit) || limit.Limit != "per_account":
			t.Errorf("hold: %v", err)
		}
	}
	if ok != 4 {
		t.Errorf("%d holds of one account succeeded, want 4", ok)
	}
	if got := seatsIn(availability(t, s, f, t0), booking.PlaceHeld); len(got) != 4 {
		t.Errorf("%d seats held, want 4", len(got))
	}
}

func testReleaseHold(t *testing.T, s booking.Store) {
	ctx := t.Context()
	f := makeEvent(t, s, spec{seats: 3, zone: 2})
	h := hold(t, s, f.seatReq("fan", t0, f.seats[0], f.seats[1]))
	hz := hold(t, s, f.zoneReq("fan", t0, 2))
	wantErr(t, s.ReleaseHold(ctx, h.ID, "someone else", t0), booking.ErrNotFound)
	must(t, s.ReleaseHold(ctx, h.ID, "fan", t0))
	must(t, s.ReleaseHold(ctx, h.ID, "fan", t0)) // again: nothing to do
	must(t, s.ReleaseHold(ctx, hz.ID, "fan", t0))
	a := availability(t, s, f, t0)
	if got := seatsIn(a, booking.PlaceAvailable); len(got) != 3 || a.Zones[f.zone].Available != 2 {
		t.Errorf("after release: %+v", a)
	}
	got, err := s.GetHold(ctx, h.ID)
	must(t, err)
	if !got.Released {
		t.Error("released hold is not marked released")
	}
	_, _, err = s.CreateOrder(ctx, booking.OrderRequest{OrderID: newID("order"), HoldID: h.ID, Account: "fan", Now: t0})
	wantErr(t, err, booking.ErrHoldUsed)
	hold(t, s, f.seatReq("other", t0, f.seats[0], f.seats[1]))

	ordered := hold(t, s, f.seatReq("fan", t0, f.seats[2]))
	order(t, s, ordered, "", t0)
	wantErr(t, s.ReleaseHold(ctx, ordered.ID, "fan", t0), booking.ErrHoldUsed)
}

func testPrices(t *testing.T, s booking.Store) {
	f := makeEvent(t, s, spec{seats: 5, tiers: []booking.PriceTier{
		{Name: "Early bird", PriceCents: 2000, Until: t0.Add(time.Hour)},
		{Name: "First two", PriceCents: 3000, UntilSold: 2},
		{Name: "Regular", PriceCents: 4500},
	}})
	early := hold(t, s, f.seatReq("a", t0, f.seats[0], f.seats[1]))
	if early.TotalCents != 4000 || early.Items[0].PriceCents != 2000 || early.Currency != "EUR" {
		t.Errorf("early bird hold: %+v", early)
	}
	later := t0.Add(2 * time.Hour)
	buy(t, s, f.seatReq("b", later, f.seats[2])) // 1 sold: still "first two"
	h := hold(t, s, f.seatReq("c", later, f.seats[3]))
	if h.TotalCents != 3000 {
		t.Errorf("with 1 sold: total %d, want 3000", h.TotalCents)
	}
	buy(t, s, f.seatReq("d", later, f.seats[4])) // the price a hold got is kept
	o := order(t, s, h, "", later)
	if o.SubtotalCents != 3000 || o.TotalCents != 3000 {
		t.Errorf("order of a hold priced before: %+v", o)
	}
	must(t, s.ReleaseHold(t.Context(), early.ID, "a", later))
	h = hold(t, s, f.seatReq("e", later, f.seats[0]))
	if h.TotalCents != 4500 {
		t.Errorf("with 2 sold: total %d, want 4500", h.TotalCents)
	}
	if h.Items[0].Label != "Stalls, row A, seat 1" || h.Items[0].SeatID != f.seats[0] || h.Items[0].TicketTypeID != f.ticketType {
		t.Errorf("item %+v", h.Items[0])
	}
}
