// Package booking is usher's compact booking backend: the catalogue, seat
// and zone holds, orders, payments, tickets and check-in behind the waiting
// room. It never sells a place twice, never charges for an order it cannot
// fulfil without refunding, and never issues a ticket for an unpaid order.
//
// The Service holds the business flow; a Store (booking/sqlite,
// booking/postgres) keeps the data with the guarantees its doc states; a
// payment.Provider takes the money; booking/httpapi serves it all over HTTP.
package booking

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/usherhq/usher/booking/outbox"
	"github.com/usherhq/usher/booking/payment"
	"github.com/usherhq/usher/booking/ticket"
)

// Options configure a Service.
type Options struct {
	// HoldTTL is how long a hold keeps its places. Default 10m.
	HoldTTL time.Duration
	// Provider takes payments. Required.
	Provider payment.Provider
	// WebhookSecrets verify the provider's webhooks (the first signs in the
	// simulated provider; more during rotation). Required.
	WebhookSecrets [][]byte
	// Tickets signs ticket codes. Required.
	Tickets *ticket.Keys
	// Mail sends tickets. Default: a log of what would be sent.
	Mail outbox.Sender
	// ReturnURL is where the provider sends a fan after paying; "{order}"
	// becomes the order id. Default "/orders/{order}".
	ReturnURL string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// RefreshEvery is how often availability is reread for events being
	// watched, to see changes made by other instances. Default 2s.
	RefreshEvery time.Duration
}

// Service runs the booking flow over a Store.
type Service struct {
	store Store
	opts  Options
	log   *slog.Logger
	avail *availabilityHub

	webhooks chan struct{} // a webhook was recorded: process the inbox
	outbox   chan struct{} // an outbox message may be due
}

// NewService returns a Service. Run it to process webhooks, send tickets,
// expire orders and keep availability fresh.
func NewService(store Store, opts Options) (*Service, error) {
	if opts.Provider == nil || opts.Tickets == nil || len(opts.WebhookSecrets) == 0 {
		return nil, errors.New("booking: a payment provider, webhook secrets and ticket keys are required")
	}
	if opts.HoldTTL <= 0 {
		opts.HoldTTL = 10 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Mail == nil {
		opts.Mail = outbox.NewLog(opts.Logger)
	}
	if opts.ReturnURL == "" {
		opts.ReturnURL = "/orders/{order}"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RefreshEvery <= 0 {
		opts.RefreshEvery = 2 * time.Second
	}
	s := &Service{store: store, opts: opts, log: opts.Logger,
		webhooks: make(chan struct{}, 1), outbox: make(chan struct{}, 1)}
	s.avail = newAvailabilityHub(store, opts.Now, opts.Logger)
	return s, nil
}

// Store is the service's store.
func (s *Service) Store() Store { return s.store }

// Provider is the payment provider.
func (s *Service) Provider() payment.Provider { return s.opts.Provider }

// Tickets are the ticket keys.
func (s *Service) Tickets() *ticket.Keys { return s.opts.Tickets }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.opts.Now() }

// NewID returns a random id: 16 bytes as 32 hex characters.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Run processes webhooks and the outbox as they come, expires orders and
// refreshes watched availability, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	loop := func(every time.Duration, wake <-chan struct{}, work func(context.Context)) {
		wg.Go(func() {
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				work(ctx)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				case <-wake:
				}
			}
		})
	}
	loop(5*time.Second, s.webhooks, func(ctx context.Context) { s.logErr("process webhooks", s.ProcessWebhooks(ctx)) })
	loop(10*time.Second, s.outbox, func(ctx context.Context) { s.logErr("send tickets", s.SendOutbox(ctx)) })
	loop(30*time.Second, nil, func(ctx context.Context) {
		n, err := s.store.ExpireOrders(ctx, s.Now())
		s.logErr("expire orders", err)
		if n > 0 {
			s.log.Info("orders expired", "count", n)
		}
	})
	loop(s.opts.RefreshEvery, nil, s.avail.refreshWatched)
	wg.Wait()
	return nil
}

func (s *Service) logErr(what string, err error) {
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Error(what+" failed", "err", err)
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Account is whose hold or order it is: the account in the pass, or the
// visitor when the room needs no login.
func Account(uid, visitor string) string {
	if uid != "" {
		return uid
	}
	return "visitor:" + visitor
}
