package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usherhq/usher/booking"
)

// Summary reads an event's sales at now: places by state (by the rules of
// Availability), revenue of paid orders whose paying attempt was not
// refunded, orders by status, tickets checked in, sold places by ticket
// type.
func (s *Store) Summary(ctx context.Context, eventID string, now time.Time) (booking.Summary, error) {
	now = truncate(now)
	var sum booking.Summary
	err := s.read(ctx, func(c conn) error {
		if err := eventExists(ctx, c, eventID); err != nil {
			return err
		}
		sum = booking.Summary{EventID: eventID, Orders: map[booking.OrderStatus]int{}, ByTicketType: map[string]int{}}
		if err := counts(ctx, c, `SELECT st, count(*) FROM (SELECT `+stateAt+` AS st FROM places WHERE event_id = ?) p
GROUP BY st`, func(k string, n int) {
			sum.Capacity += n
			switch booking.PlaceState(k) {
			case booking.PlaceAvailable:
				sum.Available = n
			case booking.PlaceHeld:
				sum.Held = n
			case booking.PlaceSold:
				sum.Sold = n
			}
		}, now, eventID); err != nil {
			return err
		}
		if err := counts(ctx, c, `SELECT status, count(*) FROM orders WHERE event_id = ? GROUP BY status`,
			func(k string, n int) { sum.Orders[booking.OrderStatus(k)] = n }, eventID); err != nil {
			return err
		}
		if err := counts(ctx, c, `SELECT ticket_type_id, count(*) FROM places
WHERE event_id = ? AND state = 'sold' GROUP BY ticket_type_id`,
			func(k string, n int) { sum.ByTicketType[k] = n }, eventID); err != nil {
			return err
		}
		if err := c.row(ctx, `
SELECT coalesce(sum(total_cents), 0) FROM orders o
WHERE event_id = ? AND status = 'paid'
  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = o.paid_by AND p.status = 'refunded')`,
			eventID).Scan(&sum.RevenueCents); err != nil {
			return err
		}
		return c.row(ctx, `SELECT count(*) FROM tickets WHERE event_id = ? AND checked_in_at IS NOT NULL`,
			eventID).Scan(&sum.CheckedIn)
	})
	if err != nil {
		return booking.Summary{}, fmt.Errorf("summary of %q: %w", eventID, err)
	}
	return sum, nil
}

// counts runs a query of (key, count) rows and hands each to add.
func counts(ctx context.Context, c conn, query string, add func(k string, n int), args ...any) error {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		add(k, n)
	}
	return rows.Err()
}
