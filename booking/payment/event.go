package payment

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The types of webhook event; each one is a state change of a payment.
const (
	TypeSucceeded = "payment.succeeded"
	TypeFailed    = "payment.failed"
	TypeRefunded  = "payment.refunded"
)

// ErrUnknownEventType: an event is well formed but of a type this package
// does not know. A receiver should acknowledge such an event and ignore it,
// so that a provider adding a type does not make it retry for days.
var ErrUnknownEventType = errors.New("unknown event type")

// Event is a webhook event: one state change of one payment. On the wire it
// is JSON:
//
//	{"id":"evt_…","type":"payment.succeeded","created":1767225600,
//	 "data":{"ref":"pay_…","payment_id":"…","order_id":"…",
//	         "amount_cents":4250,"currency":"EUR","reason":""}}
//
// The same event may be delivered more than once, always with the same ID,
// which is how a receiver drops repeats.
type Event struct {
	ID   string
	Type string
	// Created is when the state changed, to the second.
	Created time.Time
	// Data is the payment as the change left it; Data.State follows from
	// Type.
	Data Status
}

type eventWire struct {
	ID      string   `json:"id"`
	Type    string   `json:"type"`
	Created int64    `json:"created"`
	Data    dataWire `json:"data"`
}

type dataWire struct {
	Ref         string `json:"ref"`
	PaymentID   string `json:"payment_id"`
	OrderID     string `json:"order_id"`
	AmountCents int64  `json:"amount_cents"`
	Currency    string `json:"currency"`
	Reason      string `json:"reason"`
}

// MarshalJSON writes the event in its wire form.
func (e Event) MarshalJSON() ([]byte, error) {
	return json.Marshal(eventWire{
		ID:      e.ID,
		Type:    e.Type,
		Created: e.Created.Unix(),
		Data: dataWire{
			Ref:         e.Data.Ref,
			PaymentID:   e.Data.PaymentID,
			OrderID:     e.Data.OrderID,
			AmountCents: e.Data.AmountCents,
			Currency:    e.Data.Currency,
			Reason:      e.Data.Reason,
		},
	})
}

// ParseEvent reads a webhook event's body. Verify the body's signature
// first: ParseEvent trusts what it reads. An event of a type it does not
// know is returned with an error that wraps ErrUnknownEventType.
func ParseEvent(body []byte) (Event, error) {
	var w eventWire
	if err := json.Unmarshal(body, &w); err != nil {
		return Event{}, fmt.Errorf("parse payment event: %w", err)
	}
	switch {
	case w.ID == "":
		return Event{}, errors.New("parse payment event: no id")
	case w.Data.Ref == "":
		return Event{}, fmt.Errorf("parse payment event %s: no payment ref", w.ID)
	case w.Created <= 0:
		return Event{}, fmt.Errorf("parse payment event %s: created %d is not a time", w.ID, w.Created)
	case w.Data.AmountCents < 0:
		return Event{}, fmt.Errorf("parse payment event %s: negative amount %d", w.ID, w.Data.AmountCents)
	}
	e := Event{
		ID:      w.ID,
		Type:    w.Type,
		Created: time.Unix(w.Created, 0).UTC(),
		Data: Status{
			Ref:         w.Data.Ref,
			State:       stateOf(w.Type),
			Reason:      w.Data.Reason,
			AmountCents: w.Data.AmountCents,
			Currency:    w.Data.Currency,
			PaymentID:   w.Data.PaymentID,
			OrderID:     w.Data.OrderID,
		},
	}
	if e.Data.State == "" {
		return e, fmt.Errorf("parse payment event %s: type %q: %w", w.ID, w.Type, ErrUnknownEventType)
	}
	return e, nil
}

// stateOf is the state an event type announces; "" for an unknown type.
func stateOf(eventType string) State {
	switch eventType {
	case TypeSucceeded:
		return StateSucceeded
	case TypeFailed:
		return StateFailed
	case TypeRefunded:
		return StateRefunded
	}
	return ""
}

// typeOf is the event type that announces a state; "" for pending, which
// no event announces.
func typeOf(s State) string {
	switch s {
	case StateSucceeded:
		return TypeSucceeded
	case StateFailed:
		return TypeFailed
	case StateRefunded:
		return TypeRefunded
	}
	return ""
}
