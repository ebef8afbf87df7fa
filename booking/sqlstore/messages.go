package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/usherhq/usher/booking"
)

// defaultLimit is how many webhooks or outbox messages a list returns when
// asked for 0 or fewer.
const defaultLimit = 100

// maxOutboxAttempts is how often a message is tried before it stops being
// due and waits for an operator.
const maxOutboxAttempts = 10

// RecordWebhook keeps a provider's event once by (provider, id) and reports
// whether it was new.
func (s *Store) RecordWebhook(ctx context.Context, e booking.WebhookEvent) (bool, error) {
	if e.Provider == "" || e.ID == "" || e.ReceivedAt.IsZero() {
		return false, fmt.Errorf("record webhook: %w", invalid("webhook needs a provider, an id and a time"))
	}
	var n int64
	err := s.write(ctx, func(c conn) error {
		var err error
		n, err = c.exec(ctx, `
INSERT INTO webhook_inbox (provider, id, type, payload, received_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (provider, id) DO NOTHING`, e.Provider, e.ID, e.Type, payload(e.Payload), e.ReceivedAt)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("record webhook: %w", err)
	}
	return n == 1, nil
}

// payload stores a nil payload as an empty one: the column is not null.
func payload(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// PendingWebhooks lists up to limit (100 when 0 or less) events not yet
// processed, oldest first, in the order of arrival among equal times.
func (s *Store) PendingWebhooks(ctx context.Context, limit int) ([]booking.WebhookEvent, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := s.reader().query(ctx, `SELECT provider, id, type, payload, received_at FROM webhook_inbox
WHERE processed_at IS NULL ORDER BY received_at, seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending webhooks: %w", s.mapErr(err))
	}
	defer rows.Close()
	var out []booking.WebhookEvent
	for rows.Next() {
		var e booking.WebhookEvent
		if err := rows.Scan(&e.Provider, &e.ID, &e.Type, &e.Payload, tm(&e.ReceivedAt)); err != nil {
			return nil, fmt.Errorf("pending webhooks: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending webhooks: %w", err)
	}
	return out, nil
}

// MarkWebhook records that an event was processed at now, with the error
// of processing it ("" for none). A processed event is no longer pending
// either way; processing again is for an operator to decide.
func (s *Store) MarkWebhook(ctx context.Context, provider, id string, processErr string, now time.Time) error {
	err := s.write(ctx, func(c conn) error {
		n, err := c.exec(ctx, `UPDATE webhook_inbox SET processed_at = ?, error = ?
WHERE provider = ? AND id = ?`, now, processErr, provider, id)
		if err == nil && n == 0 {
			err = fmt.Errorf("webhook %s/%s: %w", provider, id, booking.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("mark webhook: %w", err)
	}
	return nil
}

// PendingOutbox lists up to limit (100 when 0 or less) messages not yet
// sent and tried fewer than 10 times, oldest first.
func (s *Store) PendingOutbox(ctx context.Context, limit int) ([]booking.OutboxMessage, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := s.reader().query(ctx, `SELECT id, kind, order_id, payload, created_at, attempts FROM outbox
WHERE sent_at IS NULL AND attempts < ? ORDER BY created_at, seq LIMIT ?`, maxOutboxAttempts, limit)
	if err != nil {
		return nil, fmt.Errorf("pending outbox: %w", s.mapErr(err))
	}
	defer rows.Close()
	var out []booking.OutboxMessage
	for rows.Next() {
		var m booking.OutboxMessage
		if err := rows.Scan(&m.ID, &m.Kind, &m.OrderID, &m.Payload, tm(&m.CreatedAt), &m.Attempts); err != nil {
			return nil, fmt.Errorf("pending outbox: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending outbox: %w", err)
	}
	return out, nil
}

// MarkOutbox records that a message was sent, or that one more attempt
// failed.
func (s *Store) MarkOutbox(ctx context.Context, id string, sent bool, now time.Time) error {
	q := `UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ? WHERE id = ?`
	if sent {
		q = `UPDATE outbox SET last_attempt_at = ?, sent_at = ? WHERE id = ?`
	}
	err := s.write(ctx, func(c conn) error {
		args := []any{now, id}
		if sent {
			args = []any{now, now, id}
		}
		n, err := c.exec(ctx, q, args...)
		if err == nil && n == 0 {
			err = fmt.Errorf("outbox message %q: %w", id, booking.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("mark outbox: %w", err)
	}
	return nil
}
