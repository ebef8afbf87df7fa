package payment

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var webhookSecret = []byte("whsec_test")

// hit is one request that a receiver answered.
type hit struct {
	event Event
	code  int
}

// receiver is a webhook endpoint as a booking backend would write one: it
// verifies the signature on the raw body, parses the event and records it.
type receiver struct {
	url  string
	hits chan hit // every answered request, in order

	mu      sync.Mutex
	answers []int // codes to answer, in order; then 200
	n       int
}

// newReceiver starts a receiver that answers the given codes first, then
// 200. A request that fails verification is a test failure, answered 400.
func newReceiver(t *testing.T, answers ...int) *receiver {
	t.Helper()
	return startReceiver(t, true, answers...)
}

// startReceiver starts a receiver; unless strict, a request that fails
// verification is only answered 400, as a real receiver does.
func startReceiver(t *testing.T, strict bool, answers ...int) *receiver {
	t.Helper()
	reject := func(w http.ResponseWriter, err error) {
		if strict {
			t.Errorf("receiver: %v", err)
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
	}
	rc := &receiver{hits: make(chan hit, 64), answers: answers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("receiver: read body: %v", err)
			return
		}
		if err := Verify([][]byte{webhookSecret}, r.Header.Get(SignatureHeader), body, testNow, 0); err != nil {
			reject(w, err)
			return
		}
		e, err := ParseEvent(body)
		if err != nil {
			reject(w, err)
			return
		}
		code := rc.next()
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
		rc.hits <- hit{event: e, code: code}
	}))
	t.Cleanup(srv.Close)
	rc.url = srv.URL + "/webhooks/payments"
	return rc
}

func (rc *receiver) next() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	code := http.StatusOK
	if rc.n < len(rc.answers) {
		code = rc.answers[rc.n]
	}
	rc.n++
	return code
}

// drain returns the requests answered so far.
func (rc *receiver) drain() []hit {
	var hs []hit
	for {
		select {
		case h := <-rc.hits:
			hs = append(hs, h)
		default:
			return hs
		}
	}
}

// await returns the next value from c. The deadline only keeps a broken
// test from hanging; nothing depends on it.
func await[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s", what)
		var zero T
		return zero
	}
}

// fakeTimers stands in for time.After: the test sees each wait and ends it
// when it chooses.
type fakeTimers struct{ waits chan timer }

type timer struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeTimers() *fakeTimers { return &fakeTimers{waits: make(chan timer, 64)} }

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	tm := timer{d: d, fire: make(chan time.Time, 1)}
	f.waits <- tm
	return tm.fire
}

// expect returns the next wait, which must be for d.
func (f *fakeTimers) expect(t *testing.T, d time.Duration) timer {
	t.Helper()
	tm := await(t, f.waits, "wait for "+d.String())
	if tm.d != d {
		t.Fatalf("waits %s, want %s", tm.d, d)
	}
	return tm
}

func (tm timer) elapse() { tm.fire <- testNow }

// paidWithRefund makes three events: a succeeded payment, a failed one,
// and the first one's refund.
func paidWithRefund(t *testing.T, s *Simulated) {
	t.Helper()
	a := begin(t, s, request("o1:1")).Ref
	b := begin(t, s, request("o2:1")).Ref
	pay(t, s, a, CardSucceeds)
	pay(t, s, b, CardDeclined)
	if err := s.Refund(t.Context(), a); err != nil {
		t.Fatal(err)
	}
}

func TestDeliverManual(t *testing.T) {
	tests := []struct {
		name  string
		opts  DeliverOptions
		order []int // indexes into the queue, in the order they arrive
	}{
		{"in order", DeliverOptions{}, []int{0, 1, 2}},
		{"reversed", DeliverOptions{Reverse: true}, []int{2, 1, 0}},
		{"twice", DeliverOptions{Twice: true}, []int{0, 0, 1, 1, 2, 2}},
		{"reversed twice", DeliverOptions{Reverse: true, Twice: true}, []int{2, 2, 1, 1, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			s := newManual(t, SimulatedOptions{WebhookURL: rc.url, Secret: webhookSecret})
			paidWithRefund(t, s)
			queued := s.Queued()
			if got := types(queued); !slices.Equal(got, []string{TypeSucceeded, TypeFailed, TypeRefunded}) {
				t.Fatalf("queued %v", got)
			}
			if hs := rc.drain(); len(hs) != 0 {
				t.Fatalf("%d events sent before Deliver", len(hs))
			}
			if err := s.Deliver(t.Context(), tt.opts); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			got := rc.drain()
			if len(got) != len(tt.order) {
				t.Fatalf("receiver got %d events, want %d", len(got), len(tt.order))
			}
			for i, want := range tt.order {
				if got[i].event != queued[want] {
					t.Errorf("event %d = %+v, want %+v", i, got[i].event, queued[want])
				}
			}
			if q := s.Queued(); len(q) != 0 {
				t.Errorf("still queued after Deliver: %v", types(q))
			}
		})
	}
}

func TestDeliverManualRetries(t *testing.T) {
	tests := []struct {
		name     string
		answers  []int
		requests int
		wantErr  string // "" for success
	}{
		{"500 then 200", []int{500}, 2, ""},
		{"5 failures then 200", []int{500, 503, 404, 400, 302}, 6, ""},
		{"never 2xx", []int{500, 500, 500, 500, 500, 500}, 6, "500 Internal Server Error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.answers...)
			s := newManual(t, SimulatedOptions{WebhookURL: rc.url, Secret: webhookSecret})
			ref := begin(t, s, request("o1:1")).Ref
			pay(t, s, ref, CardSucceeds)
			id := s.Queued()[0].ID
			err := s.Deliver(t.Context(), DeliverOptions{})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), id)) {
				t.Fatalf("Deliver = %v, want an error naming %s and %q", err, id, tt.wantErr)
			}
			hs := rc.drain()
			if len(hs) != tt.requests {
				t.Fatalf("%d requests, want %d", len(hs), tt.requests)
			}
			for _, h := range hs {
				if h.event.ID != id {
					t.Errorf("retry carried event %s, want %s", h.event.ID, id)
				}
			}
		})
	}
}

func TestDeliverErrors(t *testing.T) {
	rc := startReceiver(t, false)
	tests := []struct {
		name string
		opts SimulatedOptions
		want string
	}{
		{"no webhook URL", SimulatedOptions{Secret: webhookSecret}, "no webhook URL"},
		{"no secret", SimulatedOptions{WebhookURL: rc.url}, "no webhook secret"},
		// The receiver refuses the signature, and the provider retries as
		// it would after any other non-2xx answer.
		{"wrong secret", SimulatedOptions{WebhookURL: rc.url, Secret: []byte("whsec_other")}, "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newManual(t, tt.opts)
			pay(t, s, begin(t, s, request("o1:1")).Ref, CardSucceeds)
			err := s.Deliver(t.Context(), DeliverOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Deliver = %v, want an error saying %q", err, tt.want)
			}
			if hs := rc.drain(); len(hs) != 0 {
				t.Errorf("receiver accepted %d events", len(hs))
			}
		})
	}
	t.Run("automatic mode", func(t *testing.T) {
		s := NewSimulated(SimulatedOptions{WebhookURL: rc.url, Secret: webhookSecret})
		defer s.Close()
		if err := s.Deliver(t.Context(), DeliverOptions{}); err == nil {
			t.Error("Deliver in automatic mode = nil, want an error")
		}
	})
}

// newAutomatic is a simulated provider in automatic mode on fake timers.
func newAutomatic(t *testing.T, o SimulatedOptions) (*Simulated, *fakeTimers) {
	t.Helper()
	timers := newFakeTimers()
	o.After = timers.After
	o.Now = func() time.Time { return testNow }
	o.Secret = webhookSecret
	s := NewSimulated(o)
	t.Cleanup(s.Close)
	return s, timers
}

func TestAutomaticDelivery(t *testing.T) {
	rc := newReceiver(t)
	s, timers := newAutomatic(t, SimulatedOptions{WebhookURL: rc.url})
	ref := begin(t, s, request("o1:1")).Ref
	want := pay(t, s, ref, CardSucceeds)

	delay := timers.expect(t, DefaultDelay)
	// The delivery is waiting on the timer, so nothing can have arrived.
	if hs := rc.drain(); len(hs) != 0 {
		t.Fatalf("%d events arrived before the delay", len(hs))
	}
	delay.elapse()
	h := await(t, rc.hits, "webhook")
	if h.event.Type != TypeSucceeded || h.event.Data != want {
		t.Errorf("event = %+v, want payment.succeeded of %+v", h.event, want)
	}
	s.Close()
	if hs := rc.drain(); len(hs) != 0 {
		t.Errorf("%d more events, want one in all", len(hs))
	}
	select {
	case tm := <-timers.waits:
		t.Errorf("waited %s after a delivered event", tm.d)
	default:
	}
}

func TestAutomaticDelay(t *testing.T) {
	tests := []struct {
		delay time.Duration
		wait  time.Duration // 0: none
	}{
		{0, DefaultDelay},
		{2 * time.Second, 2 * time.Second},
		{-1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.delay.String(), func(t *testing.T) {
			rc := newReceiver(t)
			s, timers := newAutomatic(t, SimulatedOptions{WebhookURL: rc.url, Delay: tt.delay})
			pay(t, s, begin(t, s, request("o1:1")).Ref, CardSucceeds)
			if tt.wait > 0 {
				timers.expect(t, tt.wait).elapse()
			}
			await(t, rc.hits, "webhook")
			s.Close()
			if n := len(timers.waits); n != 0 {
				t.Errorf("%d more waits, want none", n)
			}
		})
	}
}

func TestAutomaticRetry(t *testing.T) {
	rc := newReceiver(t, http.StatusInternalServerError, http.StatusBadGateway)
	s, timers := newAutomatic(t, SimulatedOptions{WebhookURL: rc.url})
	pay(t, s, begin(t, s, request("o1:1")).Ref, CardSucceeds)

	timers.expect(t, DefaultDelay).elapse()
	first := await(t, rc.hits, "first attempt")
	if first.code != http.StatusInternalServerError {
		t.Fatalf("first answer %d", first.code)
	}
	backoff := timers.expect(t, time.Second)
	if hs := rc.drain(); len(hs) != 0 {
		t.Fatalf("retried before the backoff: %d more requests", len(hs))
	}
	backoff.elapse()
	if second := await(t, rc.hits, "second attempt"); second.code != http.StatusBadGateway || second.event.ID != first.event.ID {
		t.Fatalf("second attempt = %d %s, want 502 %s", second.code, second.event.ID, first.event.ID)
	}
	timers.expect(t, 2*time.Second).elapse()
	if third := await(t, rc.hits, "third attempt"); third.code != http.StatusOK || third.event.ID != first.event.ID {
		t.Fatalf("third attempt = %d %s, want 200 %s", third.code, third.event.ID, first.event.ID)
	}
	s.Close()
	if hs := rc.drain(); len(hs) != 0 {
		t.Errorf("%d requests after the webhook answered 200", len(hs))
	}
}

func TestAutomaticGivesUp(t *testing.T) {
	rc := newReceiver(t, 500, 500, 500, 500, 500, 500, 500)
	s, timers := newAutomatic(t, SimulatedOptions{WebhookURL: rc.url})
	pay(t, s, begin(t, s, request("o1:1")).Ref, CardSucceeds)
	timers.expect(t, DefaultDelay).elapse()
	for _, d := range []time.Duration{1, 2, 4, 8, 16} {
		await(t, rc.hits, "attempt")
		timers.expect(t, d*time.Second).elapse()
	}
	await(t, rc.hits, "last attempt")
	s.Close() // returns only once the delivery has given up
	if hs := rc.drain(); len(hs) != 0 {
		t.Errorf("%d requests after 6 attempts", len(hs))
	}
	if len(timers.waits) != 0 {
		t.Errorf("waits after the last attempt")
	}
}

func TestAutomaticDuplicate(t *testing.T) {
	rc := newReceiver(t)
	s, timers := newAutomatic(t, SimulatedOptions{WebhookURL: rc.url, Duplicate: true})
	pay(t, s, begin(t, s, request("o1:1")).Ref, CardDeclined)
	timers.expect(t, DefaultDelay).elapse()
	a := await(t, rc.hits, "first copy")
	b := await(t, rc.hits, "second copy")
	if a.event != b.event || a.event.Type != TypeFailed {
		t.Errorf("copies %+v and %+v, want the same payment.failed event", a.event, b.event)
	}
	s.Close()
	if hs := rc.drain(); len(hs) != 0 {
		t.Errorf("%d more requests, want two in all", len(hs))
	}
}

func TestCloseStopsRetries(t *testing.T) {
	rc := newReceiver(t, 500, 500, 500, 500, 500, 500)
	s, timers := newAutomatic(t, SimulatedOptions{WebhookURL: rc.url})
	ref := begin(t, s, request("o1:1")).Ref
	pay(t, s, ref, CardSucceeds)
	timers.expect(t, DefaultDelay).elapse()
	await(t, rc.hits, "first attempt")
	timers.expect(t, time.Second) // the retry waits; Close comes first

	s.Close()
	if hs := rc.drain(); len(hs) != 0 {
		t.Errorf("%d requests after Close", len(hs))
	}
	// Later state changes are not sent either, and the provider still
	// answers.
	if err := s.Refund(t.Context(), ref); err != nil {
		t.Fatalf("Refund after Close: %v", err)
	}
	if len(timers.waits) != 0 {
		t.Errorf("a delivery started after Close")
	}
}

func TestCloseCancelsInFlight(t *testing.T) {
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	// No client timeout: if Close did not cancel the request, it would
	// wait for ever and the test would fail by timing out.
	s, timers := newAutomatic(t, SimulatedOptions{WebhookURL: srv.URL, Client: &http.Client{}})
	pay(t, s, begin(t, s, request("o1:1")).Ref, CardSucceeds)
	timers.expect(t, DefaultDelay).elapse()
	await(t, started, "request in flight")
	s.Close()
	if len(timers.waits) != 0 {
		t.Errorf("a cancelled delivery waited to retry")
	}
}

func TestDeliverCancelled(t *testing.T) {
	rc := newReceiver(t)
	s := newManual(t, SimulatedOptions{WebhookURL: rc.url, Secret: webhookSecret})
	paidWithRefund(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Deliver(ctx, DeliverOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Deliver = %v, want context.Canceled", err)
	}
	if hs := rc.drain(); len(hs) != 0 {
		t.Errorf("%d events sent with a cancelled context", len(hs))
	}
}

func TestAutomaticWithoutWebhook(t *testing.T) {
	s, timers := newAutomatic(t, SimulatedOptions{})
	pay(t, s, begin(t, s, request("o1:1")).Ref, CardSucceeds)
	s.Close()
	if n := len(timers.waits); n != 0 {
		t.Errorf("%d waits for an event that has nowhere to go", n)
	}
}
