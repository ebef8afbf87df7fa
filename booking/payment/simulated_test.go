package payment

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Unix(1767225600, 0)

// newManual is a simulated provider in Manual mode with a fixed clock, so
// that every event it makes stays in its queue for the test to see.
func newManual(t *testing.T, o SimulatedOptions) *Simulated {
	t.Helper()
	o.Manual = true
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	if o.BaseURL == "" {
		o.BaseURL = "/pay"
	}
	s := NewSimulated(o)
	t.Cleanup(s.Close)
	return s
}

// request is a valid request for attempt key of order o1.
func request(key string) Request {
	return Request{
		IdempotencyKey: key,
		PaymentID:      "payment-" + key,
		OrderID:        "o1",
		AmountCents:    4250,
		Currency:       "EUR",
		Description:    "2 × Standing, Summer Tour",
		ReturnURL:      "https://shop.example/orders/o1?lang=en",
	}
}

func begin(t *testing.T, s *Simulated, r Request) Session {
	t.Helper()
	sess, err := s.Begin(t.Context(), r)
	if err != nil {
		t.Fatalf("Begin(%q): %v", r.IdempotencyKey, err)
	}
	return sess
}

func pay(t *testing.T, s *Simulated, ref, card string) Status {
	t.Helper()
	st, err := s.Pay(t.Context(), ref, card)
	if err != nil {
		t.Fatalf("Pay(%s, %q): %v", ref, card, err)
	}
	return st
}

func status(t *testing.T, s *Simulated, ref string) Status {
	t.Helper()
	st, err := s.Status(t.Context(), ref)
	if err != nil {
		t.Fatalf("Status(%s): %v", ref, err)
	}
	return st
}

// types lists the types of events, in order.
func types(events []Event) []string {
	var ts []string
	for _, e := range events {
		ts = append(ts, e.Type)
	}
	return ts
}

func TestBeginIdempotency(t *testing.T) {
	s := newManual(t, SimulatedOptions{BaseURL: "/pay/"})
	first := begin(t, s, request("o1:1"))
	if !strings.HasPrefix(first.Ref, "pay_") || first.CheckoutURL != "/pay/"+first.Ref {
		t.Fatalf("Begin = %+v, want a pay_ ref under /pay/", first)
	}

	t.Run("same key, same payment", func(t *testing.T) {
		r := request("o1:1")
		r.Description, r.ReturnURL, r.PaymentID = "other", "/elsewhere", "other-id"
		if again := begin(t, s, r); again != first {
			t.Errorf("Begin again = %+v, want %+v", again, first)
		}
		// The first request's fields stand.
		if st := status(t, s, first.Ref); st.PaymentID != "payment-o1:1" || st.State != StatePending {
			t.Errorf("Status = %+v, want the first request's pending payment", st)
		}
	})
	t.Run("same key, another amount", func(t *testing.T) {
		r := request("o1:1")
		r.AmountCents++
		if _, err := s.Begin(t.Context(), r); !errors.Is(err, ErrIdempotencyConflict) {
			t.Errorf("Begin = %v, want ErrIdempotencyConflict", err)
		}
	})
	t.Run("same key, another currency", func(t *testing.T) {
		r := request("o1:1")
		r.Currency = "USD"
		if _, err := s.Begin(t.Context(), r); !errors.Is(err, ErrIdempotencyConflict) {
			t.Errorf("Begin = %v, want ErrIdempotencyConflict", err)
		}
	})
	t.Run("another key, another payment", func(t *testing.T) {
		if other := begin(t, s, request("o1:2")); other.Ref == first.Ref {
			t.Errorf("Begin(o1:2) reused ref %s", other.Ref)
		}
	})
	if q := s.Queued(); len(q) != 0 {
		t.Errorf("Begin emitted events %v; only state changes do", types(q))
	}
}

func TestBeginAbsoluteBaseURL(t *testing.T) {
	s := newManual(t, SimulatedOptions{BaseURL: "https://psp.example/checkout/"})
	sess := begin(t, s, request("o1:1"))
	if want := "https://psp.example/checkout/" + sess.Ref; sess.CheckoutURL != want {
		t.Errorf("CheckoutURL = %q, want %q", sess.CheckoutURL, want)
	}
}

func TestBeginConcurrent(t *testing.T) {
	s := newManual(t, SimulatedOptions{})
	const n = 16
	refs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sess, err := s.Begin(t.Context(), request("o1:1"))
			if err != nil {
				t.Errorf("Begin: %v", err)
			}
			refs[i] = sess.Ref
		})
	}
	wg.Wait()
	for _, ref := range refs {
		if ref != refs[0] {
			t.Fatalf("concurrent Begin with one key made refs %v", refs)
		}
	}
}

func TestBeginInvalid(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Request)
	}{
		{"no key", func(r *Request) { r.IdempotencyKey = "" }},
		{"key too long", func(r *Request) { r.IdempotencyKey = strings.Repeat("k", 256) }},
		{"no payment id", func(r *Request) { r.PaymentID = "" }},
		{"no order id", func(r *Request) { r.OrderID = "" }},
		{"zero amount", func(r *Request) { r.AmountCents = 0 }},
		{"negative amount", func(r *Request) { r.AmountCents = -100 }},
		{"no currency", func(r *Request) { r.Currency = "" }},
		{"lower-case currency", func(r *Request) { r.Currency = "eur" }},
		{"long currency", func(r *Request) { r.Currency = "EURO" }},
		{"relative return URL", func(r *Request) { r.ReturnURL = "orders/o1" }},
		{"protocol-relative return URL", func(r *Request) { r.ReturnURL = "//evil.example/x" }},
		{"javascript return URL", func(r *Request) { r.ReturnURL = "javascript:alert(1)" }},
		{"return URL without host", func(r *Request) { r.ReturnURL = "https:///x" }},
	}
	s := newManual(t, SimulatedOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request("o1:1")
			tt.change(&r)
			if sess, err := s.Begin(t.Context(), r); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("Begin = %+v, %v; want ErrInvalidRequest", sess, err)
			}
		})
	}
	// A valid request with the key of a rejected one makes a payment: the
	// rejects left nothing behind.
	r := request("o1:1")
	r.ReturnURL = "/orders/o1"
	begin(t, s, r)
}

func TestPay(t *testing.T) {
	tests := []struct {
		card   string
		state  State
		reason string
	}{
		{CardSucceeds, StateSucceeded, ""},
		{"4242424242424242", StateSucceeded, ""},
		{"4242-4242-4242-4242", StateSucceeded, ""},
		{CardDeclined, StateFailed, ReasonCardDeclined},
		{"4000000000000002", StateFailed, ReasonCardDeclined},
		{"4242 4242 4242 4241", StateFailed, ReasonInvalidCard},
		{"not a card", StateFailed, ReasonInvalidCard},
		{"", StateFailed, ReasonInvalidCard},
	}
	for _, tt := range tests {
		t.Run(tt.card, func(t *testing.T) {
			s := newManual(t, SimulatedOptions{})
			sess := begin(t, s, request("o1:1"))
			want := Status{Ref: sess.Ref, State: tt.state, Reason: tt.reason, AmountCents: 4250, Currency: "EUR", PaymentID: "payment-o1:1", OrderID: "o1"}
			if got := pay(t, s, sess.Ref, tt.card); got != want {
				t.Errorf("Pay = %+v, want %+v", got, want)
			}
			if got := status(t, s, sess.Ref); got != want {
				t.Errorf("Status = %+v, want %+v", got, want)
			}
			q := s.Queued()
			if len(q) != 1 {
				t.Fatalf("events = %v, want one", types(q))
			}
			if e := q[0]; e.Type != typeOf(tt.state) || e.Data != want || !strings.HasPrefix(e.ID, "evt_") || !e.Created.Equal(testNow) {
				t.Errorf("event = %+v, want a %s of %+v at %v", e, typeOf(tt.state), want, testNow)
			}
		})
	}
}

func TestPayTwice(t *testing.T) {
	tests := []struct {
		name         string
		first, again string
		want         State
	}{
		{"succeeded stays succeeded", CardSucceeds, CardDeclined, StateSucceeded},
		{"succeeded, the same card again", CardSucceeds, CardSucceeds, StateSucceeded},
		{"declined stays failed", CardDeclined, CardSucceeds, StateFailed},
		{"invalid stays failed", "1234", CardSucceeds, StateFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newManual(t, SimulatedOptions{})
			ref := begin(t, s, request("o1:1")).Ref
			first := pay(t, s, ref, tt.first)
			if again := pay(t, s, ref, tt.again); again != first || again.State != tt.want {
				t.Errorf("second Pay = %+v, want the first outcome %+v (%s)", again, first, tt.want)
			}
			if q := s.Queued(); len(q) != 1 {
				t.Errorf("events = %v, want one: paying again is no state change", types(q))
			}
		})
	}
}

func TestPayConcurrent(t *testing.T) {
	s := newManual(t, SimulatedOptions{})
	ref := begin(t, s, request("o1:1")).Ref
	var wg sync.WaitGroup
	for i := range 16 {
		card := CardSucceeds
		if i%2 == 1 {
			card = CardDeclined
		}
		wg.Go(func() {
			if _, err := s.Pay(t.Context(), ref, card); err != nil {
				t.Errorf("Pay: %v", err)
			}
		})
	}
	wg.Wait()
	q := s.Queued()
	if len(q) != 1 {
		t.Fatalf("events = %v, want exactly one for one state change", types(q))
	}
	if got := status(t, s, ref); got.State != q[0].Data.State {
		t.Errorf("Status = %s, event says %s", got.State, q[0].Data.State)
	}
}

func TestDeclinedThenNewAttempt(t *testing.T) {
	s := newManual(t, SimulatedOptions{})
	first := begin(t, s, request("o1:1"))
	if st := pay(t, s, first.Ref, CardDeclined); st.State != StateFailed {
		t.Fatalf("first attempt = %s, want failed", st.State)
	}
	second := begin(t, s, request("o1:2"))
	if second.Ref == first.Ref {
		t.Fatalf("second attempt reused ref %s", first.Ref)
	}
	if st := pay(t, s, second.Ref, CardSucceeds); st.State != StateSucceeded || st.PaymentID != "payment-o1:2" {
		t.Errorf("second attempt = %+v, want succeeded as payment-o1:2", st)
	}
	if st := status(t, s, first.Ref); st.State != StateFailed {
		t.Errorf("first attempt now %s, want still failed", st.State)
	}
	got := types(s.Queued())
	if strings.Join(got, " ") != TypeFailed+" "+TypeSucceeded {
		t.Errorf("events = %v, want failed then succeeded", got)
	}
}

func TestRefund(t *testing.T) {
	tests := []struct {
		name    string
		card    string // "" leaves the payment pending
		wantErr error
		events  []string // after the refund
	}{
		{"succeeded", CardSucceeds, nil, []string{TypeSucceeded, TypeRefunded}},
		{"pending", "", ErrNotRefundable, nil},
		{"failed", CardDeclined, ErrNotRefundable, []string{TypeFailed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newManual(t, SimulatedOptions{})
			ref := begin(t, s, request("o1:1")).Ref
			if tt.card != "" {
				pay(t, s, ref, tt.card)
			}
			before := status(t, s, ref)
			err := s.Refund(t.Context(), ref)
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Refund = %v, want %v", err, tt.wantErr)
			}
			after := status(t, s, ref)
			if tt.wantErr == nil {
				if after.State != StateRefunded {
					t.Errorf("state after Refund = %s, want refunded", after.State)
				}
				// Twice: nothing more happens.
				if err := s.Refund(t.Context(), ref); err != nil {
					t.Errorf("second Refund = %v, want nil", err)
				}
				if again := pay(t, s, ref, CardSucceeds); again.State != StateRefunded {
					t.Errorf("Pay after Refund = %s, want refunded", again.State)
				}
			} else if after != before {
				t.Errorf("a refused Refund changed %+v to %+v", before, after)
			}
			q := s.Queued()
			if strings.Join(types(q), " ") != strings.Join(tt.events, " ") {
				t.Errorf("events = %v, want %v", types(q), tt.events)
			}
			if len(q) == 2 && q[1].Data.State != StateRefunded {
				t.Errorf("refund event data = %+v, want state refunded", q[1].Data)
			}
		})
	}
}

func TestUnknownRef(t *testing.T) {
	s := newManual(t, SimulatedOptions{})
	if _, err := s.Status(t.Context(), "pay_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Status = %v, want ErrNotFound", err)
	}
	if _, err := s.Pay(t.Context(), "pay_nope", CardSucceeds); !errors.Is(err, ErrNotFound) {
		t.Errorf("Pay = %v, want ErrNotFound", err)
	}
	if err := s.Refund(t.Context(), "pay_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Refund = %v, want ErrNotFound", err)
	}
}

func TestEventIDsUnique(t *testing.T) {
	s := newManual(t, SimulatedOptions{})
	for _, key := range []string{"o1:1", "o1:2", "o1:3"} {
		ref := begin(t, s, request(key)).Ref
		pay(t, s, ref, CardSucceeds)
		if err := s.Refund(t.Context(), ref); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, e := range s.Queued() {
		if seen[e.ID] {
			t.Errorf("event id %s used twice", e.ID)
		}
		seen[e.ID] = true
	}
	if len(seen) != 6 {
		t.Errorf("%d events, want 6", len(seen))
	}
}

func TestCancelledContext(t *testing.T) {
	s := newManual(t, SimulatedOptions{})
	ref := begin(t, s, request("o1:1")).Ref
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Begin(ctx, request("o1:2")); !errors.Is(err, context.Canceled) {
		t.Errorf("Begin = %v, want context.Canceled", err)
	}
	if _, err := s.Pay(ctx, ref, CardSucceeds); !errors.Is(err, context.Canceled) {
		t.Errorf("Pay = %v, want context.Canceled", err)
	}
	if st := status(t, s, ref); st.State != StatePending {
		t.Errorf("state = %s after a cancelled Pay, want pending", st.State)
	}
}
