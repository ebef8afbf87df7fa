package admission

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// instance is one gateway instance's controller on a shared store.
func instance(store queue.Store, clock *queuetest.Clock, p Policy) (*Controller, *Room) {
	c := NewController(store, ControllerOptions{Logger: quietLogger(), Now: clock.Now})
	return c, c.AddRoom("sale", "Sale", p)
}

var operator = Actor{Who: "op@venue.example", Via: "oidc"}

func setRate(rate float64) func(Policy) (Policy, []FieldProblem) {
	return func(p Policy) (Policy, []FieldProblem) {
		p.RatePerMinute = rate
		return p, nil
	}
}

func TestSyncKeepsLiveChangesUntilTheConfigChanges(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	store := memory.New(memory.Options{Now: clock.Now})
	cfg := basePolicy()

	a, ra := instance(store, clock, cfg)
	if err := a.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ra.PolicyVersion() != 1 || ra.Policy().RatePerMinute != 60 {
		t.Fatalf("first start: version %d, %+v", ra.PolicyVersion(), ra.Policy())
	}
	if _, _, _, err := ra.Change(t.Context(), operator, "patch", setRate(600)); err != nil {
		t.Fatal(err)
	}

	// A restart with the same file keeps the operator's change.
	b, rb := instance(store, clock, cfg)
	if err := b.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := rb.Policy().RatePerMinute; got != 600 || rb.PolicyVersion() != 2 {
		t.Errorf("restart with the same file: rate %v, version %d; want the live 600, version 2", got, rb.PolicyVersion())
	}

	// A changed file wins, and says so in the audit trail.
	changed := cfg
	changed.MaxActive = 250
	c, rc := instance(store, clock, changed)
	if err := c.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := rc.Policy(); p.MaxActive != 250 || p.RatePerMinute != 60 || rc.PolicyVersion() != 3 {
		t.Errorf("restart with a changed file: %+v version %d", p, rc.PolicyVersion())
	}
	entries, err := rc.Audit(t.Context(), 10)
	if err != nil || len(entries) != 3 {
		t.Fatalf("audit: %v %v", entries, err)
	}
	if e := entries[0]; e.Action != "config" || e.Who != "config" || e.Before == nil || e.Before.RatePerMinute != 600 || e.After.MaxActive != 250 {
		t.Errorf("newest entry: %+v", e)
	}
	if e := entries[1]; e.Action != "patch" || e.Who != operator.Who || e.Before.RatePerMinute != 60 || e.After.RatePerMinute != 600 {
		t.Errorf("operator's entry: %+v", e)
	}
	if e := entries[2]; e.Action != "config" || e.Before != nil {
		t.Errorf("first entry: %+v", e)
	}

	// And the first instance, still running, follows at its next tick.
	if err := a.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if p := ra.Policy(); p.MaxActive != 250 || ra.PolicyVersion() != 3 {
		t.Errorf("a running instance after the change: %+v version %d", p, ra.PolicyVersion())
	}

	// A reload of the file on a running instance reconciles at the next
	// tick.
	again := changed
	again.MaxActive = 400
	a.SetRooms([]RoomDef{{ID: "sale", Name: "Sale", Policy: again}, {ID: "extra", Name: "Extra", Policy: cfg}})
	if err := a.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ra.Policy().MaxActive != 400 || a.Room("extra") == nil || len(a.Rooms()) != 2 {
		t.Errorf("after a reload: %+v, rooms %d", ra.Policy(), len(a.Rooms()))
	}
	a.SetRooms([]RoomDef{{ID: "extra", Name: "Extra", Policy: cfg}})
	if a.Room("sale") != nil || len(a.Rooms()) != 1 {
		t.Error("a room removed from the file is still served")
	}
}

func TestChangeIsNeverLost(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	store := memory.New(memory.Options{Now: clock.Now})
	var rooms []*Room
	for range 3 {
		c, r := instance(store, clock, basePolicy())
		if err := c.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		rooms = append(rooms, r)
	}
	// Three instances each add 1 to max_active 10 times, at once.
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for _, r := range rooms {
		wg.Go(func() {
			for range 10 {
				_, _, _, err := r.Change(t.Context(), operator, "patch", func(p Policy) (Policy, []FieldProblem) {
					p.MaxActive++
					return p, nil
				})
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
		}
	}
	cur, err := rooms[0].load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Every change either landed on top of the one before, or failed after
	// its retries: none was applied to a stale policy.
	if cur.MaxActive != 100+30-failed || cur.version != int64(1+30-failed) {
		t.Errorf("max_active %d, version %d, %d failed", cur.MaxActive, cur.version, failed)
	}
}

func TestChangeRefusesProblems(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	store := memory.New(memory.Options{Now: clock.Now})
	c, r := instance(store, clock, basePolicy())
	if err := c.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, _, problems, err := r.Change(t.Context(), operator, "patch", func(p Policy) (Policy, []FieldProblem) {
		return p.Patch([]byte(`{"max_active":-1}`), clock.Now())
	})
	if err != ErrInvalidChange || len(problems) != 1 || r.PolicyVersion() != 1 {
		t.Errorf("err %v, problems %v, version %d", err, problems, r.PolicyVersion())
	}
}

// TestChangesReachOtherInstances: a change through one instance reaches
// another through the store's notification, before any tick.
func TestChangesReachOtherInstances(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	store := memory.New(memory.Options{Now: clock.Now})
	a, ra := instance(store, clock, basePolicy())
	b, rb := instance(store, clock, basePolicy())
	b.opts.Tick = time.Hour // only the notification can bring the change
	if err := a.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Run(ctx)
	}()
	waitFor(t, func() bool { return rb.PolicyVersion() == 1 }) // b's first tick
	if _, _, _, err := ra.Change(t.Context(), operator, "pause", func(p Policy) (Policy, []FieldProblem) {
		p.State = StatePaused
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return rb.Policy().State == StatePaused })
	cancel()
	<-done
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOriginRecorder(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	o := NewOriginRecorder(clock.Now)
	for i := range 100 {
		status := 200
		if i%10 == 0 {
			status = 503
		}
		o.Observe(time.Duration(i+1)*time.Millisecond, status)
	}
	o.Observe(time.Second, 0) // no answer at all
	st := o.Stats()
	if st.Requests != 101 || st.Errors != 11 {
		t.Fatalf("stats %+v", st)
	}
	// Buckets are a quarter of a power of two wide: the percentiles are
	// upper bounds within 25 % of the truth.
	if st.P50 < 51*time.Millisecond || st.P50 > 64*time.Millisecond || st.P95 < 96*time.Millisecond || st.P95 > 120*time.Millisecond {
		t.Errorf("p50 %v, p95 %v", st.P50, st.P95)
	}
	clock.Add(30 * time.Second)
	o.Observe(5*time.Millisecond, 200)
	if st := o.Stats(); st.Requests != 102 {
		t.Errorf("within the minute: %d requests", st.Requests)
	}
	clock.Add(45 * time.Second)
	if st := o.Stats(); st.Requests != 1 || st.P50 > 8*time.Millisecond {
		t.Errorf("a minute later only the newest request counts: %+v", st)
	}
	if n := testing.AllocsPerRun(100, func() { o.Observe(time.Millisecond, 200) }); n != 0 {
		t.Errorf("Observe allocates %v times", n)
	}
}

func TestStatsLastMinute(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	store := memory.New(memory.Options{Now: clock.Now})
	p := basePolicy()
	p.RatePerMinute = 600
	c, r := instance(store, clock, p)
	for range 30 {
		if _, err := r.Join(t.Context(), NewVisitorID()); err != nil {
			t.Fatal(err)
		}
	}
	for range 70 {
		clock.Add(time.Second)
		if err := c.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		for seq := int64(1); seq <= r.View().Served; seq++ {
			if _, err := r.Claim(t.Context(), seq); err != nil {
				t.Fatal(err)
			}
		}
		if clock.Now().Sub(queuetest.Start) == 20*time.Second {
			for range 12 {
				if _, err := r.Join(t.Context(), NewVisitorID()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	st := r.Stats()
	if st.JoinsLastMinute != 12 || st.AdmittedTotal != 42 || st.Waiting != 0 {
		t.Errorf("stats %+v", st)
	}
	if h := r.History(15 * time.Minute); len(h) != 70 {
		t.Errorf("%d samples of history, want 70", len(h))
	}
}
