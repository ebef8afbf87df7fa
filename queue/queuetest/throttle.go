package queuetest

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

// throttled is a throttle's answer: a token taken, or the wait for the next.
type throttled struct {
	ok    bool
	retry time.Duration
}

func (e *env) throttle(room, name string, perMinute float64, burst int) throttled {
	e.t.Helper()
	return throttleOn(e.t, e.store, room, name, perMinute, burst)
}

func throttleOn(t *testing.T, s queue.Store, room, name string, perMinute float64, burst int) throttled {
	t.Helper()
	ok, retry, err := s.Throttle(t.Context(), room, name, perMinute, burst)
	if err != nil {
		t.Fatalf("Throttle(%q, %q, %v, %d): %v", room, name, perMinute, burst, err)
	}
	return throttled{ok: ok, retry: retry}
}

// allowed and refused are the answers the throttle cases expect.
var allowed = throttled{ok: true}

func refused(retry time.Duration) throttled {
	return throttled{retry: retry}
}

func testThrottle(t *testing.T, newStore NewStore) {
	type step struct {
		after time.Duration
		want  throttled
	}
	const year = 365 * 24 * time.Hour
	tests := []struct {
		name      string
		perMinute float64
		burst     int
		steps     []step
	}{
		{"burst, then one token an interval", 6, 3, []step{
			{0, allowed}, {0, allowed}, {0, allowed},
			{0, refused(10 * time.Second)},
			{9999 * time.Millisecond, refused(time.Millisecond)},
			{time.Millisecond, allowed},
			{0, refused(10 * time.Second)},
		}},
		{"refill", 6, 3, []step{
			{0, allowed}, {0, allowed}, {0, allowed},
			{10 * time.Second, allowed},
			{0, refused(10 * time.Second)},
			// Two and a half intervals: two tokens, and half of the
			// next one is already there.
			{25 * time.Second, allowed}, {0, allowed},
			{0, refused(5 * time.Second)},
			// Refill stops at the burst.
			{time.Hour, allowed}, {0, allowed}, {0, allowed},
			{0, refused(10 * time.Second)},
			// A clock that steps back gives nothing back.
			{-10 * time.Second, refused(20 * time.Second)},
			{20 * time.Second, allowed},
		}},
		// 60/7 s is 8571.428...ms: the interval is rounded up to the
		// microsecond and the wait up to the millisecond, and a caller who
		// waits exactly that long gets the token.
		{"odd interval", 7, 1, []step{
			{0, allowed},
			{0, refused(8572 * time.Millisecond)},
			{8571 * time.Millisecond, refused(time.Millisecond)},
			{time.Millisecond, allowed},
			{0, refused(8572 * time.Millisecond)},
		}},
		{"a burst below one counts as one", 60, 0, []step{
			{0, allowed}, {0, refused(time.Second)},
		}},
		{"a negative burst counts as one", 60, -3, []step{
			{0, allowed}, {0, refused(time.Second)},
		}},
		// Calls within one millisecond of the clock share its tokens.
		{"a rate above one a millisecond", 600_000, 2, []step{
			{0, allowed}, {0, allowed}, {0, refused(time.Millisecond)},
			{time.Millisecond, allowed}, {0, allowed}, {0, refused(time.Millisecond)},
		}},
		{"a rate below one in ten years counts as one in ten years", 1e-300, 1, []step{
			{0, allowed}, {0, refused(10 * year)},
			{10*year - time.Millisecond, refused(time.Millisecond)},
			{time.Millisecond, allowed},
		}},
		// One token in 1e6 minutes: five fit in ten years.
		{"a burst that takes over ten years to refill is cut", 1e-6, 1 << 40, []step{
			{0, allowed}, {0, allowed}, {0, allowed}, {0, allowed}, {0, allowed},
			{0, refused(1e6 * time.Minute)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			room := newRoom()
			for i, s := range tt.steps {
				e.clock.Add(s.after)
				if got := e.throttle(room, "join", tt.perMinute, tt.burst); got != s.want {
					t.Fatalf("step %d (after %v): %s, want %s", i, s.after, describe(got), describe(s.want))
				}
			}
		})
	}
}

// testThrottleRate follows every retryAfter for an hour, its last instant
// included: the throttle lets the burst through at once and then one token
// for each whole interval that has passed, without drifting by the rounding
// of each wait, and never more than the rate.
func testThrottleRate(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	const perMinute, burst = 7, 3
	var n, calls int
	for end := Start.Add(time.Hour); !e.clock.Now().After(end); calls++ {
		if calls > 10_000 {
			t.Fatal("the throttle never ran out of tokens")
		}
		got := e.throttle(room, "join", perMinute, burst)
		if got.ok {
			n++
			continue
		}
		if got.retry <= 0 {
			t.Fatalf("refused with retryAfter %v", got.retry)
		}
		e.clock.Add(got.retry)
	}
	// After the burst of 3, tokens come at k·60/7 s for k = 1..419. The
	// 420th would come at the hour's last instant, were the interval not
	// rounded up to 8571429 µs: 180 µs later, it falls outside.
	if want := burst + 419; n != want {
		t.Errorf("%d tokens in an hour at %d a minute with a burst of %d, want %d", n, perMinute, burst, want)
	}
}

func testThrottleZeroRate(t *testing.T, newStore NewStore) {
	for _, perMinute := range []float64{0, -60, math.Inf(-1), math.NaN()} {
		t.Run(describe(perMinute), func(t *testing.T) {
			e := setup(t, newStore)
			room := newRoom()
			// A drained bucket under the same name stays as it was.
			e.throttle(room, "join", 6, 1)
			for i := range 20 {
				if got := e.throttle(room, "join", perMinute, 1); got != allowed {
					t.Fatalf("call %d: %s, want allowed", i, describe(got))
				}
			}
			if got, want := e.throttle(room, "join", 6, 1), refused(10*time.Second); got != want {
				t.Errorf("after calls at %v a minute: %s, want %s", perMinute, describe(got), describe(want))
			}
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{})
		})
	}
}

// testThrottleShared runs callers at one instant on a store and its peer:
// between them they take exactly the burst, and every refusal waits for the
// next token.
func testThrottleShared(t *testing.T, newStore NewStore, peer Peer) {
	t.Run("in turns", func(t *testing.T) {
		e := setup(t, newStore)
		other := peer(t, e.store, e.clock.Now)
		room := newRoom()
		stores := []queue.Store{e.store, other}
		for i := range 4 {
			if got := throttleOn(t, stores[i%2], room, "join", 6, 4); got != allowed {
				t.Fatalf("call %d: %s, want allowed", i, describe(got))
			}
		}
		for i, s := range stores {
			if got, want := throttleOn(t, s, room, "join", 6, 4), refused(10*time.Second); got != want {
				t.Errorf("store %d after the burst: %s, want %s", i, describe(got), describe(want))
			}
		}
		e.clock.Add(10 * time.Second)
		if got := throttleOn(t, other, room, "join", 6, 4); got != allowed {
			t.Errorf("second store after an interval: %s, want allowed", describe(got))
		}
		if got, want := e.throttle(room, "join", 6, 4), refused(10*time.Second); got != want {
			t.Errorf("first store after the second took the token: %s, want %s", describe(got), describe(want))
		}
	})
	t.Run("concurrent callers", func(t *testing.T) {
		e := setup(t, newStore)
		stores := []queue.Store{e.store, peer(t, e.store, e.clock.Now)}
		room := newRoom()
		const callers, calls, burst = 50, 10, 37
		got := make([][calls]throttled, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for g := range callers {
			wg.Go(func() {
				<-start
				s := stores[g%len(stores)]
				for i := range calls {
					ok, retry, err := s.Throttle(t.Context(), room, "join", 6, burst)
					if err != nil {
						errs[g] = err
						return
					}
					got[g][i] = throttled{ok: ok, retry: retry}
				}
			})
		}
		close(start)
		wg.Wait()
		n := 0
		for g := range got {
			if errs[g] != nil {
				t.Fatalf("Throttle: %v", errs[g])
			}
			for _, r := range got[g] {
				switch {
				case r.ok:
					n++
				case r != refused(10*time.Second):
					t.Errorf("a refusal at the instant of the burst: %s, want %s", describe(r), describe(refused(10*time.Second)))
				}
			}
		}
		if n != burst {
			t.Errorf("%d of %d calls at one instant took a token, want the burst of %d", n, callers*calls, burst)
		}
	})
}

func testThrottleIndependent(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	a, b := newRoom(), newRoom()
	e.throttle(a, "join", 6, 1)
	tests := []struct {
		room, name string
		want       throttled
	}{
		{a, "join", refused(10 * time.Second)},
		{a, "status", allowed},
		{b, "join", allowed},
		// Each bucket keeps its own state: status is drained now.
		{a, "status", refused(10 * time.Second)},
		{b, "status", allowed},
	}
	for i, tt := range tests {
		if got := e.throttle(tt.room, tt.name, 6, 1); got != tt.want {
			t.Errorf("step %d: %s of room %s: %s, want %s", i, tt.name, tt.room, describe(got), describe(tt.want))
		}
	}
	// Throttles leave the rooms' lines alone.
	e.wantSnapshot(e.snapshot(a), queue.Snapshot{})
	if p := e.join(a, open()); p.Seq != 1 || !p.Admitted {
		t.Errorf("first join of a throttled room: %s, want seq 1 admitted", describe(p))
	}
}
