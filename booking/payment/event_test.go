package payment

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestParseEvent(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Event
		wantErr error // nil with wantBad false: parsed
		wantBad bool  // any error
	}{
		{
			name: "succeeded",
			body: `{"id":"evt_1","type":"payment.succeeded","created":1767225600,"data":{"ref":"pay_1","payment_id":"p1","order_id":"o1","amount_cents":4250,"currency":"EUR","reason":""}}`,
			want: Event{ID: "evt_1", Type: TypeSucceeded, Created: time.Unix(1767225600, 0).UTC(), Data: Status{
				Ref: "pay_1", State: StateSucceeded, AmountCents: 4250, Currency: "EUR", PaymentID: "p1", OrderID: "o1"}},
		},
		{
			name: "failed, unknown fields ignored",
			body: `{"id":"evt_2","type":"payment.failed","created":1767225601,"livemode":false,"data":{"ref":"pay_2","payment_id":"p2","order_id":"o2","amount_cents":100,"currency":"JPY","reason":"card_declined","extra":1}}`,
			want: Event{ID: "evt_2", Type: TypeFailed, Created: time.Unix(1767225601, 0).UTC(), Data: Status{
				Ref: "pay_2", State: StateFailed, Reason: "card_declined", AmountCents: 100, Currency: "JPY", PaymentID: "p2", OrderID: "o2"}},
		},
		{
			name: "refunded",
			body: `{"id":"evt_3","type":"payment.refunded","created":1767225602,"data":{"ref":"pay_1","payment_id":"p1","order_id":"o1","amount_cents":4250,"currency":"EUR"}}`,
			want: Event{ID: "evt_3", Type: TypeRefunded, Created: time.Unix(1767225602, 0).UTC(), Data: Status{
				Ref: "pay_1", State: StateRefunded, AmountCents: 4250, Currency: "EUR", PaymentID: "p1", OrderID: "o1"}},
		},
		{
			name:    "unknown type",
			body:    `{"id":"evt_4","type":"payment.disputed","created":1767225600,"data":{"ref":"pay_1"}}`,
			want:    Event{ID: "evt_4", Type: "payment.disputed", Created: time.Unix(1767225600, 0).UTC(), Data: Status{Ref: "pay_1"}},
			wantErr: ErrUnknownEventType,
		},
		{name: "not JSON", body: `evt_1`, wantBad: true},
		{name: "trailing data", body: `{"id":"evt_1","type":"payment.succeeded","created":1,"data":{"ref":"pay_1"}} {}`, wantBad: true},
		{name: "no id", body: `{"type":"payment.succeeded","created":1767225600,"data":{"ref":"pay_1"}}`, wantBad: true},
		{name: "no ref", body: `{"id":"evt_1","type":"payment.succeeded","created":1767225600,"data":{}}`, wantBad: true},
		{name: "no created", body: `{"id":"evt_1","type":"payment.succeeded","data":{"ref":"pay_1"}}`, wantBad: true},
		{name: "created as text", body: `{"id":"evt_1","type":"payment.succeeded","created":"now","data":{"ref":"pay_1"}}`, wantBad: true},
		{name: "negative amount", body: `{"id":"evt_1","type":"payment.succeeded","created":1,"data":{"ref":"pay_1","amount_cents":-1}}`, wantBad: true},
		{name: "null", body: `null`, wantBad: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEvent([]byte(tt.body))
			switch {
			case tt.wantBad:
				if err == nil {
					t.Fatalf("ParseEvent = %+v, want an error", got)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("ParseEvent error = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatalf("ParseEvent: %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseEvent =\n %+v\nwant\n %+v", got, tt.want)
			}
		})
	}
}

func TestEventRoundTrip(t *testing.T) {
	for _, typ := range []string{TypeSucceeded, TypeFailed, TypeRefunded} {
		t.Run(typ, func(t *testing.T) {
			e := Event{ID: "evt_x", Type: typ, Created: time.Unix(1767225600, 0).UTC(), Data: Status{
				Ref: "pay_x", State: stateOf(typ), Reason: "r", AmountCents: 1, Currency: "EUR", PaymentID: "p", OrderID: "o"}}
			body, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseEvent(body)
			if err != nil {
				t.Fatalf("ParseEvent(%s): %v", body, err)
			}
			if got != e {
				t.Errorf("round trip = %+v, want %+v", got, e)
			}
		})
	}
}

func TestEventWireForm(t *testing.T) {
	e := Event{ID: "evt_x", Type: TypeFailed, Created: time.Unix(1767225600, 0), Data: Status{
		Ref: "pay_x", State: StateFailed, Reason: "card_declined", AmountCents: 4250, Currency: "EUR", PaymentID: "p1", OrderID: "o1"}}
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"evt_x","type":"payment.failed","created":1767225600,"data":{"ref":"pay_x","payment_id":"p1","order_id":"o1","amount_cents":4250,"currency":"EUR","reason":"card_declined"}}`
	if string(got) != want {
		t.Errorf("wire form\n got %s\nwant %s", got, want)
	}
}

// FuzzParseEvent checks that ParseEvent never panics and that what it
// accepts survives a round trip.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"id":"evt_1","type":"payment.succeeded","created":1767225600,"data":{"ref":"pay_1","payment_id":"p1","order_id":"o1","amount_cents":4250,"currency":"EUR","reason":""}}`))
	f.Add([]byte(`{"id":"evt_1","type":"x","created":1,"data":{"ref":"r"}}`))
	f.Add([]byte(`{"created":1e30}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := ParseEvent(body)
		if err != nil {
			return
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("marshal %+v: %v", e, err)
		}
		back, err := ParseEvent(again)
		if err != nil || back != e {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", body, back, err, e)
		}
	})
}
