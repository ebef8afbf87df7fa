// Package demo is what `usher demo` puts behind the gateway: the booking
// backend's seeded events, and a crowd of simulated fans who queue ahead of
// you, so the queue can be seen.
package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/usherhq/usher/booking"
)

// Seed fills a booking store with the demo's events, all behind waiting
// room room: an arena with assigned seats in two sections, a standing zone,
// early-bird prices, VIP seats that only a presale code unlocks, and a promo
// code; a small hall with standing only; and a festival whose sale has not
// opened yet.
func Seed(ctx context.Context, s booking.Store, room string, now time.Time) error {
	day := now.Truncate(24 * time.Hour)
	arena := booking.Event{
		ID: "wandering-stars", Name: "The Wandering Stars — Summer Tour", Venue: "Riverside Arena", Room: room,
		StartsAt: day.Add(45*24*time.Hour + 20*time.Hour), Status: booking.EventOnSale, Currency: "EUR",
		MaxPerOrder: 6, MaxPerAccount: 8,
		Description: "The band's first tour in six years. Doors open at 19:00.",
	}
	steps := []func() error{
		func() error { return s.PutEvent(ctx, arena) },
		func() error {
			return s.PutTicketType(ctx, booking.TicketType{ID: "stalls", EventID: arena.ID, Name: "Stalls", Tiers: []booking.PriceTier{
				{Name: "Early bird", PriceCents: 3900, UntilSold: 40}, {Name: "Standard", PriceCents: 4900},
			}})
		},
		func() error {
			return s.PutTicketType(ctx, booking.TicketType{ID: "circle", EventID: arena.ID, Name: "Circle", Tiers: []booking.PriceTier{{Name: "Standard", PriceCents: 3500}}})
		},
		func() error {
			return s.PutTicketType(ctx, booking.TicketType{ID: "standing", EventID: arena.ID, Name: "Standing", Tiers: []booking.PriceTier{
				{Name: "Early bird", PriceCents: 2500, Until: day.Add(7 * 24 * time.Hour)}, {Name: "Standard", PriceCents: 2900},
			}})
		},
		func() error {
			return s.PutSection(ctx, booking.Section{ID: "stalls", EventID: arena.ID, Name: "Stalls", Position: 1})
		},
		func() error {
			return s.PutSection(ctx, booking.Section{ID: "circle", EventID: arena.ID, Name: "Circle", Position: 2})
		},
		func() error {
			return s.PutQuota(ctx, booking.Quota{ID: "vip", EventID: arena.ID, Name: "Front row VIP", Kind: booking.QuotaVIP})
		},
		func() error { return s.PutSeats(ctx, arenaSeats(arena.ID)) },
		func() error {
			return s.PutZone(ctx, booking.Zone{ID: "standing", EventID: arena.ID, Name: "Standing", Capacity: 300, TicketTypeID: "standing"})
		},
		func() error {
			return s.PutPresaleCode(ctx, booking.PresaleCode{Code: "FRONTROW", EventID: arena.ID, QuotaID: "vip", MaxUses: 20})
		},
		func() error {
			return s.PutPromoCode(ctx, booking.PromoCode{Code: "DEMO10", EventID: arena.ID, PercentOff: 10, MaxUses: 100})
		},
	}
	hall := booking.Event{
		ID: "midnight-orchestra", Name: "Midnight Orchestra", Venue: "Old Town Hall", Room: room,
		StartsAt: day.Add(52*24*time.Hour + 19*time.Hour + 30*time.Minute), Status: booking.EventOnSale, Currency: "EUR", MaxPerOrder: 4,
		Description: "Late-night symphonic sets by candlelight. Standing only.",
	}
	steps = append(steps,
		func() error { return s.PutEvent(ctx, hall) },
		func() error {
			return s.PutTicketType(ctx, booking.TicketType{ID: "floor", EventID: hall.ID, Name: "Floor", Tiers: []booking.PriceTier{{Name: "Standard", PriceCents: 2200}}})
		},
		func() error {
			return s.PutZone(ctx, booking.Zone{ID: "floor", EventID: hall.ID, Name: "Floor", Capacity: 120, TicketTypeID: "floor"})
		},
	)
	fest := booking.Event{
		ID: "harbour-lights", Name: "Harbour Lights Festival", Venue: "Harbour Park", Room: room,
		StartsAt: day.Add(80*24*time.Hour + 14*time.Hour), OnSaleFrom: day.Add(24*time.Hour + 10*time.Hour),
		Status: booking.EventOnSale, Currency: "EUR", MaxPerOrder: 4,
		Description: "Three stages by the water. Day tickets go on sale tomorrow at 10:00.",
	}
	steps = append(steps,
		func() error { return s.PutEvent(ctx, fest) },
		func() error {
			return s.PutTicketType(ctx, booking.TicketType{ID: "day", EventID: fest.ID, Name: "Day ticket", Tiers: []booking.PriceTier{{Name: "Standard", PriceCents: 5900}}})
		},
		func() error {
			return s.PutZone(ctx, booking.Zone{ID: "grounds", EventID: fest.ID, Name: "Festival grounds", Capacity: 2000, TicketTypeID: "day"})
		},
	)
	for i, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("seed the demo (step %d): %w", i+1, err)
		}
	}
	return nil
}

// arenaSeats lays out the arena: the stage at the top, eight rows of stalls
// in a gentle curve, then three rows of circle further back. The middle of
// row A is the VIP quota's.
func arenaSeats(eventID string) []booking.Seat {
	var seats []booking.Seat
	add := func(section, ticketType string, rows string, perRow int, top float64) {
		for r, row := range rows {
			for n := 1; n <= perRow; n++ {
				x := 40 + float64(n-1)*30
				mid := float64(perRow-1) / 2
				curve := (float64(n-1) - mid) * (float64(n-1) - mid) * 0.15
				s := booking.Seat{
					ID: fmt.Sprintf("%s-%c%d", section, row, n), EventID: eventID, SectionID: section,
					Row: string(row), Number: fmt.Sprint(n), TicketTypeID: ticketType,
					X: x, Y: top + float64(r)*32 + curve,
				}
				if section == "stalls" && row == 'A' && n >= 5 && n <= 12 {
					s.QuotaID = "vip"
				}
				seats = append(seats, s)
			}
		}
	}
	add("stalls", "stalls", "ABCDEFGH", 16, 90)
	add("circle", "circle", "JKL", 16, 400)
	return seats
}
