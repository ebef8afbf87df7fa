package admission

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

// outage is a store that does not answer while down is set, as Redis
// during a failover.
type outage struct {
	queue.Store
	down atomic.Bool
}

func (o *outage) Claim(ctx context.Context, room string, seq int64, lim queue.Limits) (queue.Claim, error) {
	if o.down.Load() {
		return queue.Claim{}, queue.ErrUnavailable
	}
	return o.Store.Claim(ctx, room, seq, lim)
}

func (o *outage) Advance(ctx context.Context, room string, lim queue.Limits) (queue.Snapshot, error) {
	if o.down.Load() {
		return queue.Snapshot{}, queue.ErrUnavailable
	}
	return o.Store.Advance(ctx, room, lim)
}

func (o *outage) Lease(ctx context.Context, room, holder string, used []queue.LeaseAdmission, want int, ttl time.Duration, lim queue.Limits) (queue.Lease, error) {
	if o.down.Load() {
		return queue.Lease{}, queue.ErrUnavailable
	}
	return o.Store.Lease(ctx, room, holder, used, want, ttl, lim)
}

// TestLeaseWhileStoreDown: while the store does not answer, a room with a
// lease admits the visitors next in line at the rate, up to the lease, and
// their places move on the way the line would; once the store answers, it
// hears of each admission once.
func TestLeaseWhileStoreDown(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	mem := memory.New(memory.Options{Now: clock.Now})
	store := &outage{Store: mem}
	p := basePolicy()
	p.State = StatePaused
	c := NewController(store, ControllerOptions{Logger: quietLogger(), Now: clock.Now})
	r := c.SetRooms([]RoomDef{{ID: "sale", Name: "Sale", Policy: p, Lease: 10 * time.Second}})[0]
	if err := c.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		if _, err := r.Join(t.Context(), NewVisitorID()); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, err := r.Change(t.Context(), operator, "resume", func(p Policy) (Policy, []FieldProblem) {
		p.State = StateOpen
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := c.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if left, _ := r.Leased(); left != 10 {
		t.Fatalf("the lease holds %d, want 10 (60 a minute for 10s)", left)
	}
	served := r.View().Served

	store.down.Store(true)
	if err := c.Tick(t.Context()); err == nil {
		t.Fatal("a tick with the store down did not fail")
	}
	next := served + 1
	if w := r.Wait(next); w.Offered || !w.Holding {
		t.Errorf("the next visitor at once: %+v, want to hold on", w)
	}
	// A second later the lease has released one visitor, who is admitted
	// without the store; the one after waits for the next second.
	clock.Add(time.Second)
	if w := r.Wait(next); !w.Offered {
		t.Fatalf("the next visitor a second into the outage: %+v", w)
	}
	got, err := r.Claim(t.Context(), next)
	if err != nil || got.Outcome != queue.Admitted || !got.First {
		t.Fatalf("claim under the lease: %+v, %v", got, err)
	}
	if again, err := r.Claim(t.Context(), next); err != nil || !again.Expires.Equal(got.Expires) || again.First {
		t.Errorf("the same visitor again (a second tab): %+v, %v", again, err)
	}
	if w := r.Wait(next + 1); w.Offered || w.Position != 1 {
		t.Errorf("the visitor after: %+v, want first in line", w)
	}
	// Over the lease's span, ten are released and admitted; no more.
	clock.Add(9 * time.Second)
	for seq := next + 1; seq <= served+20; seq++ {
		c, err := r.Claim(t.Context(), seq)
		if seq <= served+10 && (err != nil || c.Outcome != queue.Admitted) {
			t.Errorf("claim of place %d: %+v, %v", seq, c, err)
		}
		if seq > served+10 && err == nil {
			t.Errorf("claim of place %d beyond the lease: %+v", seq, c)
		}
	}
	if left, own := r.Leased(); left != 0 || own != 10 {
		t.Errorf("lease left %d, own admissions %d; want 0 and 10", left, own)
	}
	// Past twice its span the lease is over.
	clock.Add(10 * time.Second)
	if _, ok := r.leaseFrontier(clock.Now()); ok {
		t.Error("the lease is still live after twice its span")
	}

	store.down.Store(false)
	before, _ := mem.Snapshot(t.Context(), "sale")
	if err := c.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, _ := mem.Snapshot(t.Context(), "sale")
	if after.AdmittedTotal != before.AdmittedTotal+10 || after.Served < served+10 {
		t.Errorf("after the outage the store reads %+v (before %+v): want the 10 admitted, the frontier past them", after, before)
	}
	for seq := next; seq <= served+10; seq++ {
		if c, err := r.Claim(t.Context(), seq); err != nil || c.Outcome != queue.Admitted || c.First {
			t.Errorf("place %d claimed again after the outage: %+v, %v", seq, c, err)
		}
	}
	if err := c.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s, _ := mem.Snapshot(t.Context(), "sale"); s.AdmittedTotal != after.AdmittedTotal {
		t.Errorf("admissions counted again: %d, then %d", after.AdmittedTotal, s.AdmittedTotal)
	}
}
