package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/usherhq/usher/booking"
)

// CreateOrder turns a hold into a pending order, once per idempotency key.
// The key's row is written first, in the same transaction: a second request
// with the key waits for the first to finish and then sees its order. An
// empty IdempotencyKey makes the request unrepeatable; the hold can still be
// ordered only once.
func (s *Store) CreateOrder(ctx context.Context, r booking.OrderRequest) (booking.Order, bool, error) {
	if r.OrderID == "" || r.HoldID == "" || r.Account == "" || r.Now.IsZero() {
		return booking.Order{}, false, fmt.Errorf("create order: %w", invalid("order needs an id, hold, account and time"))
	}
	r.Now = truncate(r.Now)
	var o booking.Order
	var replayed bool
	err := s.write(ctx, func(c conn) error {
		var err error
		o, replayed, err = createOrder(ctx, c, r)
		return err
	})
	if err != nil {
		return booking.Order{}, false, fmt.Errorf("create order: %w", err)
	}
	return o, replayed, nil
}

func createOrder(ctx context.Context, c conn, r booking.OrderRequest) (booking.Order, bool, error) {
	if r.IdempotencyKey != "" {
		n, err := c.exec(ctx, `
INSERT INTO idempotency_keys (account, idempotency_key, request_hash, order_id, created_at)
VALUES (?, ?, ?, ?, ?)
ON CONFLICT (account, idempotency_key) DO NOTHING`, r.Account, r.IdempotencyKey, r.RequestHash, r.OrderID, r.Now)
		if err != nil {
			return booking.Order{}, false, err
		}
		if n == 0 {
			var hash, orderID string
			if err := c.row(ctx, `SELECT request_hash, order_id FROM idempotency_keys
WHERE account = ? AND idempotency_key = ?`, r.Account, r.IdempotencyKey).Scan(&hash, &orderID); err != nil {
				return booking.Order{}, false, err
			}
			if hash != r.RequestHash {
				return booking.Order{}, false, booking.ErrIdempotencyMismatch
			}
			o, err := loadOrder(ctx, c, orderID)
			return o, true, err
		}
	}
	var h struct {
		event, account, orderID, currency string
		expires, released                 time.Time
		total                             int64
	}
	err := c.row(ctx, `SELECT event_id, account, order_id, currency, expires_at, released_at, total_cents
FROM holds WHERE id = ?`+c.lockRows(), r.HoldID).Scan(&h.event, &h.account, nt(&h.orderID), &h.currency,
		tm(&h.expires), tm(&h.released), &h.total)
	if err != nil || h.account != r.Account {
		return booking.Order{}, false, notFound(orSQLNoRows(err), "hold", r.HoldID)
	}
	switch {
	case h.orderID != "" || !h.released.IsZero():
		return booking.Order{}, false, fmt.Errorf("hold %q: %w", r.HoldID, booking.ErrHoldUsed)
	case !r.Now.Before(h.expires):
		return booking.Order{}, false, fmt.Errorf("hold %q: %w", r.HoldID, booking.ErrHoldExpired)
	}
	var off int64
	if r.PromoCode != "" {
		var percent int
		var amount int64
		err := c.row(ctx, `
UPDATE promo_codes SET used = used + 1
WHERE event_id = ? AND code = ? AND (max_uses = 0 OR used < max_uses)
RETURNING percent_off, amount_off_cents`, h.event, r.PromoCode).Scan(&percent, &amount)
		if errors.Is(err, sql.ErrNoRows) {
			return booking.Order{}, false, fmt.Errorf("promo code: %w", booking.ErrBadCode)
		}
		if err != nil {
			return booking.Order{}, false, err
		}
		off = discount(h.total, percent, amount)
	}
	if _, err := c.exec(ctx, `
INSERT INTO orders (id, event_id, hold_id, account, status, subtotal_cents, discount_cents, total_cents,
                    currency, promo_code, email, created_at, expires_at)
VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.OrderID, h.event, r.HoldID, r.Account, h.total, off, h.total-off,
		h.currency, orNull(r.PromoCode), orNull(r.Email), r.Now, h.expires); err != nil {
		return booking.Order{}, false, err
	}
	if _, err := c.exec(ctx, `UPDATE holds SET order_id = ? WHERE id = ?`, r.OrderID, r.HoldID); err != nil {
		return booking.Order{}, false, err
	}
	o, err := loadOrder(ctx, c, r.OrderID)
	return o, false, err
}

// discount is what a promo code takes off subtotal: a percentage rounded
// down to the cent, or an amount, never more than the subtotal.
func discount(subtotal int64, percent int, amount int64) int64 {
	off := amount
	if percent > 0 {
		off = subtotal * int64(percent) / 100
	}
	return max(0, min(off, subtotal))
}

// GetOrder reads an order with its items, tickets and payments.
func (s *Store) GetOrder(ctx context.Context, id string) (booking.Order, error) {
	var o booking.Order
	err := s.read(ctx, func(c conn) error {
		var err error
		o, err = loadOrder(ctx, c, id)
		return err
	})
	if err != nil {
		return booking.Order{}, fmt.Errorf("get order: %w", err)
	}
	return o, nil
}

func loadOrder(ctx context.Context, c conn, id string) (booking.Order, error) {
	o := booking.Order{ID: id}
	var status string
	err := c.row(ctx, `
SELECT event_id, hold_id, account, status, subtotal_cents, discount_cents, total_cents, currency,
       promo_code, email, created_at, expires_at, paid_at
FROM orders WHERE id = ?`, id).Scan(&o.EventID, &o.HoldID, &o.Account, &status, &o.SubtotalCents,
		&o.DiscountCents, &o.TotalCents, &o.Currency, nt(&o.PromoCode), nt(&o.Email), tm(&o.CreatedAt), tm(&o.ExpiresAt), tm(&o.PaidAt))
	if err != nil {
		return booking.Order{}, notFound(err, "order", id)
	}
	o.Status = booking.OrderStatus(status)
	if o.Items, err = loadItems(ctx, c, o.HoldID); err != nil {
		return booking.Order{}, err
	}
	if o.Tickets, err = loadTickets(ctx, c, `order_id = ?`, id); err != nil {
		return booking.Order{}, err
	}
	if o.Payments, err = loadPayments(ctx, c, `order_id = ? ORDER BY attempt`, id); err != nil {
		return booking.Order{}, err
	}
	return o, nil
}

// orderRow is what the payment steps need of an order, read with its row
// locked (PostgreSQL), so that every change to one order runs one at a time.
type orderRow struct {
	id, event, hold, status, promo, paidBy string
	expires                                time.Time
	total                                  int64
	currency                               string
}

func lockOrder(ctx context.Context, c conn, id string) (orderRow, error) {
	o := orderRow{id: id}
	err := c.row(ctx, `SELECT event_id, hold_id, status, promo_code, paid_by, expires_at, total_cents, currency
FROM orders WHERE id = ?`+c.lockRows(), id).Scan(&o.event, &o.hold, &o.status, nt(&o.promo), nt(&o.paidBy),
		tm(&o.expires), &o.total, &o.currency)
	if err != nil {
		return orderRow{}, notFound(err, "order", id)
	}
	return o, nil
}

// ours is the predicate of a place (of the table places, unaliased) that a
// hold may sell: one it still holds, even past its expiry, or one free at
// now that the hold's presale quota, if any, lets it take; quota ids are
// unique within an event, so the quota is the hold's only in the hold's
// event. Its arguments are the hold's id, now, and the hold's id again.
const ours = `((state = 'held' AND hold_id = ?) OR (` + free + `
    AND (quota_id IS NULL OR quota_id =
        (SELECT h.quota_id FROM holds h WHERE h.id = ? AND h.event_id = places.event_id))))`

// StartPayment records a new payment attempt of a pending order. After the
// order's expiry it is refused only when a place of the order has been
// lost; otherwise ConfirmPayment can still take them again.
func (s *Store) StartPayment(ctx context.Context, paymentID, orderID string, now time.Time) (booking.Payment, error) {
	if paymentID == "" || orderID == "" {
		return booking.Payment{}, fmt.Errorf("start payment: %w", invalid("payment needs an id and an order"))
	}
	now = truncate(now)
	var p booking.Payment
	err := s.write(ctx, func(c conn) error {
		o, err := lockOrder(ctx, c, orderID)
		if err != nil {
			return err
		}
		if o.status != string(booking.OrderPending) {
			return fmt.Errorf("%w: order %q is %s", booking.ErrConflict, orderID, o.status)
		}
		if !now.Before(o.expires) {
			n, err := lostPlaces(ctx, c, o.hold, now)
			if err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("%w: order %q expired and %d of its places are gone", booking.ErrConflict, orderID, n)
			}
		}
		var attempts int
		if err := c.row(ctx, `SELECT count(*) FROM payments WHERE order_id = ?`, orderID).Scan(&attempts); err != nil {
			return err
		}
		p = booking.Payment{ID: paymentID, OrderID: orderID, Attempt: attempts + 1,
			IdempotencyKey: fmt.Sprintf("%s:%d", orderID, attempts+1), Status: booking.PaymentCreated,
			AmountCents: o.total, Currency: o.currency, CreatedAt: now}
		_, err = c.exec(ctx, `
INSERT INTO payments (id, order_id, attempt, idempotency_key, status, amount_cents, currency, created_at)
VALUES (?, ?, ?, ?, 'created', ?, ?, ?)`, p.ID, p.OrderID, p.Attempt, p.IdempotencyKey, p.AmountCents, p.Currency, now)
		return err
	})
	if err != nil {
		return booking.Payment{}, fmt.Errorf("start payment: %w", err)
	}
	return p, nil
}

// lostPlaces counts the places of a hold it can no longer sell: sold, held
// by someone else, moved to a quota it cannot take, or removed.
func lostPlaces(ctx context.Context, c conn, holdID string, now time.Time) (int, error) {
	var n int
	err := c.row(ctx, `
SELECT count(*) FROM hold_items i
WHERE i.hold_id = ? AND NOT EXISTS (
    SELECT 1 FROM places WHERE id = i.place_id AND `+ours+`)`,
		holdID, holdID, now, holdID).Scan(&n)
	return n, err
}

// SetPaymentRef records the provider's id of a payment attempt.
func (s *Store) SetPaymentRef(ctx context.Context, paymentID, ref string) error {
	if ref == "" {
		return fmt.Errorf("set payment ref: %w", invalid("empty reference"))
	}
	err := s.write(ctx, func(c conn) error {
		n, err := c.exec(ctx, `UPDATE payments SET provider_ref = ? WHERE id = ?`, ref, paymentID)
		if err == nil && n == 0 {
			err = fmt.Errorf("payment %q: %w", paymentID, booking.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("set payment ref: %w", err)
	}
	return nil
}

// PaymentByRef reads a payment attempt by the provider's id.
func (s *Store) PaymentByRef(ctx context.Context, ref string) (booking.Payment, error) {
	ps, err := loadPayments(ctx, s.reader(), `provider_ref = ?`, ref)
	if err == nil && len(ps) == 0 {
		err = fmt.Errorf("payment with ref %q: %w", ref, booking.ErrNotFound)
	}
	if err != nil {
		return booking.Payment{}, fmt.Errorf("payment by ref: %w", s.mapErr(err))
	}
	return ps[0], nil
}

func loadPayments(ctx context.Context, c conn, where string, args ...any) ([]booking.Payment, error) {
	rows, err := c.query(ctx, `SELECT id, order_id, attempt, idempotency_key, provider_ref, status,
       amount_cents, currency, created_at
FROM payments WHERE `+where, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []booking.Payment
	for rows.Next() {
		var p booking.Payment
		var status string
		if err := rows.Scan(&p.ID, &p.OrderID, &p.Attempt, &p.IdempotencyKey, nt(&p.ProviderRef), &status,
			&p.AmountCents, &p.Currency, tm(&p.CreatedAt)); err != nil {
			return nil, err
		}
		p.Status = booking.PaymentStatus(status)
		out = append(out, p)
	}
	return out, rows.Err()
}

// ConfirmPayment marks a payment attempt succeeded and settles its order,
// in one transaction that holds the order's row:
//   - an order already paid changes nothing (Changed false); Refund is set
//     when another attempt paid it, since this money is then a second charge;
//   - a cancelled or failed order is not revived: Refund is set;
//   - a pending or expired order sells its places if it can still have them
//     all (its hold's, or free again and in reach of its hold's quota): the
//     order is paid, a ticket issued per place and a "tickets" outbox message
//     written. If it cannot, the order fails, its promo use goes back, and
//     Refund is set.
//
// A payment already refunded confirms nothing.
func (s *Store) ConfirmPayment(ctx context.Context, paymentID string, ticketIDs func(n int) []string, now time.Time) (booking.Confirmation, error) {
	if ticketIDs == nil {
		return booking.Confirmation{}, fmt.Errorf("confirm payment: %w", invalid("no ticket ids"))
	}
	now = truncate(now)
	var conf booking.Confirmation
	err := s.write(ctx, func(c conn) error {
		var err error
		conf, err = confirm(ctx, c, paymentID, ticketIDs, now)
		return err
	})
	if err != nil {
		return booking.Confirmation{}, fmt.Errorf("confirm payment %q: %w", paymentID, err)
	}
	return conf, nil
}

func confirm(ctx context.Context, c conn, paymentID string, ticketIDs func(int) []string, now time.Time) (booking.Confirmation, error) {
	var orderID string
	if err := c.row(ctx, `SELECT order_id FROM payments WHERE id = ?`, paymentID).Scan(&orderID); err != nil {
		return booking.Confirmation{}, notFound(err, "payment", paymentID)
	}
	o, err := lockOrder(ctx, c, orderID)
	if err != nil {
		return booking.Confirmation{}, err
	}
	var status string
	if err := c.row(ctx, `SELECT status FROM payments WHERE id = ?`, paymentID).Scan(&status); err != nil {
		return booking.Confirmation{}, err
	}
	var conf booking.Confirmation
	switch {
	case status == string(booking.PaymentRefunded):
	case o.status == string(booking.OrderPaid):
		conf.Refund = o.paidBy != paymentID
	case o.status == string(booking.OrderCancelled) || o.status == string(booking.OrderFailed):
		conf.Refund = true
	default: // pending or expired
		conf.Changed = true
		conf.Refund, err = settle(ctx, c, o, paymentID, ticketIDs, now)
		if err != nil {
			return booking.Confirmation{}, err
		}
	}
	if status != string(booking.PaymentRefunded) && status != string(booking.PaymentSucceeded) {
		if _, err := c.exec(ctx, `UPDATE payments SET status = 'succeeded', updated_at = ? WHERE id = ?`,
			now, paymentID); err != nil {
			return booking.Confirmation{}, err
		}
	}
	conf.Order, err = loadOrder(ctx, c, orderID)
	return conf, err
}

// settle pays order o if its places can all still be sold to it, and fails
// it otherwise, reporting whether the money must go back.
func settle(ctx context.Context, c conn, o orderRow, paymentID string, ticketIDs func(int) []string, now time.Time) (refund bool, err error) {
	// Lock the order's places in id order, like every other writer of
	// places; then nobody can change them before the UPDATE below.
	if c.lockRows() != "" {
		if _, err := column[int64](ctx, c, `SELECT id FROM places
WHERE id IN (SELECT place_id FROM hold_items WHERE hold_id = ?) ORDER BY id`+c.lockRows(), o.hold); err != nil {
			return false, err
		}
	}
	var want, can int
	if err := c.row(ctx, `SELECT count(*) FROM hold_items WHERE hold_id = ?`, o.hold).Scan(&want); err != nil {
		return false, err
	}
	if err := c.row(ctx, `SELECT count(*) FROM places
WHERE id IN (SELECT place_id FROM hold_items WHERE hold_id = ?) AND `+ours,
		o.hold, o.hold, now, o.hold).Scan(&can); err != nil {
		return false, err
	}
	if can < want {
		if _, err := c.exec(ctx, `UPDATE orders SET status = 'failed' WHERE id = ?`, o.id); err != nil {
			return false, err
		}
		// An expired order gave its promo use back already.
		if o.status == string(booking.OrderPending) {
			if err := giveBackPromo(ctx, c, o.event, o.promo); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	if _, err := c.exec(ctx, `
UPDATE places SET state = 'sold', order_id = ?, hold_id = ?, hold_expires_at = NULL
WHERE id IN (SELECT place_id FROM hold_items WHERE hold_id = ?)`, o.id, o.hold, o.hold); err != nil {
		return false, err
	}
	if _, err := c.exec(ctx, `UPDATE orders SET status = 'paid', paid_at = ?, paid_by = ? WHERE id = ?`,
		now, paymentID, o.id); err != nil {
		return false, err
	}
	// An expired order gave its promo use back; the paid order uses it
	// again, even past MaxUses: the discount was granted already.
	if o.status == string(booking.OrderExpired) && o.promo != "" {
		if _, err := c.exec(ctx, `UPDATE promo_codes SET used = used + 1 WHERE event_id = ? AND code = ?`,
			o.event, o.promo); err != nil {
			return false, err
		}
	}
	return false, issueTickets(ctx, c, o, ticketIDs, now)
}

// issueTickets writes one ticket per place of a just-paid order, and the
// outbox message that sends them.
func issueTickets(ctx context.Context, c conn, o orderRow, ticketIDs func(int) []string, now time.Time) error {
	items, err := loadItems(ctx, c, o.hold)
	if err != nil {
		return err
	}
	ids := ticketIDs(len(items))
	if err := validTicketIDs(ids, len(items)); err != nil {
		return err
	}
	for i, it := range items {
		if _, err := c.exec(ctx, `
INSERT INTO tickets (id, order_id, event_id, place_id, label, ticket_type_id, issued_at, void)
VALUES (?, ?, ?, ?, ?, ?, ?, FALSE)`, ids[i], o.id, o.event, placeKey(it.PlaceID), it.Label, it.TicketTypeID, now); err != nil {
			return err
		}
	}
	payload, err := json.Marshal(ticketsMessage{OrderID: o.id, EventID: o.event, TicketIDs: ids})
	if err != nil {
		return err
	}
	_, err = c.exec(ctx, `INSERT INTO outbox (id, kind, order_id, payload, created_at, attempts)
VALUES (?, 'tickets', ?, ?, ?, 0)`, "tickets:"+o.id, o.id, payload, now)
	return err
}

// ticketsMessage is the payload of a "tickets" outbox message.
type ticketsMessage struct {
	OrderID   string   `json:"order_id"`
	EventID   string   `json:"event_id"`
	TicketIDs []string `json:"ticket_ids"`
}

func validTicketIDs(ids []string, n int) error {
	if len(ids) != n {
		return invalid("%d ticket ids for %d places", len(ids), n)
	}
	seen := make(map[string]bool, n)
	for _, id := range ids {
		if id == "" || seen[id] {
			return invalid("ticket id %q empty or given twice", id)
		}
		seen[id] = true
	}
	return nil
}

// giveBackPromo returns one use of an order's promo code, if it has one.
func giveBackPromo(ctx context.Context, c conn, eventID, code string) error {
	if code == "" {
		return nil
	}
	_, err := c.exec(ctx, `UPDATE promo_codes SET used = used - 1 WHERE event_id = ? AND code = ? AND used > 0`,
		eventID, code)
	return err
}

// FailPayment marks a created attempt failed; an attempt that succeeded or
// was refunded stays so, whatever order the provider's messages come in.
func (s *Store) FailPayment(ctx context.Context, paymentID string, now time.Time) error {
	err := s.write(ctx, func(c conn) error {
		var status string
		if err := c.row(ctx, `SELECT status FROM payments WHERE id = ?`, paymentID).Scan(&status); err != nil {
			return notFound(err, "payment", paymentID)
		}
		_, err := c.exec(ctx, `UPDATE payments SET status = 'failed', updated_at = ?
WHERE id = ? AND status = 'created'`, now, paymentID)
		return err
	})
	if err != nil {
		return fmt.Errorf("fail payment: %w", err)
	}
	return nil
}

// MarkRefunded records that an attempt's money went back. The order's
// tickets become void when this attempt is the one that paid it; refunding a
// second charge leaves the order and its tickets alone.
func (s *Store) MarkRefunded(ctx context.Context, paymentID string, now time.Time) error {
	err := s.write(ctx, func(c conn) error {
		var orderID string
		if err := c.row(ctx, `SELECT order_id FROM payments WHERE id = ?`, paymentID).Scan(&orderID); err != nil {
			return notFound(err, "payment", paymentID)
		}
		o, err := lockOrder(ctx, c, orderID)
		if err != nil {
			return err
		}
		if _, err := c.exec(ctx, `UPDATE payments SET status = 'refunded', updated_at = ? WHERE id = ?`,
			now, paymentID); err != nil {
			return err
		}
		if o.paidBy == paymentID {
			_, err = c.exec(ctx, `UPDATE tickets SET void = TRUE WHERE order_id = ?`, orderID)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("mark refunded: %w", err)
	}
	return nil
}

// ExpireOrders marks pending orders past their expiry, with no succeeded
// attempt, expired, and gives their promo uses back. Their places count as
// available already; it also returns every lapsed hold's places to
// available, which only tidies up: no query needs it.
func (s *Store) ExpireOrders(ctx context.Context, now time.Time) (int, error) {
	now = truncate(now)
	var n int
	err := s.write(ctx, func(c conn) error {
		rows, err := c.query(ctx, `
UPDATE orders SET status = 'expired'
WHERE status = 'pending' AND expires_at <= ?
  AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = orders.id AND p.status = 'succeeded')
RETURNING event_id, promo_code`, now)
		if err != nil {
			return err
		}
		type promo struct{ event, code string }
		var back []promo
		n = 0
		for rows.Next() {
			var p promo
			if err := rows.Scan(&p.event, nt(&p.code)); err != nil {
				rows.Close()
				return err
			}
			back = append(back, p)
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range back {
			if err := giveBackPromo(ctx, c, p.event, p.code); err != nil {
				return err
			}
		}
		_, err = c.exec(ctx, `
UPDATE places SET state = 'available', hold_id = NULL, hold_expires_at = NULL
WHERE id IN (SELECT id FROM places WHERE state = 'held' AND hold_expires_at <= ?`+c.skipLocked()+`)`, now)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire orders: %w", err)
	}
	return n, nil
}

// CancelOrder cancels a pending order, releases its hold and gives its
// promo use back. Cancelling a cancelled order changes nothing; any other
// state is ErrConflict.
func (s *Store) CancelOrder(ctx context.Context, id string, now time.Time) error {
	err := s.write(ctx, func(c conn) error {
		o, err := lockOrder(ctx, c, id)
		if err != nil {
			return err
		}
		switch o.status {
		case string(booking.OrderCancelled):
			return nil
		case string(booking.OrderPending):
		default:
			return fmt.Errorf("%w: order %q is %s", booking.ErrConflict, id, o.status)
		}
		if _, err := c.exec(ctx, `UPDATE orders SET status = 'cancelled' WHERE id = ?`, id); err != nil {
			return err
		}
		if err := freeHeld(ctx, c, o.hold); err != nil {
			return err
		}
		if _, err := c.exec(ctx, `UPDATE holds SET released_at = ? WHERE id = ?`, now, o.hold); err != nil {
			return err
		}
		return giveBackPromo(ctx, c, o.event, o.promo)
	})
	if err != nil {
		return fmt.Errorf("cancel order: %w", err)
	}
	return nil
}
