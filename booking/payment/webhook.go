package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// pauseFunc waits before the retry that follows attempt n (0 being the
// first attempt); false means stop retrying.
type pauseFunc func(ctx context.Context, n int) bool

// retryAtOnce retries without waiting, while ctx lives.
func retryAtOnce(ctx context.Context, _ int) bool { return ctx.Err() == nil }

// backoff waits firstBackoff after the first attempt, twice as long after
// each next one.
func (s *Simulated) backoff(ctx context.Context, n int) bool {
	return s.wait(ctx, firstBackoff<<n)
}

// wait waits d on the provider's clock; false if ctx ended first. It
// starts no timer for a context already ended: after Close, a delivery
// that failed because Close cancelled it stops at once.
func (s *Simulated) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 || ctx.Err() != nil {
		return ctx.Err() == nil
	}
	select {
	case <-ctx.Done():
		return false
	case <-s.after(d):
		return true
	}
}

// deliverLater is an automatic delivery: the event after the delay, once
// or, with Duplicate, twice.
func (s *Simulated) deliverLater(e Event) {
	if !s.wait(s.ctx, s.delay) {
		return
	}
	for range copies(s.duplicate) {
		if err := s.deliver(s.ctx, e, s.backoff); err != nil {
			s.log.Warn("payment event not delivered", "event_id", e.ID, "type", e.Type, "ref", e.Data.Ref, "error", err)
			return
		}
	}
}

// deliver sends one event until the webhook acknowledges it, pausing
// between attempts, at most 1+maxRetries times.
func (s *Simulated) deliver(ctx context.Context, e Event, pause pauseFunc) error {
	if err := s.deliverable(); err != nil {
		return fmt.Errorf("deliver event %s (%s of %s): %w", e.ID, e.Type, e.Data.Ref, err)
	}
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("deliver event %s: %w", e.ID, err)
	}
	for n := 0; ; n++ {
		err = s.post(ctx, body)
		if err == nil {
			s.log.Debug("payment event delivered", "event_id", e.ID, "type", e.Type, "ref", e.Data.Ref, "attempt", n+1)
			return nil
		}
		s.log.Info("payment event delivery failed", "event_id", e.ID, "type", e.Type, "ref", e.Data.Ref, "attempt", n+1, "error", err)
		if n == maxRetries || !pause(ctx, n) {
			return fmt.Errorf("deliver event %s (%s of %s) after %d attempts: %w", e.ID, e.Type, e.Data.Ref, n+1, err)
		}
	}
}

// deliverable says why no event can be delivered, if it cannot: retrying
// would not help.
func (s *Simulated) deliverable() error {
	if s.webhookURL == "" {
		return errors.New("no webhook URL")
	}
	if len(s.secret) == 0 {
		return errors.New("no webhook secret")
	}
	return nil
}

// post sends a body to the webhook, signed now; any answer but a 2xx is an
// error that says what the webhook answered.
func (s *Simulated) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.webhookURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "usher-simulated-payments")
	req.Header.Set(SignatureHeader, Sign(s.secret, s.now(), body))
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	// Read a little of the answer: it goes into the error, and a drained
	// body lets the connection be reused.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %s: %q", resp.Status, bytes.TrimSpace(answer))
	}
	return nil
}
