package booking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/usherhq/usher/booking/outbox"
	"github.com/usherhq/usher/booking/payment"
	"github.com/usherhq/usher/booking/ticket"
)

// HoldInput is what a fan asks to hold: seats by id, or a quantity of a
// zone.
type HoldInput struct {
	EventID     string
	SeatIDs     []string
	ZoneID      string
	Quantity    int
	PresaleCode string
}

// Hold holds places for account, all or nothing.
func (s *Service) Hold(ctx context.Context, account string, in HoldInput) (Hold, error) {
	h, err := s.store.Hold(ctx, HoldRequest{
		HoldID: NewID(), EventID: in.EventID, SeatIDs: in.SeatIDs, ZoneID: in.ZoneID, Quantity: in.Quantity,
		PresaleCode: in.PresaleCode, Account: account, Now: s.Now(), TTL: s.opts.HoldTTL,
	})
	if err != nil {
		return h, err
	}
	s.avail.Changed(ctx, in.EventID)
	s.avail.ExpireAt(in.EventID, h.ExpiresAt)
	return h, nil
}

// Release gives account's hold back early.
func (s *Service) Release(ctx context.Context, account, holdID string) error {
	h, err := s.store.GetHold(ctx, holdID)
	if err != nil {
		return err
	}
	if err := s.store.ReleaseHold(ctx, holdID, account, s.Now()); err != nil {
		return err
	}
	s.avail.Changed(ctx, h.EventID)
	return nil
}

// Availability is an event's availability from the cache.
func (s *Service) Availability(ctx context.Context, eventID string) (Snapshot, error) {
	return s.avail.Get(ctx, eventID)
}

// WatchAvailability is the cached availability and its changes from now.
func (s *Service) WatchAvailability(ctx context.Context, eventID string) (Snapshot, <-chan Change, func(), error) {
	return s.avail.Subscribe(ctx, eventID)
}

// Checkout is an order with the payment attempt the fan is sent to.
type Checkout struct {
	Order       Order
	Payment     Payment
	CheckoutURL string
	// Replayed is set when the idempotency key was used before with the
	// same request: nothing new was created.
	Replayed bool
}

// CheckoutInput is what a fan sends to buy a hold.
type CheckoutInput struct {
	HoldID, PromoCode, Email string
	IdempotencyKey           string
}

// Checkout turns account's hold into a pending order and begins its first
// payment attempt. The same idempotency key with the same input returns the
// same order and the same attempt; with other input, ErrIdempotencyMismatch.
func (s *Service) Checkout(ctx context.Context, account string, in CheckoutInput) (Checkout, error) {
	sum := sha256.Sum256([]byte(in.HoldID + "\x00" + in.PromoCode + "\x00" + strings.ToLower(in.Email)))
	o, replayed, err := s.store.CreateOrder(ctx, OrderRequest{
		OrderID: NewID(), HoldID: in.HoldID, Account: account, PromoCode: in.PromoCode, Email: in.Email,
		IdempotencyKey: in.IdempotencyKey, RequestHash: hex.EncodeToString(sum[:]), Now: s.Now(),
	})
	if err != nil {
		return Checkout{}, err
	}
	var p Payment
	if replayed && len(o.Payments) > 0 {
		// The provider answers a repeated idempotency key with the same
		// session, so the fan lands on the same payment.
		p = o.Payments[len(o.Payments)-1]
	} else if p, err = s.store.StartPayment(ctx, NewID(), o.ID, s.Now()); err != nil {
		return Checkout{}, err
	}
	url, err := s.begin(ctx, o, p)
	if err != nil {
		return Checkout{}, err
	}
	if o, err = s.store.GetOrder(ctx, o.ID); err != nil {
		return Checkout{}, err
	}
	return Checkout{Order: o, Payment: p, CheckoutURL: url, Replayed: replayed}, nil
}

// Retry begins another payment attempt of account's pending order, after a
// declined card.
func (s *Service) Retry(ctx context.Context, account, orderID string) (Checkout, error) {
	o, err := s.store.GetOrder(ctx, orderID)
	if err != nil || o.Account != account {
		return Checkout{}, ErrNotFound
	}
	p, err := s.store.StartPayment(ctx, NewID(), o.ID, s.Now())
	if err != nil {
		return Checkout{}, err
	}
	url, err := s.begin(ctx, o, p)
	if err != nil {
		return Checkout{}, err
	}
	return Checkout{Order: o, Payment: p, CheckoutURL: url}, nil
}

// CheckoutURL is where the fan pays attempt p of order o: the provider
// answers the attempt's idempotency key with the session it opened.
func (s *Service) CheckoutURL(ctx context.Context, o Order, p Payment) (string, error) {
	if p.Status != PaymentCreated {
		return "", ErrConflict
	}
	return s.begin(ctx, o, p)
}

// ReturnURL is where the provider sends the fan back for order.
func (s *Service) ReturnURL(orderID string) string {
	return strings.ReplaceAll(s.opts.ReturnURL, "{order}", orderID)
}

// begin opens a payment attempt at the provider and returns where the fan
// pays. A free order (a promo code covering everything) is paid at once.
func (s *Service) begin(ctx context.Context, o Order, p Payment) (string, error) {
	if p.AmountCents == 0 {
		if err := s.confirm(ctx, p); err != nil {
			return "", err
		}
		return s.ReturnURL(o.ID), nil
	}
	// The fan sees the description on the provider's page: what the money
	// is for, as a card statement would say it.
	what := fmt.Sprintf("%d tickets", len(o.Items))
	if len(o.Items) == 1 {
		what = "1 ticket"
	}
	if ev, err := s.store.Event(ctx, o.EventID); err == nil {
		what += ": " + ev.Name
	}
	sess, err := s.opts.Provider.Begin(ctx, payment.Request{
		IdempotencyKey: p.IdempotencyKey, PaymentID: p.ID, OrderID: o.ID,
		AmountCents: p.AmountCents, Currency: p.Currency,
		Description: what, ReturnURL: s.ReturnURL(o.ID),
	})
	if err != nil {
		return "", fmt.Errorf("begin payment: %w", err)
	}
	if p.ProviderRef == "" {
		if err := s.store.SetPaymentRef(ctx, p.ID, sess.Ref); err != nil {
			return "", err
		}
	}
	return sess.CheckoutURL, nil
}

// Reconcile asks the provider where a payment stands and applies it: the
// fan's browser came back, or a webhook named the payment. Every path goes
// through the same guarded transitions, so a webhook and the browser racing
// each other pay the order once.
func (s *Service) Reconcile(ctx context.Context, ref string) error {
	p, err := s.store.PaymentByRef(ctx, ref)
	if err != nil {
		return err
	}
	st, err := s.opts.Provider.Status(ctx, ref)
	if err != nil {
		return fmt.Errorf("payment status: %w", err)
	}
	switch st.State {
	case payment.StateSucceeded:
		return s.confirm(ctx, p)
	case payment.StateFailed:
		return s.store.FailPayment(ctx, p.ID, s.Now())
	case payment.StateRefunded:
		return s.store.MarkRefunded(ctx, p.ID, s.Now())
	}
	return nil // still pending at the provider
}

// confirm pays p's order, or refunds it when its places are gone.
func (s *Service) confirm(ctx context.Context, p Payment) error {
	c, err := s.store.ConfirmPayment(ctx, p.ID, func(n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = ticket.NewID()
		}
		return ids
	}, s.Now())
	if err != nil {
		return err
	}
	if c.Refund {
		s.log.Warn("payment arrived for an order that cannot be fulfilled: refunding", "order", c.Order.ID, "status", c.Order.Status, "payment", p.ID)
		if p.ProviderRef != "" {
			if err := s.opts.Provider.Refund(ctx, p.ProviderRef); err != nil {
				return fmt.Errorf("refund payment %s: %w", p.ID, err)
			}
		}
		if err := s.store.MarkRefunded(ctx, p.ID, s.Now()); err != nil {
			return err
		}
	}
	if c.Changed {
		s.log.Info("order paid", "order", c.Order.ID, "event", c.Order.EventID, "tickets", len(c.Order.Tickets), "total_cents", c.Order.TotalCents)
		s.avail.Changed(ctx, c.Order.EventID)
		wake(s.outbox)
	}
	return nil
}

// ErrBadSignature is a webhook whose signature does not verify, or whose
// timestamp is outside the tolerance.
var ErrBadSignature = errors.New("bad webhook signature")

// webhookTolerance is how old (or early) a signed webhook may be.
const webhookTolerance = 5 * time.Minute

// ReceiveWebhook verifies a webhook on its raw bytes and keeps it once by
// its event id, to be processed after it is acknowledged.
func (s *Service) ReceiveWebhook(ctx context.Context, signature string, body []byte) error {
	if err := payment.Verify(s.opts.WebhookSecrets, signature, body, s.Now(), webhookTolerance); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	ev, err := payment.ParseEvent(body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	fresh, err := s.store.RecordWebhook(ctx, WebhookEvent{Provider: s.opts.Provider.Name(), ID: ev.ID, Type: ev.Type, Payload: body, ReceivedAt: s.Now()})
	if err != nil {
		return err
	}
	if fresh {
		wake(s.webhooks)
	}
	return nil
}

// ProcessWebhooks processes the recorded webhooks, oldest first. Whatever
// an event says, the provider is asked where its payment stands now, so
// events that come late, twice or out of order cannot walk an order
// backwards. A store failure stops the round; the event is tried again.
func (s *Service) ProcessWebhooks(ctx context.Context) error {
	for {
		evs, err := s.store.PendingWebhooks(ctx, 100)
		if err != nil || len(evs) == 0 {
			return err
		}
		for _, ev := range evs {
			msg := ""
			perr := s.processWebhook(ctx, ev)
			switch {
			case perr == nil:
			case errors.Is(perr, ErrNotFound), errors.Is(perr, ErrInvalid):
				// Nothing to act on: record why and move on.
				msg = perr.Error()
				s.log.Warn("webhook not applied", "event", ev.ID, "type", ev.Type, "err", perr)
			default:
				return fmt.Errorf("webhook %s: %w", ev.ID, perr)
			}
			if err := s.store.MarkWebhook(ctx, ev.Provider, ev.ID, msg, s.Now()); err != nil {
				return err
			}
		}
	}
}

func (s *Service) processWebhook(ctx context.Context, ev WebhookEvent) error {
	e, err := payment.ParseEvent(ev.Payload)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return s.Reconcile(ctx, e.Data.Ref)
}

// SendOutbox sends the ticket e-mails that are due.
func (s *Service) SendOutbox(ctx context.Context) error {
	msgs, err := s.store.PendingOutbox(ctx, 20)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		sendErr := s.sendTickets(ctx, m)
		if sendErr != nil {
			s.log.Warn("ticket e-mail not sent; will retry", "order", m.OrderID, "attempt", m.Attempts+1, "err", sendErr)
		}
		if err := s.store.MarkOutbox(ctx, m.ID, sendErr == nil, s.Now()); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) sendTickets(ctx context.Context, m OutboxMessage) error {
	o, err := s.store.GetOrder(ctx, m.OrderID)
	if err != nil {
		return err
	}
	if o.Email == "" {
		s.log.Info("tickets issued; no e-mail given", "order", o.ID, "tickets", len(o.Tickets))
		return nil
	}
	ev, err := s.store.Event(ctx, o.EventID)
	if err != nil {
		return err
	}
	mail := outbox.Mail{To: o.Email, Subject: "Your tickets for " + ev.Name}
	var text strings.Builder
	fmt.Fprintf(&text, "Thank you for your order %s.\n\n%s, %s, %s\n\n", o.ID[:8], ev.Name, ev.Venue, ev.StartsAt.Format("Mon 2 Jan 2006, 15:04"))
	for i, t := range o.Tickets {
		code, err := s.TicketCode(t)
		if err != nil {
			return err
		}
		png, err := ticket.QR(code, 512)
		if err != nil {
			return err
		}
		fmt.Fprintf(&text, "Ticket %d: %s\n  code %s\n", i+1, t.Label, code)
		mail.Attachments = append(mail.Attachments, outbox.Attachment{Name: fmt.Sprintf("ticket-%d.png", i+1), ContentType: "image/png", Data: png})
	}
	text.WriteString("\nShow the QR code at the door. Each ticket lets one person in once.\n")
	mail.Text = text.String()
	return s.opts.Mail.Send(ctx, mail)
}

// TicketCode is a ticket's signed code, as its QR code carries it.
func (s *Service) TicketCode(t Ticket) (string, error) {
	return s.opts.Tickets.Sign(ticket.Claims{TicketID: t.ID, EventID: t.EventID, Place: t.Label})
}

// ErrBadTicket is a code that no published key signed.
var ErrBadTicket = errors.New("bad ticket code")

// CheckinResult is what a scan found.
type CheckinResult struct {
	Ticket Ticket
	// First is false when the ticket was scanned before, at At.
	First bool
	At    time.Time
}

// CheckIn admits a ticket's code once.
func (s *Service) CheckIn(ctx context.Context, code string) (CheckinResult, error) {
	// Scanners may end what they read with a line break; spaces are part
	// of the base45 alphabet, even at the start, and stay.
	c, err := s.opts.Tickets.Verify(strings.Trim(code, "\r\n\t"))
	if err != nil {
		return CheckinResult{}, fmt.Errorf("%w: %w", ErrBadTicket, err)
	}
	t, err := s.store.GetTicket(ctx, c.TicketID)
	if err != nil {
		return CheckinResult{}, err
	}
	first, at, err := s.store.CheckIn(ctx, c.TicketID, s.Now())
	if err != nil {
		return CheckinResult{Ticket: t}, err
	}
	return CheckinResult{Ticket: t, First: first, At: at}, nil
}

// CancelOrder cancels account's pending order and frees its places.
func (s *Service) CancelOrder(ctx context.Context, account, orderID string) error {
	o, err := s.store.GetOrder(ctx, orderID)
	if err != nil || o.Account != account {
		return ErrNotFound
	}
	if err := s.store.CancelOrder(ctx, orderID, s.Now()); err != nil {
		return err
	}
	s.avail.Changed(ctx, o.EventID)
	return nil
}

// EventChanged rereads an event's availability after an operator's change.
func (s *Service) EventChanged(ctx context.Context, eventID string) {
	s.avail.Changed(ctx, eventID)
}
