package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"time"

	"github.com/usherhq/usher/booking"
)

// free is the predicate of a place that nobody has at ? (now): available,
// or held by a hold that has expired. Expiry is this predicate and nothing
// else: no query depends on a job having cleaned up lapsed holds.
const free = `(state = 'available' OR (state = 'held' AND hold_expires_at <= ?))`

// stateAt is the state a fan sees at ? (now): a lapsed hold is available,
// and an unsold place of a quota is held, since the public cannot take it.
const stateAt = `CASE WHEN state = 'sold' THEN 'sold'
     WHEN state = 'held' AND hold_expires_at > ? THEN 'held'
     WHEN quota_id IS NOT NULL THEN 'held'
     ELSE 'available' END`

// Availability reads every seat's state and every zone's counts at now, in
// two queries whatever the size of the event.
func (s *Store) Availability(ctx context.Context, eventID string, now time.Time) (booking.Availability, error) {
	now = truncate(now)
	var a booking.Availability
	err := s.read(ctx, func(c conn) error {
		a = booking.Availability{EventID: eventID, At: now,
			Seats: map[string]booking.PlaceState{}, Zones: map[string]booking.ZoneCount{}}
		rows, err := c.query(ctx, `SELECT seat_id, `+stateAt+` FROM places
WHERE event_id = ? AND kind = 'seat'`, now, eventID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id, state string
			if err := rows.Scan(&id, &state); err != nil {
				rows.Close()
				return err
			}
			a.Seats[id] = booking.PlaceState(state)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		zones, err := zoneCounts(ctx, c, eventID, now)
		if err != nil {
			return err
		}
		a.Zones = zones
		if len(a.Seats) == 0 && len(a.Zones) == 0 {
			return eventExists(ctx, c, eventID)
		}
		return nil
	})
	if err != nil {
		return booking.Availability{}, fmt.Errorf("availability of %q: %w", eventID, err)
	}
	return a, nil
}

// zoneCounts counts every zone's places by state at now; a zone without
// places is there with zero counts.
func zoneCounts(ctx context.Context, c conn, eventID string, now time.Time) (map[string]booking.ZoneCount, error) {
	rows, err := c.query(ctx, `
SELECT z.id, z.capacity, p.st, count(p.id)
FROM zones z LEFT JOIN (
    SELECT id, zone_id, `+stateAt+` AS st FROM places WHERE event_id = ? AND kind = 'zone'
) p ON p.zone_id = z.id
WHERE z.event_id = ?
GROUP BY z.id, z.capacity, p.st`, now, eventID, eventID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]booking.ZoneCount{}
	for rows.Next() {
		var id, state string
		var capacity, n int
		if err := rows.Scan(&id, &capacity, nt(&state), &n); err != nil {
			return nil, err
		}
		zc := out[id]
		zc.Capacity = capacity
		switch booking.PlaceState(state) {
		case booking.PlaceAvailable:
			zc.Available += n
		case booking.PlaceHeld:
			zc.Held += n
		case booking.PlaceSold:
			zc.Sold += n
		}
		out[id] = zc
	}
	return out, rows.Err()
}

func validHold(r booking.HoldRequest) error {
	switch {
	case r.HoldID == "" || r.EventID == "" || r.Account == "":
		return invalid("hold needs an id, event and account")
	case r.Now.IsZero() || r.TTL <= 0:
		return invalid("hold needs a time and a positive TTL")
	case len(r.SeatIDs) > 0 && r.ZoneID != "":
		return invalid("hold asks for seats or a zone, not both")
	case len(r.SeatIDs) == 0 && (r.ZoneID == "" || r.Quantity <= 0):
		return invalid("hold asks for no places")
	case len(r.SeatIDs) > 0 && r.Quantity != 0:
		return invalid("quantity is for zones")
	}
	seen := make(map[string]bool, len(r.SeatIDs))
	for _, id := range r.SeatIDs {
		if id == "" || seen[id] {
			return invalid("seat %q empty or asked for twice", id)
		}
		seen[id] = true
	}
	return nil
}

// Hold takes every requested place or none, in one transaction that checks
// the sale, the limits and the presale code, takes the places with one
// conditional UPDATE, and writes the hold with its prices.
func (s *Store) Hold(ctx context.Context, r booking.HoldRequest) (booking.Hold, error) {
	if err := validHold(r); err != nil {
		return booking.Hold{}, fmt.Errorf("hold: %w", err)
	}
	r.Now = truncate(r.Now)
	for attempt := 1; ; attempt++ {
		var h booking.Hold
		err := s.write(ctx, func(c conn) error {
			var err error
			h, err = hold(ctx, c, r)
			return err
		})
		var short *booking.NotEnoughError
		if errors.As(err, &short) {
			// With SKIP LOCKED a zone hold passes over places that other
			// transactions have locked; a shortage may be theirs and end
			// with them. Count again now, and try again if it did.
			n, cerr := zoneFree(ctx, s.reader(), r)
			if cerr == nil {
				if n >= r.Quantity && attempt < maxAttempts {
					continue
				}
				// Still short: say what is free, but never as many as were
				// asked for, which would contradict the error.
				short.Available = min(n, r.Quantity-1)
			}
		}
		if err != nil {
			return booking.Hold{}, fmt.Errorf("hold: %w", err)
		}
		return h, nil
	}
}

func hold(ctx context.Context, c conn, r booking.HoldRequest) (booking.Hold, error) {
	ev, err := loadEvent(ctx, c, r.EventID)
	if err != nil {
		return booking.Hold{}, err
	}
	if !onSale(ev, r.Now) {
		return booking.Hold{}, fmt.Errorf("event %q: %w", ev.ID, booking.ErrNotOnSale)
	}
	n := len(r.SeatIDs) + r.Quantity
	if ev.MaxPerOrder > 0 && n > ev.MaxPerOrder {
		return booking.Hold{}, &booking.LimitError{Limit: "per_order", Max: ev.MaxPerOrder}
	}
	if ev.MaxPerAccount > 0 {
		if err := checkAccount(ctx, c, ev, r.Account, n, r.Now); err != nil {
			return booking.Hold{}, err
		}
	}
	var quota sql.NullString
	if r.PresaleCode != "" {
		err := c.row(ctx, `
UPDATE presale_codes SET used = used + 1
WHERE event_id = ? AND code = ? AND (max_uses = 0 OR used < max_uses)
RETURNING quota_id`, r.EventID, r.PresaleCode).Scan(&quota)
		if errors.Is(err, sql.ErrNoRows) {
			return booking.Hold{}, fmt.Errorf("presale code: %w", booking.ErrBadCode)
		}
		if err != nil {
			return booking.Hold{}, err
		}
	}
	h := booking.Hold{ID: r.HoldID, EventID: r.EventID, Account: r.Account,
		CreatedAt: r.Now, ExpiresAt: r.Now.Add(r.TTL).Truncate(time.Microsecond), Currency: ev.Currency}
	// The hold row comes first: places point at it.
	if _, err := c.exec(ctx, `
INSERT INTO holds (id, event_id, account, created_at, expires_at, presale_code, quota_id, currency, total_cents)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)`, h.ID, h.EventID, h.Account, h.CreatedAt, h.ExpiresAt,
		orNull(r.PresaleCode), quota, h.Currency); err != nil {
		return booking.Hold{}, err
	}
	if len(r.SeatIDs) > 0 {
		err = takeSeats(ctx, c, r, h.ExpiresAt, quota)
	} else {
		err = takeZone(ctx, c, r, h.ExpiresAt, quota)
	}
	if err != nil {
		return booking.Hold{}, err
	}
	if h.Items, err = price(ctx, c, ev.ID, h.ID, r.Now); err != nil {
		return booking.Hold{}, err
	}
	for i, it := range h.Items {
		h.TotalCents += it.PriceCents
		if _, err := c.exec(ctx, `
INSERT INTO hold_items (hold_id, position, place_id, seat_id, zone_id, label, ticket_type_id, price_cents)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, h.ID, i, placeKey(it.PlaceID), orNull(it.SeatID), orNull(it.ZoneID),
			it.Label, it.TicketTypeID, it.PriceCents); err != nil {
			return booking.Hold{}, err
		}
	}
	if _, err := c.exec(ctx, `UPDATE holds SET total_cents = ? WHERE id = ?`, h.TotalCents, h.ID); err != nil {
		return booking.Hold{}, err
	}
	return h, nil
}

// onSale reports whether holds may be taken for e at now.
func onSale(e booking.Event, now time.Time) bool {
	return e.Status == booking.EventOnSale &&
		(e.OnSaleFrom.IsZero() || !now.Before(e.OnSaleFrom)) &&
		(e.OnSaleUntil.IsZero() || now.Before(e.OnSaleUntil))
}

// checkAccount refuses a hold of n places that would take the account past
// the event's MaxPerAccount, counting its unexpired held places and the
// places of its paid orders. The account lock (PostgreSQL) makes two holds
// of one account count one after the other; SQLite has one writer anyway.
func checkAccount(ctx context.Context, c conn, ev booking.Event, account string, n int, now time.Time) error {
	if c.d.LockAccount != "" {
		if _, err := c.exec(ctx, c.d.LockAccount, accountKey(ev.ID, account)); err != nil {
			return fmt.Errorf("lock account: %w", err)
		}
	}
	var have int
	err := c.row(ctx, `
SELECT count(*) FROM places
WHERE event_id = ? AND (
    (state = 'held' AND hold_expires_at > ?
        AND hold_id IN (SELECT id FROM holds WHERE event_id = ? AND account = ?))
 OR (state = 'sold'
        AND order_id IN (SELECT id FROM orders WHERE event_id = ? AND account = ? AND status = 'paid')))`,
		ev.ID, now, ev.ID, account, ev.ID, account).Scan(&have)
	if err != nil {
		return err
	}
	if have+n > ev.MaxPerAccount {
		return &booking.LimitError{Limit: "per_account", Max: ev.MaxPerAccount, Have: have}
	}
	return nil
}

// accountKey is the lock key of an account in an event. Two pairs that
// share a key only wait for each other.
func accountKey(eventID, account string) int64 {
	h := fnv.New64a()
	h.Write([]byte(eventID))
	h.Write([]byte{0})
	h.Write([]byte(account))
	return int64(h.Sum64())
}

// quotaCond limits places to the public ones, and those of the quota that
// the hold's presale code unlocked (the ? is that quota, or NULL).
const quotaCond = `(quota_id IS NULL OR quota_id = ?)`

// takeSeats holds the requested seats with one conditional UPDATE. Short of
// one, it names exactly the seats the UPDATE could not take, as this
// transaction saw them, and the caller rolls back.
func takeSeats(ctx context.Context, c conn, r booking.HoldRequest, expires time.Time, quota sql.NullString) error {
	in := params(len(r.SeatIDs))
	args := func(first ...any) []any {
		out := first
		for _, id := range r.SeatIDs {
			out = append(out, id)
		}
		return out
	}
	// Lock the seats in one order (PostgreSQL), so that holds asking for
	// overlapping seats wait for each other instead of deadlocking; the
	// same query finds unknown seats.
	ids, err := column[string](ctx, c, `SELECT seat_id FROM places
WHERE event_id = ? AND kind = 'seat' AND seat_id IN (`+in+`) ORDER BY id`+c.lockRows(), args(r.EventID)...)
	if err != nil {
		return err
	}
	if len(ids) != len(r.SeatIDs) {
		return invalid("unknown seats: %v", missing(r.SeatIDs, ids))
	}
	got, err := c.exec(ctx, `
UPDATE places SET state = 'held', hold_id = ?, hold_expires_at = ?
WHERE event_id = ? AND kind = 'seat' AND seat_id IN (`+in+`)
  AND `+free+` AND `+quotaCond,
		append(args(r.HoldID, expires, r.EventID), r.Now, quota)...)
	if err != nil {
		return err
	}
	if got == int64(len(r.SeatIDs)) {
		return nil
	}
	taken, err := column[string](ctx, c, `SELECT seat_id FROM places
WHERE event_id = ? AND seat_id IN (`+in+`) AND (hold_id IS NULL OR hold_id <> ?) ORDER BY seat_id`,
		append(args(r.EventID), r.HoldID)...)
	if err != nil {
		return err
	}
	return &booking.TakenError{SeatIDs: taken}
}

// missing lists the ids of want that are not in have.
func missing(want, have []string) []string {
	var out []string
	for _, id := range want {
		if !slices.Contains(have, id) {
			out = append(out, id)
		}
	}
	return out
}

// takeZone holds the first r.Quantity free places of a zone with one
// conditional UPDATE (PostgreSQL passes over places other transactions have
// locked). With a presale code, the quota's places go first.
func takeZone(ctx context.Context, c conn, r booking.HoldRequest, expires time.Time, quota sql.NullString) error {
	var one int
	err := c.row(ctx, `SELECT 1 FROM zones WHERE event_id = ? AND id = ?`, r.EventID, r.ZoneID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return invalid("event %q has no zone %q", r.EventID, r.ZoneID)
	}
	if err != nil {
		return err
	}
	order := `id`
	if quota.Valid {
		order = `CASE WHEN quota_id IS NULL THEN 1 ELSE 0 END, id`
	}
	got, err := c.exec(ctx, `
UPDATE places SET state = 'held', hold_id = ?, hold_expires_at = ?
WHERE id IN (
    SELECT id FROM places
    WHERE event_id = ? AND zone_id = ? AND `+free+` AND `+quotaCond+`
    ORDER BY `+order+` LIMIT ?`+c.skipLocked()+`)`,
		r.HoldID, expires, r.EventID, r.ZoneID, r.Now, quota, r.Quantity)
	if err != nil {
		return err
	}
	if got < int64(r.Quantity) {
		return &booking.NotEnoughError{ZoneID: r.ZoneID, Available: int(got)}
	}
	return nil
}

// zoneFree counts the places of r's zone that r could take now, outside any
// transaction: for the error of a hold that fell short.
func zoneFree(ctx context.Context, c conn, r booking.HoldRequest) (int, error) {
	var n int
	err := c.row(ctx, `
SELECT count(*) FROM places
WHERE event_id = ? AND zone_id = ? AND `+free+` AND (quota_id IS NULL OR quota_id =
    (SELECT quota_id FROM presale_codes WHERE event_id = ? AND code = ?))`,
		r.EventID, r.ZoneID, r.Now, r.EventID, r.PresaleCode).Scan(&n)
	return n, err
}

// price lists the places of a hold, just taken, as items with the price of
// their ticket type's tier in force at now.
func price(ctx context.Context, c conn, eventID, holdID string, now time.Time) ([]booking.Item, error) {
	rows, err := c.query(ctx, `
SELECT p.id, p.seat_id, p.zone_id, p.ticket_type_id, s.name, p.row_label, p.seat_number, z.name
FROM places p
LEFT JOIN sections s ON s.event_id = p.event_id AND s.id = p.section_id
LEFT JOIN zones z ON z.event_id = p.event_id AND z.id = p.zone_id
WHERE p.hold_id = ? AND p.state = 'held'
ORDER BY p.id`, holdID)
	if err != nil {
		return nil, err
	}
	var items []booking.Item
	for rows.Next() {
		var it booking.Item
		var id int64
		var section, row, number, zone string
		if err := rows.Scan(&id, nt(&it.SeatID), nt(&it.ZoneID), &it.TicketTypeID,
			nt(&section), nt(&row), nt(&number), nt(&zone)); err != nil {
			rows.Close()
			return nil, err
		}
		it.PlaceID = strconv.FormatInt(id, 10)
		it.Label = label(section, row, number, zone)
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	types, err := loadTicketTypes(ctx, c, eventID)
	if err != nil {
		return nil, err
	}
	sold, err := soldByType(ctx, c, eventID, types, items)
	if err != nil {
		return nil, err
	}
	for i, it := range items {
		j := slices.IndexFunc(types, func(tt booking.TicketType) bool { return tt.ID == it.TicketTypeID })
		if j < 0 {
			return nil, fmt.Errorf("place %s: ticket type %q not found", it.PlaceID, it.TicketTypeID)
		}
		items[i].PriceCents = types[j].Price(now, sold[it.TicketTypeID]).PriceCents
	}
	return items, nil
}

// placeKey is the row id of a place as an item or ticket names it. The ids
// come from the store itself, so they always parse.
func placeKey(id string) int64 {
	n, _ := strconv.ParseInt(id, 10, 64)
	return n
}

// label is how a place reads on a hold, an order and a ticket.
func label(section, row, number, zone string) string {
	if zone != "" {
		return zone
	}
	return fmt.Sprintf("%s, row %s, seat %s", section, row, number)
}

// soldByType counts the sold places of the ticket types of items whose
// tiers end at a count; the others need no count.
func soldByType(ctx context.Context, c conn, eventID string, types []booking.TicketType, items []booking.Item) (map[string]int, error) {
	var counted []any
	for _, tt := range types {
		byCount := slices.ContainsFunc(tt.Tiers, func(t booking.PriceTier) bool { return t.UntilSold > 0 })
		used := slices.ContainsFunc(items, func(it booking.Item) bool { return it.TicketTypeID == tt.ID })
		if byCount && used {
			counted = append(counted, tt.ID)
		}
	}
	sold := map[string]int{}
	if len(counted) == 0 {
		return sold, nil
	}
	rows, err := c.query(ctx, `SELECT ticket_type_id, count(*) FROM places
WHERE event_id = ? AND state = 'sold' AND ticket_type_id IN (`+params(len(counted))+`)
GROUP BY ticket_type_id`, append([]any{eventID}, counted...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		sold[id] = n
	}
	return sold, rows.Err()
}

// GetHold reads a hold with its items.
func (s *Store) GetHold(ctx context.Context, id string) (booking.Hold, error) {
	var h booking.Hold
	err := s.read(ctx, func(c conn) error {
		var err error
		h, err = loadHold(ctx, c, id)
		return err
	})
	if err != nil {
		return booking.Hold{}, fmt.Errorf("get hold: %w", err)
	}
	return h, nil
}

func loadHold(ctx context.Context, c conn, id string) (booking.Hold, error) {
	h := booking.Hold{ID: id}
	var released time.Time
	var orderID string
	err := c.row(ctx, `SELECT event_id, account, created_at, expires_at, released_at, order_id, currency, total_cents
FROM holds WHERE id = ?`, id).Scan(&h.EventID, &h.Account, tm(&h.CreatedAt), tm(&h.ExpiresAt),
		tm(&released), nt(&orderID), &h.Currency, &h.TotalCents)
	if err != nil {
		return booking.Hold{}, notFound(err, "hold", id)
	}
	h.Released = !released.IsZero() || orderID != ""
	h.Items, err = loadItems(ctx, c, id)
	return h, err
}

func loadItems(ctx context.Context, c conn, holdID string) ([]booking.Item, error) {
	rows, err := c.query(ctx, `SELECT place_id, seat_id, zone_id, label, ticket_type_id, price_cents
FROM hold_items WHERE hold_id = ? ORDER BY position`, holdID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []booking.Item
	for rows.Next() {
		var it booking.Item
		var place int64
		if err := rows.Scan(&place, nt(&it.SeatID), nt(&it.ZoneID), &it.Label, &it.TicketTypeID, &it.PriceCents); err != nil {
			return nil, err
		}
		it.PlaceID = strconv.FormatInt(place, 10)
		out = append(out, it)
	}
	return out, rows.Err()
}

// ReleaseHold gives a hold's places back. Only the hold's account may: for
// anyone else the hold is ErrNotFound. A hold already released or expired is
// released again without error; a hold that became an order is ErrHoldUsed
// (cancel the order instead).
func (s *Store) ReleaseHold(ctx context.Context, id, account string, now time.Time) error {
	err := s.write(ctx, func(c conn) error {
		var owner, orderID string
		var released time.Time
		err := c.row(ctx, `SELECT account, order_id, released_at FROM holds WHERE id = ?`+c.lockRows(), id).
			Scan(&owner, nt(&orderID), tm(&released))
		if err != nil || owner != account {
			return notFound(orSQLNoRows(err), "hold", id)
		}
		if orderID != "" {
			return fmt.Errorf("hold %q: %w", id, booking.ErrHoldUsed)
		}
		if !released.IsZero() {
			return nil
		}
		if err := freeHeld(ctx, c, id); err != nil {
			return err
		}
		_, err = c.exec(ctx, `UPDATE holds SET released_at = ? WHERE id = ?`, now, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("release hold: %w", err)
	}
	return nil
}

// orSQLNoRows is err, or sql.ErrNoRows when there is none: for a row that
// was found but is someone else's, which must look the same as none.
func orSQLNoRows(err error) error {
	if err == nil {
		return sql.ErrNoRows
	}
	return err
}

// freeHeld makes the places a hold still holds available, locking them in
// id order first (PostgreSQL) like every other writer of places.
func freeHeld(ctx context.Context, c conn, holdID string) error {
	if c.lockRows() != "" {
		if _, err := column[int64](ctx, c, `SELECT id FROM places
WHERE hold_id = ? AND state = 'held' ORDER BY id`+c.lockRows(), holdID); err != nil {
			return err
		}
	}
	_, err := c.exec(ctx, `UPDATE places SET state = 'available', hold_id = NULL, hold_expires_at = NULL
WHERE hold_id = ? AND state = 'held'`, holdID)
	return err
}

// column runs a query of one column and returns its values.
func column[T any](ctx context.Context, c conn, query string, args ...any) ([]T, error) {
	rows, err := c.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var v T
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
