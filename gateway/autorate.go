package gateway

import (
	"context"
	"fmt"
	"time"

	"github.com/usherhq/usher/admission"
)

// autoRateBucket names the queue store's throttle through which the
// instances take turns: one decision per room per auto_rate.every, by
// whichever instance comes first.
const autoRateBucket = "auto-rate"

// watchAutoRate reconsiders the rate of every room with auto_rate, each at
// its own pace, until ctx ends.
func (g *Gateway) watchAutoRate(ctx context.Context) {
	g.everyRoom(ctx, func(rm *room) time.Duration {
		if !rm.autoRate.On() {
			return 0
		}
		return time.Duration(rm.autoRate.Every)
	}, func(rm *room) {
		if _, err := g.adjustRate(ctx, rm); err != nil && ctx.Err() == nil {
			g.logStoreErrors.Do(func() { g.log.Warn("auto_rate failed", "room", rm.id, "err", err) })
		}
	})
}

// rateDecision is one reconsideration of a room's rate.
type rateDecision struct {
	// decided is false when another instance had this turn, or the room
	// does not admit now.
	decided  bool
	from, to float64
	reason   string
}

// adjustRate takes this instance's turn at a room's rate, when it is its
// turn: from the origin's answers to the room's requests over the last
// auto_rate.every, the rate backs off or climbs, and the change, with its
// reason, is saved like an operator's, so it reaches every instance and
// the audit trail shows why.
func (g *Gateway) adjustRate(ctx context.Context, rm *room) (rateDecision, error) {
	a := rm.autoRate
	p := rm.adm.Policy()
	if !a.On() || p.Phase(g.now()) != admission.StateOpen || p.Mode == admission.ModePassthrough {
		return rateDecision{}, nil
	}
	sctx, cancel := context.WithTimeout(ctx, time.Duration(g.cfg.Redis.Timeout))
	defer cancel()
	ok, _, err := g.store.Throttle(sctx, rm.id, autoRateBucket, float64(time.Minute)/float64(a.Every), 1)
	if err != nil || !ok {
		return rateDecision{}, err
	}
	d := decideRate(a, p.RatePerMinute, rm.adm.Origin.StatsOver(time.Duration(a.Every)))
	if d.to == d.from {
		return d, nil
	}
	_, _, _, err = rm.adm.Change(ctx, admission.Actor{Who: "auto_rate", Via: d.reason}, "auto_rate",
		func(p admission.Policy) (admission.Policy, []admission.FieldProblem) {
			return p.WithRate(d.to, g.now()), nil
		})
	if err != nil {
		return d, err
	}
	g.log.Info("auto_rate changed the rate", "room", rm.id, "from", d.from, "to", d.to, "reason", d.reason)
	return d, nil
}

// decideRate is the rule of auto_rate: back off multiplicatively while the
// origin is slow or failing, climb additively while it is healthy, stay
// when there were too few requests to tell, always within the bounds.
func decideRate(a AutoRateConfig, rate float64, st admission.OriginStats) rateDecision {
	d := rateDecision{decided: true, from: rate}
	cur := min(max(rate, a.MinPerMinute), a.MaxPerMinute)
	step := a.StepPerMinute
	if step == 0 {
		step = a.MaxPerMinute / 20
	}
	target := time.Duration(a.P95Target)
	switch {
	case st.Requests < int64(a.MinRequests):
		// Nothing to judge by; a rate set outside the bounds comes back
		// within them.
		d.to, d.reason = cur, fmt.Sprintf("the rate kept within auto_rate's bounds (%d origin requests in %s, too few to judge)", st.Requests, time.Duration(a.Every))
	case st.P95 > target:
		d.to = max(a.MinPerMinute, cur*a.Backoff)
		d.reason = fmt.Sprintf("origin p95 %s over the %s target", st.P95.Round(time.Millisecond), target)
	case st.ErrorRate > a.MaxErrorRate:
		d.to = max(a.MinPerMinute, cur*a.Backoff)
		d.reason = fmt.Sprintf("origin errors %.1f %% over %.1f %%", 100*st.ErrorRate, 100*a.MaxErrorRate)
	default:
		d.to = min(a.MaxPerMinute, cur+step)
		d.reason = fmt.Sprintf("origin healthy: p95 %s, errors %.1f %%", st.P95.Round(time.Millisecond), 100*st.ErrorRate)
	}
	return d
}
