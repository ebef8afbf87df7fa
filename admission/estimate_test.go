package admission

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

// TestWaitEstimates plays an on-sale in simulated time: ten visitors a
// second join for three minutes, a room that admits two a second, and one
// visitor in four never comes back for their turn. Each visitor is told a
// wait when they join; for every visitor past the first minute, when the
// room has measured its pace, the middle of that range must be within 20 %
// of the wait they then had. It also checks that the number ahead never
// grows for anyone.
func TestWaitEstimates(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	store := memory.New(memory.Options{Now: clock.Now})
	p := basePolicy()
	p.RatePerMinute, p.MaxActive, p.ClaimWindow, p.PollMax, p.RateRamp = 120, 100_000, 20*time.Second, 10*time.Second, 0
	c, room := instance(store, clock, p)

	type visitor struct {
		seq            int64
		joined         time.Time
		told           time.Duration
		low, high      time.Duration
		noShow         bool
		admitted       time.Time
		ahead          int64
		measuredAtJoin bool
	}
	var line []*visitor
	start := clock.Now()
	const arrivals, perSecond = 180, 10
	for step := 0; step < 2000; step++ {
		if step < arrivals {
			for i := range perSecond {
				pl, err := room.Join(t.Context(), fmt.Sprintf("v%d-%d", step, i))
				if err != nil {
					t.Fatal(err)
				}
				w := room.Wait(pl.Seq)
				m := room.measured.Load()
				line = append(line, &visitor{seq: pl.Seq, joined: clock.Now(), told: w.ETA, low: w.ETALow, high: w.ETAHigh,
					noShow: pl.Seq%4 == 0, ahead: w.Ahead(), measuredAtJoin: m != nil && m.perMinute > 0})
			}
		}
		if err := c.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
		waiting := 0
		for _, v := range line {
			if v.noShow || !v.admitted.IsZero() {
				continue
			}
			w := room.Wait(v.seq)
			if !w.Offered {
				if w.Ahead() > v.ahead {
					t.Fatalf("visitor %d: %d ahead after %d", v.seq, w.Ahead(), v.ahead)
				}
				v.ahead = w.Ahead()
				waiting++
				continue
			}
			cl, err := room.Claim(t.Context(), v.seq)
			if err != nil {
				t.Fatal(err)
			}
			if cl.Outcome == queue.Admitted {
				v.admitted = clock.Now()
			} else {
				waiting++
			}
		}
		if step >= arrivals && waiting == 0 {
			break
		}
		clock.Add(time.Second)
	}

	var errs []float64
	worst, worstAt := 0.0, int64(0)
	for _, v := range line {
		if v.noShow || v.joined.Sub(start) < time.Minute {
			continue
		}
		if v.admitted.IsZero() {
			t.Fatalf("visitor %d was never admitted", v.seq)
		}
		if !v.measuredAtJoin {
			t.Errorf("visitor %d, past the first minute, was told a wait the room had not measured", v.seq)
		}
		actual := v.admitted.Sub(v.joined)
		if actual < time.Minute {
			continue // a short wait is told as "less than a minute"
		}
		e := float64(v.told-actual) / float64(actual)
		errs = append(errs, e)
		if abs(e) > abs(worst) {
			worst, worstAt = e, v.seq
		}
		if v.low > actual+actual/5 || v.high < actual-actual/5 {
			t.Errorf("visitor %d: told %s–%s, waited %s", v.seq, v.low, v.high, actual)
		}
	}
	slices.Sort(errs)
	t.Logf("%d visitors past the first minute: error of the middle, told vs waited: median %+.1f %%, worst %+.1f %% (visitor %d)",
		len(errs), 100*errs[len(errs)/2], 100*worst, worstAt)
	if abs(worst) > 0.2 {
		t.Errorf("the worst estimate was %+.1f %% off the actual wait (visitor %d), more than 20 %%", 100*worst, worstAt)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestMeasureConversion: the tickets that went per admission over the
// window, once there are enough admissions to tell.
func TestMeasureConversion(t *testing.T) {
	var h []Sample
	for i := range 120 {
		h = append(h, Sample{At: t0.Add(time.Duration(i) * time.Second), Joined: 1000, Served: int64(i), AdmittedTotal: int64(i / 2),
			EffectiveRate: 60, TicketsLeft: 500 - 3*int64(i/2)})
	}
	if m := measure(h[:30], time.Second); m.conversion != 0 {
		t.Errorf("conversion over 14 admissions: %g, want none yet", m.conversion)
	}
	if m := measure(h, time.Second); m.conversion != 3 {
		t.Errorf("conversion %g, want 3 tickets per admission", m.conversion)
	}
}
