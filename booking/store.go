package booking

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// EventStatus is where an event stands in its sale.
type EventStatus string

const (
	// EventDraft: being set up; not listed, not for sale.
	EventDraft EventStatus = "draft"
	// EventOnSale: listed, and for sale within its on-sale window.
	EventOnSale EventStatus = "onsale"
	// EventClosed: listed, no longer for sale.
	EventClosed EventStatus = "closed"
	// EventCancelled: not listed, not for sale.
	EventCancelled EventStatus = "cancelled"
)

// Event is one show.
type Event struct {
	ID    string
	Name  string
	Venue string
	// Room is the id of the waiting room that protects the event: a fan
	// needs a pass for it to hold, buy, or see the seats.
	Room     string
	StartsAt time.Time
	// OnSaleFrom and OnSaleUntil bound when holds are taken; zero means
	// unbounded on that side.
	OnSaleFrom, OnSaleUntil time.Time
	Status                  EventStatus
	Currency                string // ISO 4217, e.g. "EUR"
	// MaxPerOrder and MaxPerAccount are the organiser's limits; 0 means no
	// limit. MaxPerAccount counts held and sold places across every order
	// of one account (or visitor).
	MaxPerOrder, MaxPerAccount int
	Description                string
}

// Section is a part of a venue with assigned seats. Its ID is unique within
// its event: another event may have a section of the same id.
type Section struct {
	ID, EventID, Name string
	Position          int // display order
}

// TicketType is a kind of ticket with its price tiers. Its ID is unique
// within its event.
type TicketType struct {
	ID, EventID, Name string
	// Tiers in order: the first one whose end has not come is the price.
	Tiers []PriceTier
}

// PriceTier is one price of a ticket type: early-bird until a time or until
// a number of this type is sold, then the next tier.
type PriceTier struct {
	Name       string
	PriceCents int64
	// Until ends the tier at a time (zero: no time limit).
	Until time.Time
	// UntilSold ends the tier once this many tickets of the type are sold
	// (0: no count limit).
	UntilSold int
}

// Price is the tier in force at now when sold tickets of the type have been
// sold already; the last tier applies when every tier has ended.
func (tt TicketType) Price(now time.Time, sold int) PriceTier {
	for _, t := range tt.Tiers {
		if (t.Until.IsZero() || now.Before(t.Until)) && (t.UntilSold == 0 || sold < t.UntilSold) {
			return t
		}
	}
	if len(tt.Tiers) == 0 {
		return PriceTier{}
	}
	return tt.Tiers[len(tt.Tiers)-1]
}

// QuotaKind is what an allocation is for.
type QuotaKind string

// Quota kinds.
const (
	QuotaPresale QuotaKind = "presale"
	QuotaPartner QuotaKind = "partner"
	QuotaVIP     QuotaKind = "vip"
)

// Quota is an allocation of places that the public cannot take: only a
// presale code for the quota unlocks them. Its ID is unique within its event.
type Quota struct {
	ID, EventID, Name string
	Kind              QuotaKind
}

// Seat is an assigned seat. Its ID is unique within its event, so every
// show of a venue can use the venue's seat map; SectionID, TicketTypeID and
// QuotaID name the section, ticket type and quota of the same event.
type Seat struct {
	ID, EventID, SectionID string
	Row, Number            string
	TicketTypeID           string
	// QuotaID, when set, reserves the seat for a quota.
	QuotaID string
	// X and Y place the seat on the seat map (SVG user units).
	X, Y float64
}

// Zone is a general-admission area: Capacity places, no seat numbers. Its
// ID is unique within its event.
type Zone struct {
	ID, EventID, Name string
	Capacity          int
	TicketTypeID      string
}

// PresaleCode unlocks a quota's places.
type PresaleCode struct {
	Code, EventID, QuotaID string
	// MaxUses bounds the holds made with the code (0: unlimited).
	MaxUses, Used int
}

// PromoCode takes money off an order.
type PromoCode struct {
	Code, EventID string
	// PercentOff (1..100) or AmountOffCents: one of them.
	PercentOff     int
	AmountOffCents int64
	// MaxUses bounds the orders using the code (0: unlimited). An order that
	// fails, expires or is cancelled gives its use back.
	MaxUses, Used int
}

// PlaceState is what a fan can do with a place now.
type PlaceState string

// Place states. A hold past its expiry counts as available at once, whether
// or not anything has cleaned it up.
const (
	PlaceAvailable PlaceState = "available"
	PlaceHeld      PlaceState = "held"
	PlaceSold      PlaceState = "sold"
)

// Availability is an event's inventory at one instant.
type Availability struct {
	EventID string
	At      time.Time
	// Seats maps every seat id to its state. A seat reserved for a quota is
	// reported held unless sold.
	Seats map[string]PlaceState
	// Zones maps every zone id to its counts.
	Zones map[string]ZoneCount
}

// ZoneCount is a zone's places by state; quota places not sold count as
// held, since the public cannot take them.
type ZoneCount struct {
	Capacity, Available, Held, Sold int
}

// HoldRequest asks for places, all or nothing: seats by id, or a quantity of
// a zone.
type HoldRequest struct {
	HoldID  string // chosen by the caller
	EventID string
	SeatIDs []string
	ZoneID  string
	// Quantity of zone places.
	Quantity int
	// PresaleCode unlocks its quota's places (and only those: with a code,
	// public places can still be taken too).
	PresaleCode string
	// Account is whose hold it is: the account from the pass, or
	// "visitor:" and the pass's visitor id.
	Account string
	Now     time.Time
	TTL     time.Duration
}

// Hold is places kept for one fan until ExpiresAt.
type Hold struct {
	ID, EventID, Account string
	CreatedAt, ExpiresAt time.Time
	// Released is set when the hold was given up or turned into an order.
	Released   bool
	Items      []Item
	TotalCents int64
	Currency   string
}

// Item is one place of a hold or an order, with its price.
type Item struct {
	PlaceID      string
	SeatID       string // empty for a zone place
	ZoneID       string // empty for a seat
	Label        string // "Stalls, row C, seat 12" or "Standing"
	TicketTypeID string
	PriceCents   int64
}

// OrderStatus is where an order stands.
type OrderStatus string

// Order states: pending → paid | failed | expired | cancelled.
const (
	OrderPending   OrderStatus = "pending"
	OrderPaid      OrderStatus = "paid"
	OrderFailed    OrderStatus = "failed"  // paid too late, places gone: refunded
	OrderExpired   OrderStatus = "expired" // the hold ran out unpaid
	OrderCancelled OrderStatus = "cancelled"
)

// OrderRequest turns a hold into a pending order.
type OrderRequest struct {
	OrderID string // chosen by the caller
	HoldID  string
	Account string
	// PromoCode is optional.
	PromoCode string
	// Email is where the tickets are sent (optional: without it they are
	// only shown on the order page).
	Email string
	// IdempotencyKey and RequestHash make the request repeatable: the same
	// key with the same hash returns the first answer; with another hash it
	// is ErrIdempotencyMismatch.
	IdempotencyKey string
	RequestHash    string
	Now            time.Time
}

// Order is a purchase.
type Order struct {
	ID, EventID, HoldID, Account string
	Status                       OrderStatus
	Items                        []Item
	SubtotalCents, DiscountCents int64
	TotalCents                   int64
	Currency                     string
	PromoCode                    string
	Email                        string
	CreatedAt                    time.Time
	// ExpiresAt is the hold's expiry: the order must be paid by then.
	ExpiresAt time.Time
	PaidAt    time.Time
	Tickets   []Ticket
	Payments  []Payment
}

// PaymentStatus is where a payment attempt stands.
type PaymentStatus string

// Payment states.
const (
	PaymentCreated   PaymentStatus = "created"
	PaymentSucceeded PaymentStatus = "succeeded"
	PaymentFailed    PaymentStatus = "failed"
	PaymentRefunded  PaymentStatus = "refunded"
)

// Payment is one attempt to pay an order. Each attempt has its own
// idempotency key at the provider, so a declined card can be retried.
type Payment struct {
	ID, OrderID    string
	Attempt        int
	IdempotencyKey string
	// ProviderRef is the provider's id for the payment, once it has one.
	ProviderRef string
	Status      PaymentStatus
	AmountCents int64
	Currency    string
	CreatedAt   time.Time
}

// Ticket is a paid place.
type Ticket struct {
	ID, OrderID, EventID, PlaceID string
	Label                         string
	TicketTypeID                  string
	IssuedAt                      time.Time
	// Void is set when the ticket no longer admits anyone (refund).
	Void        bool
	CheckedInAt time.Time
}

// Confirmation is what a successful payment did to its order.
type Confirmation struct {
	Order Order
	// Changed is false when the order was already paid: a repeated or late
	// webhook, or the browser's return racing it.
	Changed bool
	// Refund is set when the payment came after the hold expired and its
	// places were taken meanwhile: the order failed and the money must go
	// back.
	Refund bool
}

// WebhookEvent is a provider's notification, kept once by its id.
type WebhookEvent struct {
	Provider, ID string
	Type         string
	Payload      []byte
	ReceivedAt   time.Time
}

// OutboxMessage is a side effect to carry out once (a ticket e-mail),
// written in the same transaction as the change that causes it.
type OutboxMessage struct {
	ID        string
	Kind      string // "tickets"
	OrderID   string
	Payload   []byte
	CreatedAt time.Time
	Attempts  int
}

// Summary is an event's sales, for operators.
type Summary struct {
	EventID               string
	Capacity              int
	Available, Held, Sold int
	RevenueCents          int64
	Orders                map[OrderStatus]int
	CheckedIn             int
	ByTicketType          map[string]int // sold per ticket type
}

// Errors the store reports; the API maps them to statuses.
var (
	ErrNotFound            = errors.New("not found")
	ErrNotOnSale           = errors.New("not on sale")
	ErrHoldExpired         = errors.New("hold expired")
	ErrHoldUsed            = errors.New("hold already released or ordered")
	ErrIdempotencyMismatch = errors.New("idempotency key reused with another request")
	ErrBadCode             = errors.New("unknown or used-up code")
	ErrInvalid             = errors.New("invalid request")
	ErrConflict            = errors.New("conflicting change")
)

// TakenError names the seats that someone else holds or bought.
type TakenError struct {
	SeatIDs []string
}

func (e *TakenError) Error() string { return "seats taken: " + strings.Join(e.SeatIDs, ", ") }

// NotEnoughError says how many zone places are left.
type NotEnoughError struct {
	ZoneID    string
	Available int
}

func (e *NotEnoughError) Error() string {
	return fmt.Sprintf("zone %s has %d places available", e.ZoneID, e.Available)
}

// LimitError is an organiser limit the request would break.
type LimitError struct {
	Limit string // "per_order" or "per_account"
	Max   int
	// Have is how many the account holds or bought already (per account).
	Have int
}

func (e *LimitError) Error() string {
	if e.Limit == "per_account" {
		return fmt.Sprintf("at most %d tickets per account; %d already held or bought", e.Max, e.Have)
	}
	return fmt.Sprintf("at most %d tickets per order", e.Max)
}

// Store keeps the booking backend's data. Every method is one transaction;
// implementations are safe for concurrent use by any number of processes
// sharing the database. Times come from the caller (now), so tests control
// them and every instance agrees on them to within clock skew.
//
// No place is ever held or sold twice: a seat or zone place belongs to at
// most one unexpired hold or one paid order at any time, under any
// concurrency, and a hold past its expiry stops counting at once.
//
// Ids of sections, ticket types, quotas, zones and seats are unique within
// their event only: two events may use the same ones independently, and a
// method finds them through the event id it is given (or that its argument
// carries). Ids of events, holds, orders, payments and tickets are unique
// across all events.
type Store interface {
	// Catalogue.
	PutEvent(ctx context.Context, e Event) error // create or replace
	Event(ctx context.Context, id string) (Event, error)
	// Events lists events that are not drafts or cancelled, by start time,
	// matching q (name or venue, case-insensitive) and the bounds.
	Events(ctx context.Context, f EventFilter) ([]Event, error)
	PutSection(ctx context.Context, s Section) error
	Sections(ctx context.Context, eventID string) ([]Section, error)
	PutTicketType(ctx context.Context, tt TicketType) error
	TicketTypes(ctx context.Context, eventID string) ([]TicketType, error)
	// PutSeats creates or updates seats; a seat held or sold keeps its
	// state, and its quota may change only while it is available.
	PutSeats(ctx context.Context, seats []Seat) error
	Seats(ctx context.Context, eventID string) ([]Seat, error)
	// PutZone creates a zone or changes it; capacity can shrink only down to
	// the places held or sold.
	PutZone(ctx context.Context, z Zone) error
	Zones(ctx context.Context, eventID string) ([]Zone, error)
	PutQuota(ctx context.Context, q Quota) error
	Quotas(ctx context.Context, eventID string) ([]Quota, error)
	// AllocateZone reserves n available places of an event's zone for a
	// quota of the same event.
	AllocateZone(ctx context.Context, eventID, zoneID, quotaID string, n int, now time.Time) error
	// ReleaseQuota gives the unsold places of an event's quota to the
	// public (to == "") or to another quota of the same event.
	ReleaseQuota(ctx context.Context, eventID, quotaID, to string, now time.Time) (moved int, err error)
	PutPresaleCode(ctx context.Context, c PresaleCode) error
	PutPromoCode(ctx context.Context, c PromoCode) error
	PromoCode(ctx context.Context, eventID, code string) (PromoCode, error)

	// Inventory.
	Availability(ctx context.Context, eventID string, now time.Time) (Availability, error)
	// Hold takes every requested place or none: *TakenError names taken
	// seats, *NotEnoughError a short zone, *LimitError a broken limit,
	// ErrBadCode a bad presale code, ErrNotOnSale outside the sale.
	Hold(ctx context.Context, r HoldRequest) (Hold, error)
	GetHold(ctx context.Context, id string) (Hold, error)
	// ReleaseHold gives a hold's places back early; only its account may.
	ReleaseHold(ctx context.Context, id, account string, now time.Time) error

	// Orders and payments.
	// CreateOrder turns an unexpired hold into a pending order. replayed is
	// true when the idempotency key was seen before with the same request:
	// the first order is returned and nothing changes.
	CreateOrder(ctx context.Context, r OrderRequest) (o Order, replayed bool, err error)
	GetOrder(ctx context.Context, id string) (Order, error)
	// StartPayment records a new payment attempt of a pending order, with
	// the idempotency key orderID:attempt. An order already paid, or no
	// longer pending, is refused with ErrConflict.
	StartPayment(ctx context.Context, paymentID, orderID string, now time.Time) (Payment, error)
	// SetPaymentRef records the provider's id of a payment attempt.
	SetPaymentRef(ctx context.Context, paymentID, ref string) error
	PaymentByRef(ctx context.Context, ref string) (Payment, error)
	// ConfirmPayment marks a payment attempt succeeded and pays its order:
	// while the hold stands, its places become sold and tickets are issued
	// (with an outbox message); after it expired, the same places are taken
	// again if they are still free, and otherwise the order fails and
	// Refund is set. A repeat for an order already paid changes nothing.
	// Tickets are created only here, only for the order's own places.
	ConfirmPayment(ctx context.Context, paymentID string, ticketIDs func(n int) []string, now time.Time) (Confirmation, error)
	// FailPayment marks an attempt failed; the order stays pending, so
	// another attempt may follow while the hold stands.
	FailPayment(ctx context.Context, paymentID string, now time.Time) error
	// MarkRefunded records that a payment's money went back, and voids the
	// order's tickets if there are any.
	MarkRefunded(ctx context.Context, paymentID string, now time.Time) error
	// ExpireOrders marks pending orders whose hold ended unpaid as expired,
	// giving back their promo code use; it returns how many.
	ExpireOrders(ctx context.Context, now time.Time) (int, error)
	// CancelOrder cancels a pending order and releases its hold.
	CancelOrder(ctx context.Context, id string, now time.Time) error

	// Webhooks: RecordWebhook keeps an event once by (provider, id) and
	// reports whether it is new; PendingWebhooks lists those not processed,
	// oldest first; MarkWebhook records the outcome of processing.
	RecordWebhook(ctx context.Context, e WebhookEvent) (bool, error)
	PendingWebhooks(ctx context.Context, limit int) ([]WebhookEvent, error)
	MarkWebhook(ctx context.Context, provider, id string, processErr string, now time.Time) error

	// Tickets.
	GetTicket(ctx context.Context, id string) (Ticket, error)
	// CheckIn admits a ticket once: first is false when it was checked in
	// before (at the returned time). A void ticket is ErrInvalid.
	CheckIn(ctx context.Context, ticketID string, now time.Time) (first bool, at time.Time, err error)

	// Outbox: due messages, and marking them done or failed.
	PendingOutbox(ctx context.Context, limit int) ([]OutboxMessage, error)
	MarkOutbox(ctx context.Context, id string, sent bool, now time.Time) error

	Summary(ctx context.Context, eventID string, now time.Time) (Summary, error)
	Ping(ctx context.Context) error
	Close() error
}

// EventFilter narrows the catalogue.
type EventFilter struct {
	Query    string    // in name or venue
	From, To time.Time // start time bounds; zero: unbounded
	Venue    string    // exact venue, case-insensitive
}
