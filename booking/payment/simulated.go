package payment

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// The simulated provider's test cards; every other number is declined as
// invalid.
const (
	// CardSucceeds is charged successfully.
	CardSucceeds = "4242 4242 4242 4242"
	// CardDeclined is declined with the reason "card_declined".
	CardDeclined = "4000 0000 0000 0002"
)

// The reasons a simulated payment fails.
const (
	ReasonCardDeclined = "card_declined"
	ReasonInvalidCard  = "invalid_card"
)

// DefaultDelay is how long the simulated provider waits before it sends an
// event, in automatic mode, when SimulatedOptions.Delay is 0.
const DefaultDelay = 300 * time.Millisecond

// Retries of a webhook delivery: after the first attempt fails, up to
// maxRetries more, waiting firstBackoff, then twice as long each time
// (1 s, 2 s, 4 s, 8 s, 16 s).
const (
	maxRetries   = 5
	firstBackoff = time.Second
)

// SimulatedOptions configures a Simulated provider.
type SimulatedOptions struct {
	// WebhookURL is where events are POSTed, signed with Secret. Empty
	// means events are not sent (in Manual mode, Deliver fails).
	WebhookURL string
	// Secret signs the events; without one, no event is sent, since no
	// receiver could verify it.
	Secret []byte
	// BaseURL is the absolute or root-relative URL prefix under which
	// Handler serves the hosted checkout, e.g. "/pay": CheckoutURL is
	// BaseURL + "/" + ref.
	BaseURL string
	// Client sends the webhooks. Default: a client with a 10 s timeout that
	// does not follow redirects, since a redirect is not an answer.
	Client *http.Client
	// Now is the clock that dates events and signs them. Default: time.Now.
	Now func() time.Time
	// After waits for delivery delays and retry backoffs, as time.After
	// does (the default); tests replace it to move time themselves.
	After func(time.Duration) <-chan time.Time

	// Manual queues events until Deliver is called (tests). Otherwise each
	// event is sent after Delay, retried with backoff up to 5 times on a
	// non-2xx answer or an error, and sent twice when Duplicate is set.
	// Events of one payment are sent independently, so they may arrive out
	// of order, as a real provider's do.
	Manual bool
	// Delay is how long an event waits before it is sent in automatic
	// mode: 0 means DefaultDelay (300 ms); negative means no wait.
	Delay time.Duration
	// Duplicate sends every event twice (the same event id), in automatic
	// mode.
	Duplicate bool
	// Logger reports deliveries. Default: discard.
	Logger *slog.Logger
}

// DeliverOptions says how Deliver sends the queued events.
type DeliverOptions struct {
	// Reverse sends the newest event first.
	Reverse bool
	// Twice sends each event twice in a row, with the same event id.
	Twice bool
}

// Simulated is a payment provider that behaves like a real one, with none
// of the money: a hosted checkout page that takes the test cards, payment
// states that only move forward, idempotency keys, refunds, and signed
// webhooks that can be delayed, repeated and reordered. Its payments live
// in memory for the life of the process. It is safe for concurrent use.
type Simulated struct {
	webhookURL string
	secret     []byte
	checkout   string // CheckoutURL prefix, without a trailing slash
	path       string // URL path prefix that Handler serves
	client     *http.Client
	now        func() time.Time
	after      func(time.Duration) <-chan time.Time
	manual     bool
	delay      time.Duration
	duplicate  bool
	log        *slog.Logger

	// ctx is cancelled by Close, stopping automatic deliveries; wg counts
	// them.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	payments map[string]*simPayment // by ref
	byKey    map[string]string      // idempotency key → ref
	queue    []Event                // Manual mode
	closed   bool
}

// simPayment is a payment as the simulated provider keeps it.
type simPayment struct {
	status      Status
	description string
	returnURL   string
}

var _ Provider = (*Simulated)(nil)

// NewSimulated makes a simulated provider. Call Close when done with it.
func NewSimulated(o SimulatedOptions) *Simulated {
	s := &Simulated{
		webhookURL: o.WebhookURL,
		secret:     slices.Clone(o.Secret),
		checkout:   strings.TrimRight(o.BaseURL, "/"),
		client:     o.Client,
		now:        o.Now,
		after:      o.After,
		manual:     o.Manual,
		delay:      o.Delay,
		duplicate:  o.Duplicate,
		log:        o.Logger,
		payments:   make(map[string]*simPayment),
		byKey:      make(map[string]string),
	}
	s.path = s.checkout
	if u, err := url.Parse(s.checkout); err == nil {
		s.path = strings.TrimRight(u.Path, "/")
	}
	if s.client == nil {
		s.client = &http.Client{
			Timeout: 10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.after == nil {
		s.after = time.After
	}
	if s.delay == 0 {
		s.delay = DefaultDelay
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Name is "simulated".
func (s *Simulated) Name() string { return "simulated" }

// Begin starts a payment, or returns the one begun with the same key. A
// repeat with another amount or currency is an ErrIdempotencyConflict; its
// other fields are ignored, the first request's stand.
func (s *Simulated) Begin(ctx context.Context, r Request) (Session, error) {
	if err := ctx.Err(); err != nil {
		return Session{}, fmt.Errorf("begin payment %q: %w", r.IdempotencyKey, err)
	}
	if err := validate(r); err != nil {
		return Session{}, fmt.Errorf("begin payment %q: %w", r.IdempotencyKey, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ref, ok := s.byKey[r.IdempotencyKey]; ok {
		st := s.payments[ref].status
		if st.AmountCents != r.AmountCents || st.Currency != r.Currency {
			return Session{}, fmt.Errorf("begin payment %q: %w: first %d %s, now %d %s", r.IdempotencyKey,
				ErrIdempotencyConflict, st.AmountCents, st.Currency, r.AmountCents, r.Currency)
		}
		return s.session(ref), nil
	}
	ref := newID("pay_")
	s.payments[ref] = &simPayment{
		status: Status{
			Ref:         ref,
			State:       StatePending,
			AmountCents: r.AmountCents,
			Currency:    r.Currency,
			PaymentID:   r.PaymentID,
			OrderID:     r.OrderID,
		},
		description: r.Description,
		returnURL:   r.ReturnURL,
	}
	s.byKey[r.IdempotencyKey] = ref
	return s.session(ref), nil
}

func (s *Simulated) session(ref string) Session {
	return Session{Ref: ref, CheckoutURL: s.checkout + "/" + ref}
}

// validate checks a request's fields; the error wraps ErrInvalidRequest.
func validate(r Request) error {
	var problems []string
	if r.IdempotencyKey == "" || len(r.IdempotencyKey) > 255 {
		problems = append(problems, "idempotency key must be 1 to 255 bytes")
	}
	if r.PaymentID == "" {
		problems = append(problems, "no payment id")
	}
	if r.OrderID == "" {
		problems = append(problems, "no order id")
	}
	if r.AmountCents <= 0 {
		problems = append(problems, fmt.Sprintf("amount %d is not positive", r.AmountCents))
	}
	if !isCurrency(r.Currency) {
		problems = append(problems, fmt.Sprintf("currency %q is not an ISO 4217 code in capitals", r.Currency))
	}
	if r.ReturnURL != "" && !isReturnURL(r.ReturnURL) {
		problems = append(problems, fmt.Sprintf("return URL %q is neither absolute http(s) nor root-relative", r.ReturnURL))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, strings.Join(problems, "; "))
	}
	return nil
}

func isCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for _, r := range []byte(c) {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

// isReturnURL reports whether u is where a redirect may safely send the
// fan: an absolute http(s) URL, or a path on the same site. A relative path
// would depend on the checkout's own URL, and "//host/…" would leave the
// site without saying so.
func isReturnURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil {
		return false
	}
	if p.Scheme == "" {
		return p.Host == "" && strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//")
	}
	return (p.Scheme == "http" || p.Scheme == "https") && p.Host != ""
}

// Status reports a payment's current state.
func (s *Simulated) Status(ctx context.Context, ref string) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, fmt.Errorf("payment %s: %w", ref, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[ref]
	if !ok {
		return Status{}, fmt.Errorf("payment %s: %w", ref, ErrNotFound)
	}
	return p.status, nil
}

// Pay charges a payment as the checkout form does: CardSucceeds (spaces
// optional) succeeds, CardDeclined is declined with ReasonCardDeclined, and
// anything else with ReasonInvalidCard. A decline is an outcome, not an
// error. Paying a payment again answers its current state and changes
// nothing: a declined payment stays failed, and a retry is a new payment
// with a new key.
func (s *Simulated) Pay(ctx context.Context, ref, card string) (Status, error) {
	if err := ctx.Err(); err != nil {
		return Status{}, fmt.Errorf("pay %s: %w", ref, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[ref]
	if !ok {
		return Status{}, fmt.Errorf("pay %s: %w", ref, ErrNotFound)
	}
	if p.status.State != StatePending {
		return p.status, nil
	}
	switch normalizeCard(card) {
	case normalizeCard(CardSucceeds):
		p.status.State = StateSucceeded
	case normalizeCard(CardDeclined):
		p.status.State, p.status.Reason = StateFailed, ReasonCardDeclined
	default:
		p.status.State, p.status.Reason = StateFailed, ReasonInvalidCard
	}
	s.emitLocked(p.status)
	return p.status, nil
}

// normalizeCard drops the spaces and dashes people type in card numbers.
func normalizeCard(card string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(card)
}

// Refund gives back a succeeded payment and emits payment.refunded; a
// refunded payment is left as it is, with no second event; any other state
// is ErrNotRefundable.
func (s *Simulated) Refund(ctx context.Context, ref string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("refund %s: %w", ref, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[ref]
	if !ok {
		return fmt.Errorf("refund %s: %w", ref, ErrNotFound)
	}
	switch p.status.State {
	case StateRefunded:
		return nil
	case StateSucceeded:
		p.status.State = StateRefunded
		s.emitLocked(p.status)
		return nil
	}
	return fmt.Errorf("refund %s: %w: it is %s", ref, ErrNotRefundable, p.status.State)
}

// emitLocked announces a state change: it queues the event in Manual mode
// and starts its delivery otherwise. s.mu is held, so events are made in
// the order of the changes.
func (s *Simulated) emitLocked(st Status) {
	e := Event{ID: newID("evt_"), Type: typeOf(st.State), Created: s.now().Truncate(time.Second).UTC(), Data: st}
	if s.manual {
		s.queue = append(s.queue, e)
		return
	}
	if s.closed {
		s.log.Warn("payment event dropped: provider closed", "event_id", e.ID, "type", e.Type, "ref", st.Ref)
		return
	}
	if err := s.deliverable(); err != nil {
		s.log.Warn("payment event dropped", "event_id", e.ID, "type", e.Type, "ref", st.Ref, "error", err)
		return
	}
	s.wg.Go(func() { s.deliverLater(e) })
}

// newID is prefix and 96 random bits in hex.
func newID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program rather than return an error
	return prefix + hex.EncodeToString(b)
}

// Queued reports the events waiting for Deliver (Manual mode), oldest
// first.
func (s *Simulated) Queued() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.queue)
}

// Deliver sends the queued events (Manual mode) one after the other, and
// returns when each was answered. A failed delivery is retried at once, up
// to 5 times, since the caller owns the time; the error then says what the
// webhook answered, for every event that was never acknowledged. The queue
// is emptied either way.
func (s *Simulated) Deliver(ctx context.Context, o DeliverOptions) error {
	if !s.manual {
		return errors.New("deliver payment events: the provider is not in manual mode")
	}
	s.mu.Lock()
	events := s.queue
	s.queue = nil
	s.mu.Unlock()
	if o.Reverse {
		slices.Reverse(events)
	}
	var errs []error
	for _, e := range events {
		for range copies(o.Twice) {
			if err := s.deliver(ctx, e, retryAtOnce); err != nil {
				errs = append(errs, err)
			}
			if err := ctx.Err(); err != nil {
				return errors.Join(append(errs, fmt.Errorf("deliver payment events: %w", err))...)
			}
		}
	}
	return errors.Join(errs...)
}

// copies is how many times an event is sent.
func copies(twice bool) int {
	if twice {
		return 2
	}
	return 1
}

// Close stops the automatic deliveries: it cancels those waiting or in
// flight and returns when they have ended. Events of later state changes
// are dropped. Payments and the checkout keep working.
func (s *Simulated) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}
