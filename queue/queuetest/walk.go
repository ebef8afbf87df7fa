package queuetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/usherhq/usher/queue"
)

// A walker plays a room's visitors and operator at random, from a fixed
// seed: it joins, advances the line, claims offers (some visitors never
// come back), repeats claims, claims places that were never offered, pauses
// the room, saves, loads and audits the room's stored policy, sometimes
// from a stale version, takes tokens from the room's throttles, and moves
// the clock.
type walker struct {
	rng *rand.Rand
	lim queue.Limits

	// The throttles' rate and burst, which change with the policy. Rates
	// of a minute or more per token, against a clock that moves about a
	// second a step, make refusals as common as tokens.
	perMinute float64
	burst     int

	joined, served int64
	firsts         int64   // admissions, at join or by claim
	offered        []int64 // offered seqs whose visitors will claim them
	admitted       []int64
	version        int64 // of the stored policy
	saves          int   // policy saves that won
	conflicts      int   // policy saves that met a conflict
	tokens         int   // throttle calls that took a token
	refusals       int   // throttle calls that were refused

	// now, when set, is the walk's clock, and the walk takes leases and
	// reports admissions made under them.
	now        func() time.Time
	leases     map[string]queue.Lease // each holder's last lease
	leasesHeld int                    // leases that held some budget
	reported   int                    // own admissions reported
}

// walkLimits is small enough that budget and capacity both bind often.
func walkLimits() queue.Limits {
	return queue.Limits{
		Admit:         true,
		RatePerMinute: 30,
		Burst:         3,
		MaxActive:     5,
		Session:       30 * time.Second,
		ClaimWindow:   20 * time.Second,
	}
}

func newWalker(seed uint64, lim queue.Limits) *walker {
	return &walker{rng: rand.New(rand.NewPCG(seed, seed)), lim: lim, perMinute: 1, burst: 2}
}

type kind int

const (
	joinVisitor kind = iota
	advanceLine
	claimSeq
	stepClock
	savePolicy
	loadPolicy
	readAudit
	throttleBucket
	leaseBudget
)

// action is one step of a walk.
type action struct {
	kind   kind
	lim    queue.Limits
	seq    int64         // claimSeq only
	d      time.Duration // stepClock only
	policy queue.Policy  // savePolicy only
	expect int64         // savePolicy only
	audit  []byte        // savePolicy only
	n      int           // readAudit only
	name   string        // throttleBucket only
	rate   float64       // throttleBucket only, per minute
	burst  int           // throttleBucket only
	holder string        // leaseBudget only
	used   []queue.LeaseAdmission
	want   int
	ttl    time.Duration
}

// saved is a policy save's answer in a walk: the new version, or 0 when
// the save met a conflict.
type saved struct {
	version int64
}

// loaded is a policy load's answer in a walk; found is false for a room
// that has no policy yet.
type loaded struct {
	policy queue.Policy
	found  bool
}

func (a action) String() string {
	switch a.kind {
	case joinVisitor:
		return fmt.Sprintf("join(admit %t)", a.lim.Admit)
	case advanceLine:
		return fmt.Sprintf("advance(admit %t)", a.lim.Admit)
	case claimSeq:
		return fmt.Sprintf("claim(%d, admit %t)", a.seq, a.lim.Admit)
	case savePolicy:
		return fmt.Sprintf("save policy(expect %d, audit %t)", a.expect, a.audit != nil)
	case loadPolicy:
		return "load policy"
	case readAudit:
		return fmt.Sprintf("audit(%d)", a.n)
	case throttleBucket:
		return fmt.Sprintf("throttle(%s, %v a minute, burst %d)", a.name, a.rate, a.burst)
	case leaseBudget:
		return fmt.Sprintf("lease(%s, used %v, want %d, ttl %v, admit %t)", a.holder, a.used, a.want, a.ttl, a.lim.Admit)
	}
	return fmt.Sprintf("clock +%v", a.d)
}

// next picks the next action. The room is paused (Admit false) now and
// then, and its policy changes every fifty steps or so.
func (w *walker) next() action {
	if w.rng.IntN(50) == 0 {
		w.changePolicy()
	}
	if w.rng.IntN(20) == 0 {
		return w.policyAction()
	}
	if w.rng.IntN(10) == 0 {
		name := []string{"join", "status"}[w.rng.IntN(2)]
		return action{kind: throttleBucket, name: name, rate: w.perMinute, burst: w.burst}
	}
	lim := w.lim
	lim.Admit = w.rng.IntN(10) < 8
	if w.now != nil && w.rng.IntN(20) == 0 {
		return w.leaseAction(lim)
	}
	switch r := w.rng.IntN(100); {
	case r < 30:
		return action{kind: joinVisitor, lim: lim}
	case r < 50:
		return action{kind: advanceLine, lim: lim}
	case r < 85:
		return action{kind: claimSeq, lim: lim, seq: w.pickClaim()}
	}
	return action{kind: stepClock, d: time.Duration(w.rng.IntN(15_000)) * time.Millisecond}
}

// leaseAction renews a holder's lease, reporting some of the admissions its
// last lease allowed, as a gateway would after the store came back: places
// beyond the lease's frontier, no more than it held, some of them already
// over.
func (w *walker) leaseAction(lim queue.Limits) action {
	holder := []string{"a", "b"}[w.rng.IntN(2)]
	a := action{kind: leaseBudget, lim: lim, holder: holder, want: []int{0, 1, 2}[w.rng.IntN(3)],
		ttl: []time.Duration{5 * time.Second, 20 * time.Second}[w.rng.IntN(2)]}
	if l := w.leases[holder]; l.N > 0 && w.rng.IntN(2) == 0 {
		for seq := l.Served + 1; seq <= l.Served+int64(l.Total) && len(a.used) < l.N; seq++ {
			if w.rng.IntN(3) > 0 {
				exp := w.now().Add(w.lim.Session)
				if w.rng.IntN(5) == 0 {
					exp = w.now().Add(-time.Second)
				}
				a.used = append(a.used, queue.LeaseAdmission{Seq: seq, Expires: exp})
			}
		}
	}
	return a
}

// changePolicy changes everything but MaxActive, as an operator might:
// sessions and claim windows that shrink make admissions expire and offers
// lapse out of order, and odd rates leave fractions of budget.
func (w *walker) changePolicy() {
	w.lim.RatePerMinute = []float64{0, 7, 30, 90}[w.rng.IntN(4)]
	w.lim.Burst = []float64{1, 2.5, 4}[w.rng.IntN(3)]
	w.lim.Session = []time.Duration{10 * time.Second, 30 * time.Second, 90 * time.Second}[w.rng.IntN(3)]
	w.lim.ClaimWindow = []time.Duration{5 * time.Second, 20 * time.Second}[w.rng.IntN(2)]
	// 0.7 a minute is an interval of 85714285.7 µs, rounded up.
	w.perMinute = []float64{-1, 0, 0.35, 0.7, 1}[w.rng.IntN(5)]
	w.burst = []int{0, 1, 2, 4}[w.rng.IntN(4)]
}

// policyAction saves the room's stored policy, mostly from the version it
// last saw and sometimes from one before or after it, or reads the policy or
// the audit trail. Data and audit entries are random bytes, not always text.
func (w *walker) policyAction() action {
	switch r := w.rng.IntN(10); {
	case r < 6:
		expect := w.version
		switch w.rng.IntN(4) {
		case 0:
			expect = max(0, expect-1)
		case 1:
			expect++
		}
		var audit []byte
		if w.rng.IntN(4) > 0 {
			audit = w.bytes()
		}
		p := queue.Policy{Data: w.bytes(), ConfigHash: []string{"", "a1", "b2"}[w.rng.IntN(3)]}
		return action{kind: savePolicy, policy: p, expect: expect, audit: audit}
	case r < 8:
		return action{kind: loadPolicy}
	}
	return action{kind: readAudit, n: []int{0, 1, 3, 50}[w.rng.IntN(4)]}
}

// bytes returns up to 16 random bytes.
func (w *walker) bytes() []byte {
	b := make([]byte, w.rng.IntN(17))
	for i := range b {
		b[i] = byte(w.rng.IntN(256))
	}
	return b
}

// pickClaim mostly claims an offer, in roughly the order offered; sometimes
// it repeats an admitted visitor's claim or claims any place at all.
func (w *walker) pickClaim() int64 {
	switch r := w.rng.IntN(100); {
	case r < 70 && len(w.offered) > 0:
		i := w.rng.IntN(min(5, len(w.offered)))
		seq := w.offered[i]
		w.offered = slices.Delete(w.offered, i, i+1)
		return seq
	case r < 85 && len(w.admitted) > 0:
		return w.admitted[w.rng.IntN(len(w.admitted))]
	}
	return w.rng.Int64N(w.joined+4) - 1
}

// record learns what an action did: new offers (a quarter of them are
// no-shows), admissions, and lapsed claims that the visitor will retry.
func (w *walker) record(a action, res any) {
	switch v := res.(type) {
	case queue.Place:
		w.joined++
		if v.Admitted {
			w.firsts++
			w.admitted = append(w.admitted, v.Seq)
			w.served = v.Seq
		}
	case queue.Snapshot:
		for seq := w.served + 1; seq <= v.Served; seq++ {
			if w.rng.IntN(4) > 0 {
				w.offered = append(w.offered, seq)
			}
		}
		w.served = v.Served
	case queue.Claim:
		switch {
		case v.First:
			w.firsts++
			w.admitted = append(w.admitted, a.seq)
		case v.Outcome == queue.Lapsed:
			w.offered = append(w.offered, a.seq)
		}
	case queue.Lease:
		if w.leases == nil {
			w.leases = map[string]queue.Lease{}
		}
		w.leases[a.holder] = v
		if v.N > 0 {
			w.leasesHeld++
		}
		w.reported += len(a.used)
		for seq := w.served + 1; seq <= v.Served; seq++ {
			w.offered = append(w.offered, seq)
		}
		w.served = max(w.served, v.Served)
	case throttled:
		if v.ok {
			w.tokens++
		} else {
			w.refusals++
		}
	case saved:
		if v.version == 0 {
			w.conflicts++
			return
		}
		w.saves++
		w.version = v.version
	}
}

// apply runs a store action and returns its answer: a queue.Place,
// queue.Claim, queue.Snapshot, saved, loaded, throttled, or the audit
// entries. A conflict and a missing policy are answers, not errors.
func apply(ctx context.Context, s queue.Store, room string, a action) (any, error) {
	switch a.kind {
	case joinVisitor:
		return s.Join(ctx, room, a.lim)
	case advanceLine:
		return s.Advance(ctx, room, a.lim)
	case claimSeq:
		return s.Claim(ctx, room, a.seq, a.lim)
	case savePolicy:
		v, err := s.SavePolicy(ctx, room, a.policy, a.expect, a.audit)
		if errors.Is(err, queue.ErrConflict) {
			return saved{}, nil
		}
		return saved{version: v}, err
	case loadPolicy:
		p, err := s.LoadPolicy(ctx, room)
		if errors.Is(err, queue.ErrNotFound) {
			return loaded{}, nil
		}
		return loaded{policy: p, found: true}, err
	case readAudit:
		return s.Audit(ctx, room, a.n)
	case throttleBucket:
		ok, retry, err := s.Throttle(ctx, room, a.name, a.rate, a.burst)
		return throttled{ok: ok, retry: retry}, err
	case leaseBudget:
		return s.Lease(ctx, room, a.holder, a.used, a.want, a.ttl, a.lim)
	}
	return nil, fmt.Errorf("action %s is not a store call", a)
}
