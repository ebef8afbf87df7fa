package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/usherhq/usher/booking"
)

// PutEvent creates or replaces an event.
func (s *Store) PutEvent(ctx context.Context, e booking.Event) error {
	if err := validEvent(e); err != nil {
		return fmt.Errorf("put event %q: %w", e.ID, err)
	}
	err := s.write(ctx, func(c conn) error {
		_, err := c.exec(ctx, `
INSERT INTO events (id, name, venue, room, starts_at, onsale_from, onsale_until, status,
                    currency, max_per_order, max_per_account, description)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
    name = excluded.name, venue = excluded.venue, room = excluded.room,
    starts_at = excluded.starts_at, onsale_from = excluded.onsale_from,
    onsale_until = excluded.onsale_until, status = excluded.status,
    currency = excluded.currency, max_per_order = excluded.max_per_order,
    max_per_account = excluded.max_per_account, description = excluded.description`,
			e.ID, e.Name, e.Venue, e.Room, e.StartsAt, e.OnSaleFrom, e.OnSaleUntil, string(e.Status),
			e.Currency, e.MaxPerOrder, e.MaxPerAccount, e.Description)
		return err
	})
	if err != nil {
		return fmt.Errorf("put event %q: %w", e.ID, err)
	}
	return nil
}

func validEvent(e booking.Event) error {
	switch {
	case e.ID == "":
		return invalid("event id is empty")
	case e.Name == "":
		return invalid("event name is empty")
	case e.Currency == "":
		return invalid("event currency is empty")
	case e.MaxPerOrder < 0 || e.MaxPerAccount < 0:
		return invalid("negative limit")
	case !e.OnSaleFrom.IsZero() && !e.OnSaleUntil.IsZero() && !e.OnSaleFrom.Before(e.OnSaleUntil):
		return invalid("on-sale window ends before it starts")
	}
	switch e.Status {
	case booking.EventDraft, booking.EventOnSale, booking.EventClosed, booking.EventCancelled:
		return nil
	}
	return invalid("unknown event status %q", e.Status)
}

const eventCols = `id, name, venue, room, starts_at, onsale_from, onsale_until, status,
    currency, max_per_order, max_per_account, description`

type scanner interface{ Scan(dest ...any) error }

func scanEvent(r scanner) (booking.Event, error) {
	var e booking.Event
	var status string
	err := r.Scan(&e.ID, &e.Name, &e.Venue, &e.Room, tm(&e.StartsAt), tm(&e.OnSaleFrom), tm(&e.OnSaleUntil),
		&status, &e.Currency, &e.MaxPerOrder, &e.MaxPerAccount, &e.Description)
	e.Status = booking.EventStatus(status)
	return e, err
}

// Event reads one event.
func (s *Store) Event(ctx context.Context, id string) (booking.Event, error) {
	e, err := loadEvent(ctx, s.reader(), id)
	if err != nil {
		return booking.Event{}, s.mapErr(err)
	}
	return e, nil
}

func loadEvent(ctx context.Context, c conn, id string) (booking.Event, error) {
	e, err := scanEvent(c.row(ctx, `SELECT `+eventCols+` FROM events WHERE id = ?`, id))
	if err != nil {
		return booking.Event{}, notFound(err, "event", id)
	}
	return e, nil
}

// Events lists the events that are on sale or closed, by start time (events
// without one last), whose start time is in [f.From, f.To). The text of
// f.Query and f.Venue is matched here rather than in SQL, so that case
// folding is Unicode's on every database.
func (s *Store) Events(ctx context.Context, f booking.EventFilter) ([]booking.Event, error) {
	q := `SELECT ` + eventCols + ` FROM events WHERE status IN ('onsale', 'closed')`
	var args []any
	if !f.From.IsZero() {
		q += ` AND starts_at >= ?`
		args = append(args, f.From)
	}
	if !f.To.IsZero() {
		q += ` AND starts_at < ?`
		args = append(args, f.To)
	}
	q += ` ORDER BY starts_at IS NULL, starts_at, id`
	rows, err := s.reader().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("events: %w", s.mapErr(err))
	}
	defer rows.Close()
	query := strings.ToLower(f.Query)
	var out []booking.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("events: %w", err)
		}
		if f.Venue != "" && !strings.EqualFold(e.Venue, f.Venue) {
			continue
		}
		if query != "" && !strings.Contains(strings.ToLower(e.Name), query) &&
			!strings.Contains(strings.ToLower(e.Venue), query) {
			continue
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return out, nil
}

// eventExists is for lists that came back empty: an unknown event is
// ErrNotFound, a known one with nothing in it is an empty list.
func eventExists(ctx context.Context, c conn, id string) error {
	var n int
	if err := c.row(ctx, `SELECT count(*) FROM events WHERE id = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("event %q: %w", id, booking.ErrNotFound)
	}
	return nil
}

// notFoundIn turns sql.ErrNoRows into booking.ErrNotFound naming what was
// missing in which event, for the ids that are unique within an event.
func notFoundIn(err error, what, eventID, id string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %q of event %q: %w", what, id, eventID, booking.ErrNotFound)
	}
	return err
}

// PutSection creates or updates a section of its event.
func (s *Store) PutSection(ctx context.Context, sec booking.Section) error {
	if sec.ID == "" || sec.EventID == "" || sec.Name == "" {
		return fmt.Errorf("put section %q: %w", sec.ID, invalid("section needs an id, event and name"))
	}
	err := s.write(ctx, func(c conn) error {
		_, err := c.exec(ctx, `
INSERT INTO sections (id, event_id, name, position) VALUES (?, ?, ?, ?)
ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, position = excluded.position`,
			sec.ID, sec.EventID, sec.Name, sec.Position)
		return err
	})
	if err != nil {
		return fmt.Errorf("put section %q: %w", sec.ID, err)
	}
	return nil
}

// Sections lists an event's sections in display order.
func (s *Store) Sections(ctx context.Context, eventID string) ([]booking.Section, error) {
	var out []booking.Section
	err := s.read(ctx, func(c conn) error {
		out = nil
		rows, err := c.query(ctx, `SELECT id, event_id, name, position FROM sections
WHERE event_id = ? ORDER BY position, id`, eventID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var sec booking.Section
			if err := rows.Scan(&sec.ID, &sec.EventID, &sec.Name, &sec.Position); err != nil {
				return err
			}
			out = append(out, sec)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return eventExists(ctx, c, eventID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sections of %q: %w", eventID, err)
	}
	return out, nil
}

// PutTicketType creates or replaces a ticket type of its event and its
// tiers.
func (s *Store) PutTicketType(ctx context.Context, tt booking.TicketType) error {
	if err := validTicketType(tt); err != nil {
		return fmt.Errorf("put ticket type %q: %w", tt.ID, err)
	}
	err := s.write(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `
INSERT INTO ticket_types (id, event_id, name) VALUES (?, ?, ?)
ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name`, tt.ID, tt.EventID, tt.Name); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `DELETE FROM price_tiers WHERE event_id = ? AND ticket_type_id = ?`,
			tt.EventID, tt.ID); err != nil {
			return err
		}
		for i, t := range tt.Tiers {
			if _, err := c.exec(ctx, `
INSERT INTO price_tiers (event_id, ticket_type_id, position, name, price_cents, until_at, until_sold)
VALUES (?, ?, ?, ?, ?, ?, ?)`, tt.EventID, tt.ID, i, t.Name, t.PriceCents, t.Until, t.UntilSold); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put ticket type %q: %w", tt.ID, err)
	}
	return nil
}

func validTicketType(tt booking.TicketType) error {
	if tt.ID == "" || tt.EventID == "" || tt.Name == "" {
		return invalid("ticket type needs an id, event and name")
	}
	for _, t := range tt.Tiers {
		if t.PriceCents < 0 || t.UntilSold < 0 {
			return invalid("tier %q: negative price or count", t.Name)
		}
	}
	return nil
}

// TicketTypes lists an event's ticket types with their tiers.
func (s *Store) TicketTypes(ctx context.Context, eventID string) ([]booking.TicketType, error) {
	var out []booking.TicketType
	err := s.read(ctx, func(c conn) error {
		var err error
		out, err = loadTicketTypes(ctx, c, eventID)
		if err != nil || len(out) > 0 {
			return err
		}
		return eventExists(ctx, c, eventID)
	})
	if err != nil {
		return nil, fmt.Errorf("ticket types of %q: %w", eventID, err)
	}
	return out, nil
}

func loadTicketTypes(ctx context.Context, c conn, eventID string) ([]booking.TicketType, error) {
	rows, err := c.query(ctx, `SELECT id, event_id, name FROM ticket_types WHERE event_id = ? ORDER BY id`, eventID)
	if err != nil {
		return nil, err
	}
	var out []booking.TicketType
	for rows.Next() {
		var tt booking.TicketType
		if err := rows.Scan(&tt.ID, &tt.EventID, &tt.Name); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, tt)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = c.query(ctx, `
SELECT ticket_type_id, name, price_cents, until_at, until_sold
FROM price_tiers WHERE event_id = ? ORDER BY ticket_type_id, position`, eventID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var t booking.PriceTier
		if err := rows.Scan(&id, &t.Name, &t.PriceCents, tm(&t.Until), &t.UntilSold); err != nil {
			return nil, err
		}
		i := slices.IndexFunc(out, func(tt booking.TicketType) bool { return tt.ID == id })
		if i < 0 {
			// A type made after the first query, by a write that committed
			// in between (READ COMMITTED): it is not in this answer.
			continue
		}
		out[i].Tiers = append(out[i].Tiers, t)
	}
	return out, rows.Err()
}

// PutSeats creates or updates seats, each in its own event: a seat id that
// another event uses too is another seat. A seat keeps its state; its quota
// may change only while its state is available (a seat still marked held by
// a lapsed hold counts as held here, since no time is given), and a sold seat
// keeps its ticket type. A seat that would change quota while held or sold
// is ErrConflict and nothing is stored.
func (s *Store) PutSeats(ctx context.Context, seats []booking.Seat) error {
	seen := make(map[string]bool, len(seats))
	for _, st := range seats {
		if st.ID == "" || st.EventID == "" || st.SectionID == "" || st.TicketTypeID == "" {
			return fmt.Errorf("put seats: %w", invalid("seat %q needs an id, event, section and ticket type", st.ID))
		}
		if seen[st.ID] {
			return fmt.Errorf("put seats: %w", invalid("seat %q given twice", st.ID))
		}
		seen[st.ID] = true
	}
	err := s.write(ctx, func(c conn) error {
		for _, st := range seats {
			n, err := c.exec(ctx, `
INSERT INTO places (event_id, kind, seat_id, section_id, row_label, seat_number, x, y,
                    ticket_type_id, quota_id, state)
VALUES (?, 'seat', ?, ?, ?, ?, ?, ?, ?, ?, 'available')
ON CONFLICT (event_id, seat_id) DO UPDATE SET
    section_id = excluded.section_id, row_label = excluded.row_label,
    seat_number = excluded.seat_number, x = excluded.x, y = excluded.y,
    ticket_type_id = CASE WHEN places.state = 'sold' THEN places.ticket_type_id
                          ELSE excluded.ticket_type_id END,
    quota_id = excluded.quota_id
WHERE places.state = 'available' OR places.quota_id IS NOT DISTINCT FROM excluded.quota_id`,
				st.EventID, st.ID, st.SectionID, st.Row, st.Number, st.X, st.Y,
				st.TicketTypeID, orNull(st.QuotaID))
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("%w: seat %q is held or sold and keeps its quota",
					booking.ErrConflict, st.ID)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put seats: %w", err)
	}
	s.analyze(ctx)
	return nil
}

// Seats lists an event's seats in the order they were first put.
func (s *Store) Seats(ctx context.Context, eventID string) ([]booking.Seat, error) {
	var out []booking.Seat
	err := s.read(ctx, func(c conn) error {
		out = nil
		rows, err := c.query(ctx, `
SELECT seat_id, event_id, section_id, row_label, seat_number, ticket_type_id, quota_id, x, y
FROM places WHERE event_id = ? AND kind = 'seat' ORDER BY id`, eventID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var st booking.Seat
			if err := rows.Scan(&st.ID, &st.EventID, &st.SectionID, &st.Row, &st.Number,
				&st.TicketTypeID, nt(&st.QuotaID), &st.X, &st.Y); err != nil {
				return err
			}
			out = append(out, st)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return eventExists(ctx, c, eventID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("seats of %q: %w", eventID, err)
	}
	return out, nil
}

// PutZone creates a zone of its event or changes it. Growing adds available
// public places; shrinking removes available places that no quota holds,
// newest first, and is ErrConflict when too few are left to remove. The
// zone's unsold places take its ticket type.
func (s *Store) PutZone(ctx context.Context, z booking.Zone) error {
	if z.ID == "" || z.EventID == "" || z.Name == "" || z.TicketTypeID == "" || z.Capacity < 0 {
		return fmt.Errorf("put zone %q: %w", z.ID, invalid("zone needs an id, event, name, ticket type and a capacity of 0 or more"))
	}
	err := s.write(ctx, func(c conn) error {
		if _, err := c.exec(ctx, `
INSERT INTO zones (id, event_id, name, capacity, ticket_type_id) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, capacity = excluded.capacity,
    ticket_type_id = excluded.ticket_type_id`, z.ID, z.EventID, z.Name, z.Capacity, z.TicketTypeID); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `UPDATE places SET ticket_type_id = ?
WHERE event_id = ? AND zone_id = ? AND state <> 'sold' AND ticket_type_id <> ?`,
			z.TicketTypeID, z.EventID, z.ID, z.TicketTypeID); err != nil {
			return err
		}
		var have int
		if err := c.row(ctx, `SELECT count(*) FROM places WHERE event_id = ? AND zone_id = ?`,
			z.EventID, z.ID).Scan(&have); err != nil {
			return err
		}
		switch {
		case z.Capacity > have:
			return addZonePlaces(ctx, c, z, z.Capacity-have)
		case z.Capacity < have:
			return removeZonePlaces(ctx, c, z, have-z.Capacity)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put zone %q: %w", z.ID, err)
	}
	s.analyze(ctx)
	return nil
}

// analyze refreshes the planner's statistics of places (Dialect.Analyze).
// The change is committed by then; a failure only leaves the statistics as
// they were, which autovacuum mends, so it is not the caller's error.
func (s *Store) analyze(ctx context.Context) {
	if s.d.Analyze != "" {
		s.writer.ExecContext(ctx, s.d.Analyze)
	}
}

func addZonePlaces(ctx context.Context, c conn, z booking.Zone, n int) error {
	_, err := c.exec(ctx, `
WITH RECURSIVE seq (i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < ?)
INSERT INTO places (event_id, kind, zone_id, ticket_type_id, state)
SELECT ?, 'zone', ?, ?, 'available' FROM seq`, n, z.EventID, z.ID, z.TicketTypeID)
	return err
}

func removeZonePlaces(ctx context.Context, c conn, z booking.Zone, n int) error {
	removed, err := c.exec(ctx, `
DELETE FROM places WHERE id IN (
    SELECT id FROM places
    WHERE event_id = ? AND zone_id = ? AND state = 'available' AND quota_id IS NULL
    ORDER BY id DESC LIMIT ?`+c.skipLocked()+`)`, z.EventID, z.ID, n)
	if err != nil {
		return err
	}
	if removed < int64(n) {
		return fmt.Errorf("%w: zone %q has only %d free public places, %d would have to go",
			booking.ErrConflict, z.ID, removed, n)
	}
	return nil
}

// Zones lists an event's zones.
func (s *Store) Zones(ctx context.Context, eventID string) ([]booking.Zone, error) {
	var out []booking.Zone
	err := s.read(ctx, func(c conn) error {
		out = nil
		rows, err := c.query(ctx, `SELECT id, event_id, name, capacity, ticket_type_id
FROM zones WHERE event_id = ? ORDER BY id`, eventID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var z booking.Zone
			if err := rows.Scan(&z.ID, &z.EventID, &z.Name, &z.Capacity, &z.TicketTypeID); err != nil {
				return err
			}
			out = append(out, z)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return eventExists(ctx, c, eventID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("zones of %q: %w", eventID, err)
	}
	return out, nil
}

// PutQuota creates or updates a quota of its event.
func (s *Store) PutQuota(ctx context.Context, q booking.Quota) error {
	switch {
	case q.ID == "" || q.EventID == "" || q.Name == "":
		return fmt.Errorf("put quota %q: %w", q.ID, invalid("quota needs an id, event and name"))
	case q.Kind != booking.QuotaPresale && q.Kind != booking.QuotaPartner && q.Kind != booking.QuotaVIP:
		return fmt.Errorf("put quota %q: %w", q.ID, invalid("unknown quota kind %q", q.Kind))
	}
	err := s.write(ctx, func(c conn) error {
		_, err := c.exec(ctx, `
INSERT INTO quotas (id, event_id, name, kind) VALUES (?, ?, ?, ?)
ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, kind = excluded.kind`,
			q.ID, q.EventID, q.Name, string(q.Kind))
		return err
	})
	if err != nil {
		return fmt.Errorf("put quota %q: %w", q.ID, err)
	}
	return nil
}

// Quotas lists an event's quotas.
func (s *Store) Quotas(ctx context.Context, eventID string) ([]booking.Quota, error) {
	var out []booking.Quota
	err := s.read(ctx, func(c conn) error {
		out = nil
		rows, err := c.query(ctx, `SELECT id, event_id, name, kind FROM quotas WHERE event_id = ? ORDER BY id`, eventID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var q booking.Quota
			var kind string
			if err := rows.Scan(&q.ID, &q.EventID, &q.Name, &kind); err != nil {
				return err
			}
			q.Kind = booking.QuotaKind(kind)
			out = append(out, q)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(out) == 0 {
			return eventExists(ctx, c, eventID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("quotas of %q: %w", eventID, err)
	}
	return out, nil
}

// AllocateZone reserves n public places of an event's zone that are free at
// now for a quota of the same event, all or none: too few free places is a
// *booking.NotEnoughError. It takes the newest places, so that it seldom
// meets the public holds, which take the oldest.
func (s *Store) AllocateZone(ctx context.Context, eventID, zoneID, quotaID string, n int, now time.Time) error {
	if n <= 0 {
		return fmt.Errorf("allocate zone %q: %w", zoneID, invalid("allocate %d places", n))
	}
	err := s.write(ctx, func(c conn) error {
		if err := zoneExists(ctx, c, eventID, zoneID); err != nil {
			return err
		}
		if err := quotaExists(ctx, c, eventID, quotaID); err != nil {
			return err
		}
		got, err := c.exec(ctx, `
UPDATE places SET quota_id = ?, state = 'available', hold_id = NULL, hold_expires_at = NULL
WHERE id IN (
    SELECT id FROM places
    WHERE event_id = ? AND zone_id = ? AND quota_id IS NULL AND `+free+`
    ORDER BY id DESC LIMIT ?`+c.skipLocked()+`)`, quotaID, eventID, zoneID, now, n)
		if err != nil {
			return err
		}
		if got < int64(n) {
			return &booking.NotEnoughError{ZoneID: zoneID, Available: int(got)}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("allocate zone %q of event %q to quota %q: %w", zoneID, eventID, quotaID, err)
	}
	return nil
}

// zoneExists is ErrNotFound unless the event has the zone.
func zoneExists(ctx context.Context, c conn, eventID, id string) error {
	var one int
	err := c.row(ctx, `SELECT 1 FROM zones WHERE event_id = ? AND id = ?`, eventID, id).Scan(&one)
	return notFoundIn(err, "zone", eventID, id)
}

// quotaExists is ErrNotFound unless the event has the quota.
func quotaExists(ctx context.Context, c conn, eventID, id string) error {
	var one int
	err := c.row(ctx, `SELECT 1 FROM quotas WHERE event_id = ? AND id = ?`, eventID, id).Scan(&one)
	return notFoundIn(err, "quota", eventID, id)
}

// ReleaseQuota moves the unsold places, held or not, of an event's quota to
// the public (to == "") or to another quota of the same event; a hold on
// them stands.
func (s *Store) ReleaseQuota(ctx context.Context, eventID, quotaID, to string, now time.Time) (int, error) {
	if quotaID == to {
		return 0, fmt.Errorf("release quota %q: %w", quotaID, invalid("release a quota to itself"))
	}
	var moved int64
	err := s.write(ctx, func(c conn) error {
		if err := quotaExists(ctx, c, eventID, quotaID); err != nil {
			return err
		}
		if to != "" {
			if err := quotaExists(ctx, c, eventID, to); err != nil {
				return err
			}
		}
		var err error
		moved, err = c.exec(ctx, `UPDATE places SET quota_id = ?
WHERE event_id = ? AND quota_id = ? AND state <> 'sold'`, orNull(to), eventID, quotaID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("release quota %q of event %q: %w", quotaID, eventID, err)
	}
	return int(moved), nil
}

// PutPresaleCode creates a presale code or changes its quota and MaxUses;
// the count of uses is set only when the code is created.
func (s *Store) PutPresaleCode(ctx context.Context, pc booking.PresaleCode) error {
	if pc.Code == "" || pc.EventID == "" || pc.QuotaID == "" || pc.MaxUses < 0 || pc.Used < 0 {
		return fmt.Errorf("put presale code: %w", invalid("presale code needs a code, event and quota, and counts of 0 or more"))
	}
	err := s.write(ctx, func(c conn) error {
		_, err := c.exec(ctx, `
INSERT INTO presale_codes (event_id, code, quota_id, max_uses, used) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (event_id, code) DO UPDATE SET quota_id = excluded.quota_id, max_uses = excluded.max_uses`,
			pc.EventID, pc.Code, pc.QuotaID, pc.MaxUses, pc.Used)
		return err
	})
	if err != nil {
		return fmt.Errorf("put presale code: %w", err)
	}
	return nil
}

// PutPromoCode creates a promo code or changes its discount and MaxUses; the
// count of uses is set only when the code is created.
func (s *Store) PutPromoCode(ctx context.Context, pc booking.PromoCode) error {
	if err := validPromo(pc); err != nil {
		return fmt.Errorf("put promo code: %w", err)
	}
	err := s.write(ctx, func(c conn) error {
		_, err := c.exec(ctx, `
INSERT INTO promo_codes (event_id, code, percent_off, amount_off_cents, max_uses, used)
VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id, code) DO UPDATE SET percent_off = excluded.percent_off,
    amount_off_cents = excluded.amount_off_cents, max_uses = excluded.max_uses`,
			pc.EventID, pc.Code, pc.PercentOff, pc.AmountOffCents, pc.MaxUses, pc.Used)
		return err
	})
	if err != nil {
		return fmt.Errorf("put promo code: %w", err)
	}
	return nil
}

func validPromo(pc booking.PromoCode) error {
	switch {
	case pc.Code == "" || pc.EventID == "":
		return invalid("promo code needs a code and an event")
	case pc.MaxUses < 0 || pc.Used < 0:
		return invalid("negative use count")
	case pc.PercentOff < 0 || pc.PercentOff > 100 || pc.AmountOffCents < 0:
		return invalid("discount out of range")
	case (pc.PercentOff > 0) == (pc.AmountOffCents > 0):
		return invalid("promo code needs either a percentage or an amount off")
	}
	return nil
}

// PromoCode reads a promo code of an event.
func (s *Store) PromoCode(ctx context.Context, eventID, code string) (booking.PromoCode, error) {
	pc := booking.PromoCode{EventID: eventID, Code: code}
	err := s.reader().row(ctx, `SELECT percent_off, amount_off_cents, max_uses, used
FROM promo_codes WHERE event_id = ? AND code = ?`, eventID, code).
		Scan(&pc.PercentOff, &pc.AmountOffCents, &pc.MaxUses, &pc.Used)
	if err != nil {
		return booking.PromoCode{}, fmt.Errorf("promo code: %w", s.mapErr(notFound(err, "promo code", code)))
	}
	return pc, nil
}
