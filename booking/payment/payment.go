// Package payment is how the booking backend takes money: a Provider
// interface, the webhook events providers send back, their signatures, and
// Simulated, a built-in provider that behaves like a real one.
//
// A payment is one attempt to charge a fan for an order. The backend begins
// it with an idempotency key of its own ("<orderID>:<attempt>"), sends the
// fan to the provider's checkout page, and learns the outcome from a signed
// webhook event or by asking the provider. Events arrive at least once, in
// any order and possibly late, so a receiver verifies the signature, drops an
// event id it has seen, and treats the payload as a hint: Status is the truth.
package payment

import (
	"context"
	"errors"
)

// State of a payment at the provider. A payment starts pending, ends
// succeeded or failed, and only a succeeded payment can become refunded.
type State string

const (
	// StatePending: begun, not paid yet.
	StatePending State = "pending"
	// StateSucceeded: the money is taken.
	StateSucceeded State = "succeeded"
	// StateFailed: the charge was declined; the payment stays failed, and a
	// retry is a new payment with a new idempotency key.
	StateFailed State = "failed"
	// StateRefunded: the money was taken and then given back.
	StateRefunded State = "refunded"
)

// Request asks the provider to take a payment: one per attempt.
type Request struct {
	// IdempotencyKey names the attempt, "<orderID>:<attempt>", at most 255
	// bytes: the same key returns the same payment, and the same key with
	// another amount or currency is an ErrIdempotencyConflict. Key a retry
	// after a decline anew, since a failed payment stays failed.
	IdempotencyKey string
	// PaymentID is the booking backend's id of the attempt, echoed in
	// webhook events.
	PaymentID string
	// OrderID is the order the payment is for, echoed in webhook events.
	OrderID string
	// AmountCents is the amount in the currency's minor unit (cents for
	// EUR, yen for JPY); it must be positive.
	AmountCents int64
	// Currency is the ISO 4217 code in capitals, e.g. "EUR".
	Currency string
	// Description is shown to the fan on the checkout page.
	Description string
	// ReturnURL is where the fan's browser goes after paying: an absolute
	// http(s) URL or a root-relative path. The provider appends
	// ?payment=<ref>, keeping the query parameters already there. Empty
	// means the checkout shows the outcome itself.
	ReturnURL string
}

// Session is a payment begun at the provider.
type Session struct {
	// Ref is the provider's id of the payment, e.g. "pay_3f…".
	Ref string
	// CheckoutURL is where to send the fan to enter their card.
	CheckoutURL string
}

// Status is what the provider knows of a payment.
type Status struct {
	Ref   string
	State State
	// Reason says why a payment failed, e.g. "card_declined"; empty
	// otherwise.
	Reason      string
	AmountCents int64
	Currency    string
	PaymentID   string
	OrderID     string
}

// Provider is a payment service provider. Implementations are safe for
// concurrent use.
type Provider interface {
	// Name identifies the provider in logs and stored payments, e.g.
	// "simulated".
	Name() string
	// Begin starts a payment, or returns the one already begun with the
	// same idempotency key.
	Begin(ctx context.Context, r Request) (Session, error)
	// Status reports a payment's current state: the truth that webhook
	// events only hint at.
	Status(ctx context.Context, ref string) (Status, error)
	// Refund gives back a succeeded payment. It is idempotent: refunding a
	// refunded payment does nothing. Any other state is ErrNotRefundable.
	Refund(ctx context.Context, ref string) error
}

var (
	// ErrNotFound: the provider has no payment with that ref.
	ErrNotFound = errors.New("payment not found")
	// ErrInvalidRequest: a Request is missing a field or has a bad value.
	ErrInvalidRequest = errors.New("invalid payment request")
	// ErrIdempotencyConflict: an idempotency key was used again with another
	// amount or currency (Stripe's idempotency_error).
	ErrIdempotencyConflict = errors.New("idempotency key reused with other parameters")
	// ErrNotRefundable: only a succeeded payment can be refunded.
	ErrNotRefundable = errors.New("payment cannot be refunded")
)
