package gateway

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	queueredis "github.com/usherhq/usher/queue/redis"
)

// The crowd of TestThreeInstances. The session is short and max_active
// small so that capacity binds within a few steps and frees up again, while
// the rate binds at the start and after every release: both limits are
// exercised within a minute of clock time.
const (
	crowdSize      = 30
	crowdRate      = 60 // a minute: one offer per one-second step
	crowdMaxActive = 5
	crowdSession   = 10 * time.Second
	crowdSteps     = 600 // one second each; everyone is in after about 60
	// crowdCheckout is the step at whose end every visitor then inside
	// checks out. Sessions that end one by one never free more capacity
	// at once than the budget's burst, so the burst would go untested; a
	// checkout frees all of max_active, and only the burst then holds the
	// offers back.
	crowdCheckout = 5
)

// TestThreeInstances: three gateway instances on one Redis, with visitors
// joining round-robin through them and polling through the others, keep
// one line: every instance tells every visitor the same place, visitors
// are admitted in arrival order, live passes never exceed max_active, and
// offers never outrun the rate and its burst. The admissions are the very
// ones a single instance makes of the same crowd, step for step.
func TestThreeInstances(t *testing.T) {
	var one, three []int
	t.Run("one", func(t *testing.T) { one = admitCrowd(t, 1) })
	t.Run("three", func(t *testing.T) { three = admitCrowd(t, 3) })
	if one == nil || three == nil {
		return // a subtest failed and said why
	}
	if !slices.Equal(one, three) {
		t.Errorf("steps of admission, in arrival order:\none instance:    %v\nthree instances: %v", one, three)
	}
}

// admitCrowd runs crowdSize visitors through n gateway instances sharing
// one Redis prefix and one fake clock, one second per step, until all are
// admitted, checking the line's promises at every step. It returns the step
// at which each visitor, in arrival order, was admitted (0: on arrival).
func admitCrowd(t *testing.T, n int) []int {
	client := redisClient(t)
	prefix := "usher-test:" + randomHex(6) + ":"
	// Registered before the gateways start, so it runs after they stop:
	// nothing writes once the keys are gone.
	t.Cleanup(func() {
		deleteKeys(t, client, prefix)
		if left, err := client.Keys(context.Background(), prefix+"*").Result(); err != nil || len(left) > 0 {
			t.Errorf("keys left behind under %s: %v %v", prefix, left, err)
		}
	})
	clk := newClock()
	keys := newKeys(t)
	o := newOrigin(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/events/done", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Usher-Command", "revoke")
			_, _ = io.WriteString(w, "thank you")
		})
	})
	gws := make([]*testGateway, n)
	for k := range gws {
		// One store per instance, as separate processes have, on the same
		// data: the line is only shared through Redis.
		store, err := queueredis.New(client, queueredis.Options{Prefix: prefix, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		gws[k], _ = startGateway(t, gatewaySetup{keys: keys, clock: clk, origin: o.URL, store: store,
			room: func(r *RoomConfig) {
				r.RatePerMinute, r.MaxActive, r.Session = crowdRate, crowdMaxActive, config.Duration(crowdSession)
				// Told to come back within two seconds, a fan that polls
				// every second is well within its allowance on every
				// instance, never a fast poller refused with 429.
				r.PollMin, r.PollMax = config.Duration(time.Second), config.Duration(2*time.Second)
			}})
	}
	lim := gws[0].ctrl.Room("sale").Policy().Limits(clk.Now())
	sessionSteps := int(crowdSession / time.Second)

	// Everyone arrives at the same instant: the budget of the empty room
	// lets the first few straight in, the rest queue.
	fans := make([]*browser, crowdSize)
	admittedAt := make([]int, crowdSize) // -1 while waiting
	passEnds := make([]int, crowdSize)   // the first step at which the pass no longer counts
	for i := range fans {
		fans[i] = newBrowser(t)
		admittedAt[i] = -1
		resp, body := fans[i].get(gws[i%n].URL + "/events/1")
		switch {
		case resp.StatusCode == 200 && strings.HasPrefix(body, "origin"):
			admittedAt[i] = 0
			passEnds[i] = sessionSteps
		case resp.StatusCode == 200 && strings.Contains(body, "in line"):
		default:
			t.Fatalf("visitor %d arriving through instance %d: %d %.200q", i+1, i%n, resp.StatusCode, body)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	offers := []int64{}         // offers at each step by all instances together, admissions on arrival at step 0
	offeredBy := make([]int, n) // offers each instance's ticks made
	var served int64
	for step := 0; step <= crowdSteps; step++ {
		if step > 0 {
			clk.Add(time.Second)
		}
		v := tickAll(t, gws, step, lim.MaxActive, offeredBy)
		offers = append(offers, v.Served-served)
		served = v.Served

		// In random order, so that nobody gains by polling first; never
		// through the instance the visitor joined through, so that every
		// answer comes from an instance that did not make the place.
		for _, i := range rng.Perm(crowdSize) {
			if admittedAt[i] >= 0 {
				continue
			}
			g := gws[(i%n+1+step%max(1, n-1))%n]
			s := fans[i].status(g)
			seq := int64(i + 1) // the room is new: arrival numbers start at 1
			switch {
			case s.Admitted != (seq <= served):
				t.Fatalf("step %d: visitor %d (arrival %d, frontier %d) polling instance %d: admitted %v",
					step, i+1, seq, served, slices.Index(gws, g), s.Admitted)
			case s.Admitted:
				admittedAt[i] = step
				passEnds[i] = step + sessionSteps
			default:
				if p := s.position(t); p != seq-served {
					t.Fatalf("step %d: visitor %d told position %d by instance %d, want %d: the instances disagree on the line",
						step, i+1, p, slices.Index(gws, g), seq-served)
				}
			}
		}

		// Every offer of the step has just been claimed, so the live
		// passes are exactly what the store counts as taken.
		live := 0
		for i, at := range admittedAt {
			if at >= 0 && step < passEnds[i] {
				live++
			}
		}
		if live > lim.MaxActive {
			t.Fatalf("step %d: %d live passes, more than max_active %d", step, live, lim.MaxActive)
		}
		if taken := v.Active + v.Pending; live != taken {
			t.Fatalf("step %d: visitors hold %d live passes, the store counts %d active and %d pending", step, live, v.Active, v.Pending)
		}
		if step == crowdCheckout {
			if live != lim.MaxActive {
				t.Fatalf("step %d: %d live passes; the checkout is meant for a full room of %d", step, live, lim.MaxActive)
			}
			for i, at := range admittedAt {
				if at < 0 || step >= passEnds[i] {
					continue
				}
				// Through another instance than the one that let the
				// visitor in: the capacity is freed in Redis, for all.
				g := gws[(i%n+1)%n]
				if resp, body := fans[i].get(g.URL + "/events/done"); resp.StatusCode != 200 || body != "thank you" {
					t.Fatalf("visitor %d checking out through instance %d: %d %.100q", i+1, slices.Index(gws, g), resp.StatusCode, body)
				}
				passEnds[i] = step + 1
			}
		}
		if !slices.Contains(admittedAt, -1) {
			break
		}
	}
	if i := slices.Index(admittedAt, -1); i >= 0 {
		t.Fatalf("visitor %d still waits after %d steps; admitted at %v", i+1, crowdSteps, admittedAt)
	}

	for i := 1; i < crowdSize; i++ {
		if admittedAt[i] < admittedAt[i-1] {
			t.Errorf("visitor %d admitted at step %d, before visitor %d, who came earlier, at step %d",
				i+1, admittedAt[i], i, admittedAt[i-1])
		}
	}
	checkRate(t, offers, lim.RatePerMinute, lim.Burst)
	if n > 1 {
		// Rotating which instance ticks first would be pointless if one of
		// them never found budget to spend.
		for k, c := range offeredBy {
			if c == 0 {
				t.Errorf("instance %d made no offers (offers by instance: %v)", k, offeredBy)
			}
		}
	}
	t.Logf("%d instances: admitted at steps %v; offers by instance %v", n, admittedAt, offeredBy)
	return admittedAt
}

// tickAll ticks every instance once at the clock's current instant, the
// first to tick changing with the step: at one instant the first tick spends
// the budget and the others find none, so each instance in turn makes the
// offers. It checks each instance's view right after its tick against
// maxActive, adds the offers each made to offeredBy, and returns the view,
// after checking that every instance read the same line.
func tickAll(t *testing.T, gws []*testGateway, step, maxActive int, offeredBy []int) admission.View {
	t.Helper()
	var first admission.View
	for j := range gws {
		k := (step + j) % len(gws)
		gws[k].tick(t)
		v := gws[k].ctrl.Room("sale").View()
		if !v.Fresh {
			t.Fatalf("step %d: instance %d's view is stale", step, k)
		}
		if v.Active+v.Pending > maxActive {
			t.Fatalf("step %d: instance %d sees %d active and %d pending, more than max_active %d", step, k, v.Active, v.Pending, maxActive)
		}
		offeredBy[k] += v.Offered
		if j == 0 {
			first = v
			continue
		}
		if v.Served != first.Served || v.Joined != first.Joined || v.Active != first.Active || v.Pending != first.Pending {
			t.Fatalf("step %d: instance %d sees %s, the instance before it %s", step, k, lineOf(v), lineOf(first))
		}
	}
	return first
}

// lineOf describes a view's counters for a failure message.
func lineOf(v admission.View) string {
	return fmt.Sprintf("joined %d, served %d, active %d, pending %d", v.Joined, v.Served, v.Active, v.Pending)
}

// checkRate checks offers, the offers made at each one-second step, against
// a budget that refills at rate a minute and holds at most burst: however
// the window is chosen, the steps from a to b never offer more than burst
// plus what refills from a to b. Offers handed back by lapsed claims would
// add to that, but with every visitor polling each step none lapse.
func checkRate(t *testing.T, offers []int64, rate, burst float64) {
	t.Helper()
	for a := range offers {
		var sum int64
		for b := a; b < len(offers); b++ {
			sum += offers[b]
			if limit := burst + float64(b-a)*rate/60; float64(sum) > limit {
				t.Errorf("steps %d to %d offered %d, more than the burst %g and the rate %g a minute allow (%g)", a, b, sum, burst, rate, limit)
				return
			}
		}
	}
	perMinute := []int64{}
	for s, c := range offers {
		if s%60 == 0 {
			perMinute = append(perMinute, 0)
		}
		perMinute[len(perMinute)-1] += c
	}
	t.Logf("offers per minute: %v (rate %g, burst %g)", perMinute, rate, burst)
}
