package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/usherhq/usher/booking"
)

// GetTicket reads a ticket.
func (s *Store) GetTicket(ctx context.Context, id string) (booking.Ticket, error) {
	ts, err := loadTickets(ctx, s.reader(), `id = ?`, id)
	if err == nil && len(ts) == 0 {
		err = fmt.Errorf("ticket %q: %w", id, booking.ErrNotFound)
	}
	if err != nil {
		return booking.Ticket{}, fmt.Errorf("get ticket: %w", s.mapErr(err))
	}
	return ts[0], nil
}

func loadTickets(ctx context.Context, c conn, where string, args ...any) ([]booking.Ticket, error) {
	rows, err := c.query(ctx, `SELECT id, order_id, event_id, place_id, label, ticket_type_id, issued_at,
       void, checked_in_at
FROM tickets WHERE `+where+` ORDER BY place_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []booking.Ticket
	for rows.Next() {
		var t booking.Ticket
		var place int64
		if err := rows.Scan(&t.ID, &t.OrderID, &t.EventID, &place, &t.Label, &t.TicketTypeID,
			tm(&t.IssuedAt), &t.Void, tm(&t.CheckedInAt)); err != nil {
			return nil, err
		}
		t.PlaceID = strconv.FormatInt(place, 10)
		out = append(out, t)
	}
	return out, rows.Err()
}

// CheckIn admits a ticket once, with one conditional UPDATE: of any number
// of scans at once, exactly one is first, and the others get its time.
func (s *Store) CheckIn(ctx context.Context, ticketID string, now time.Time) (bool, time.Time, error) {
	now = truncate(now)
	var first bool
	var at time.Time
	err := s.write(ctx, func(c conn) error {
		n, err := c.exec(ctx, `UPDATE tickets SET checked_in_at = ?
WHERE id = ? AND checked_in_at IS NULL AND NOT void`, now, ticketID)
		if err != nil {
			return err
		}
		if n == 1 {
			first, at = true, now
			return nil
		}
		first = false
		var void bool
		err = c.row(ctx, `SELECT void, checked_in_at FROM tickets WHERE id = ?`, ticketID).Scan(&void, tm(&at))
		if err != nil {
			return notFound(err, "ticket", ticketID)
		}
		if void {
			return invalid("ticket %q is void", ticketID)
		}
		return nil
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("check in: %w", err)
	}
	return first, at, nil
}
