// Package queuetest is the conformance suite of queue.Store: every
// implementation runs the same cases, so the in-memory store and the Redis
// store answer alike, call for call.
//
// Each case owns a fake Clock and makes its own store with it, so no case
// sleeps or depends on how fast the machine is.
package queuetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

// NewStore makes a store for one test case whose clock is now. It must
// release the store, and anything the store left behind, in t.Cleanup.
type NewStore func(t *testing.T, now func() time.Time) queue.Store

// Peer opens a second store on the data of s, which NewStore made with the
// clock now, as another gateway instance would: for Redis, a store with a
// client of its own on the same server and prefix. An implementation that
// serves a single instance answers s itself. Like NewStore, it releases
// what it opened in t.Cleanup.
type Peer func(t *testing.T, s queue.Store, now func() time.Time) queue.Store

// Run runs the conformance suite against the stores that newStore makes,
// and their peers. Every case runs in parallel with the others, on its own
// store and rooms.
func Run(t *testing.T, newStore NewStore, peer Peer) {
	cases := []struct {
		name string
		run  func(t *testing.T, newStore NewStore)
	}{
		{"seqs are unique and gap-free under concurrent joins", testConcurrentJoins},
		{"join admits at once only when nobody waits", testJoinAdmits},
		{"advance offers within budget, capacity and line", testAdvanceBounds},
		{"budget refills at the rate up to the burst", testRefill},
		{"claim", testClaim},
		{"racing claims admit once", testClaimRace},
		{"lapsed offers hand budget and capacity back", testHandBack},
		{"never more than max active in a random run", testRandomRunLimits},
		{"visitors are admitted in arrival order", testFIFO},
		{"admissions per minute follow the rate", testRate},
		{"snapshot changes nothing", testSnapshotReadOnly},
		{"rooms are independent", testRoomsIndependent},
		{"empty room id is an error", testEmptyRoom},
		{"ping", testPing},
		{"policy save and load", testPolicySave},
		{"racing policy saves each win one version", testPolicyRace},
		{"audit trail keeps the newest entries", testAudit},
		{"watchers hear of every save", func(t *testing.T, newStore NewStore) { testWatch(t, newStore, peer) }},
		{"snapshots report the policy version", testPolicyVersion},
		{"throttle takes the burst, then a token an interval", testThrottle},
		{"throttle holds its rate over an hour", testThrottleRate},
		{"throttle at a rate of zero always allows", testThrottleZeroRate},
		{"throttle is shared by every store on the data", func(t *testing.T, newStore NewStore) { testThrottleShared(t, newStore, peer) }},
		{"throttles of rooms and names are independent", testThrottleIndependent},
		{"marks expire, extend and unmark", testMarks},
		{"racing marks of one key have one first", func(t *testing.T, newStore NewStore) { testMarksShared(t, newStore, peer) }},
		{"tickets rotate, and a retired one is a copy", testRotate},
		{"a release ends an admission and frees its capacity", testRelease},
		{"leases keep capacity and budget, and own admissions count once", testLease},
		{"limits older than the saved policy admit nobody", testStaleLimits},
		{"the first binding of a key stands", func(t *testing.T, newStore NewStore) { testBind(t, newStore, peer) }},
		{"racing uses of one ticket move it on once", func(t *testing.T, newStore NewStore) { testRotateShared(t, newStore, peer) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, newStore)
		})
	}
}

// Equivalent drives two stores through the same random walk on one clock,
// with limits that change as an operator's would, a stored policy that is
// saved, sometimes from a stale version, loaded and audited, and throttles
// whose rate and burst change with the limits, and fails at the first
// answer in which they differ. Stores that pass it behave alike to
// the millisecond and to the last unit of budget, so a deployment can move
// from one to the other without changing how its rooms admit.
func Equivalent(t *testing.T, newA, newB NewStore) {
	c := NewClock(Start)
	a, b := newA(t, c.Now), newB(t, c.Now)
	room := newRoom()
	w := newWalker(3, walkLimits())
	w.now = c.Now
	for i := range 3000 {
		sa, err := a.Snapshot(t.Context(), room)
		if err != nil {
			t.Fatalf("step %d: snapshot of the first store: %v", i, err)
		}
		sb, err := b.Snapshot(t.Context(), room)
		if err != nil {
			t.Fatalf("step %d: snapshot of the second store: %v", i, err)
		}
		if describe(sa) != describe(sb) {
			t.Fatalf("step %d: the stores read\n%s\n%s", i, describe(sa), describe(sb))
		}
		act := w.next()
		if act.kind == stepClock {
			c.Add(act.d)
			continue
		}
		ra, err := apply(t.Context(), a, room, act)
		if err != nil {
			t.Fatalf("step %d %s on the first store: %v", i, act, err)
		}
		rb, err := apply(t.Context(), b, room, act)
		if err != nil {
			t.Fatalf("step %d %s on the second store: %v", i, act, err)
		}
		if describe(ra) != describe(rb) {
			t.Fatalf("step %d %s: the stores answered\n%s\n%s", i, act, describe(ra), describe(rb))
		}
		w.record(act, ra)
	}
	if w.firsts+int64(w.reported) < 100 {
		t.Errorf("only %d admissions and %d own admissions in the walk: it exercised too little", w.firsts, w.reported)
	}
	if w.saves < 20 || w.conflicts < 5 {
		t.Errorf("only %d policy saves and %d conflicts in the walk: it exercised too little", w.saves, w.conflicts)
	}
	if w.tokens < 50 || w.refusals < 50 {
		t.Errorf("only %d throttle tokens taken and %d refused in the walk: it exercised too little", w.tokens, w.refusals)
	}
	if w.leasesHeld < 10 || w.reported < 10 {
		t.Errorf("only %d leases held budget and %d own admissions were reported in the walk: it exercised too little", w.leasesHeld, w.reported)
	}
	t.Logf("walk: %d admissions, %d policy saves, %d conflicts, %d throttle tokens, %d refusals, %d leases, %d own admissions",
		w.firsts, w.saves, w.conflicts, w.tokens, w.refusals, w.leasesHeld, w.reported)
}

// env is one case's store and clock, with calls that fail the test on error.
type env struct {
	t     *testing.T
	clock *Clock
	store queue.Store
}

func setup(t *testing.T, newStore NewStore) *env {
	t.Helper()
	c := NewClock(Start)
	return &env{t: t, clock: c, store: newStore(t, c.Now)}
}

func (e *env) join(room string, lim queue.Limits) queue.Place {
	e.t.Helper()
	p, err := e.store.Join(e.t.Context(), room, lim)
	if err != nil {
		e.t.Fatalf("Join(%q): %v", room, err)
	}
	return p
}

// wait joins n visitors who all wait: the room admits nobody at once.
func (e *env) wait(room string, n int) {
	e.t.Helper()
	for range n {
		e.join(room, queue.Limits{})
	}
}

func (e *env) claim(room string, seq int64, lim queue.Limits) queue.Claim {
	e.t.Helper()
	c, err := e.store.Claim(e.t.Context(), room, seq, lim)
	if err != nil {
		e.t.Fatalf("Claim(%q, %d): %v", room, seq, err)
	}
	return c
}

func (e *env) advance(room string, lim queue.Limits) queue.Snapshot {
	e.t.Helper()
	s, err := e.store.Advance(e.t.Context(), room, lim)
	if err != nil {
		e.t.Fatalf("Advance(%q): %v", room, err)
	}
	return s
}

func (e *env) snapshot(room string) queue.Snapshot {
	e.t.Helper()
	s, err := e.store.Snapshot(e.t.Context(), room)
	if err != nil {
		e.t.Fatalf("Snapshot(%q): %v", room, err)
	}
	return s
}

// wantSnapshot checks the counters of a snapshot; At must be the clock.
func (e *env) wantSnapshot(got queue.Snapshot, want queue.Snapshot) {
	e.t.Helper()
	want.At = e.clock.Now()
	if describe(got) != describe(want) {
		e.t.Errorf("snapshot:\n got %s\nwant %s", describe(got), describe(want))
	}
}

// wantClaim checks a claim, expiry included.
func (e *env) wantClaim(got queue.Claim, want queue.Claim) {
	e.t.Helper()
	if describe(got) != describe(want) {
		e.t.Errorf("claim:\n got %s\nwant %s", describe(got), describe(want))
	}
}

var rooms atomic.Int64

// newRoom returns a room id that no other case uses.
func newRoom() string {
	return fmt.Sprintf("room-%d", rooms.Add(1))
}

// describe renders a store's answer for comparison and messages; times are
// shown as Unix milliseconds, the stores' precision.
func describe(v any) string {
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	switch v := v.(type) {
	case queue.Place:
		return fmt.Sprintf("place{seq %d, admitted %t, expires %d}", v.Seq, v.Admitted, ms(v.Expires))
	case queue.Claim:
		return fmt.Sprintf("claim{%s, expires %d, first %t}", v.Outcome, ms(v.Expires), v.First)
	case queue.Snapshot:
		return fmt.Sprintf("snapshot{joined %d, served %d, active %d, pending %d, admitted %d, offered %d, at %d, policy %d, leased %d}",
			v.Joined, v.Served, v.Active, v.Pending, v.AdmittedTotal, v.Offered, ms(v.At), v.PolicyVersion, v.Leased)
	case queue.Lease:
		return fmt.Sprintf("lease{n %d, total %d, served %d, at %d, expires %d}", v.N, v.Total, v.Served, ms(v.At), ms(v.Expires))
	case queue.Policy:
		return fmt.Sprintf("policy{version %d, config %q, data %q}", v.Version, v.ConfigHash, v.Data)
	case saved:
		if v.version == 0 {
			return "saved{conflict}"
		}
		return fmt.Sprintf("saved{version %d}", v.version)
	case loaded:
		if !v.found {
			return "loaded{not found}"
		}
		return "loaded" + describe(v.policy)
	case [][]byte:
		return fmt.Sprintf("audit%q", v)
	case throttled:
		if v.ok {
			return "throttle{allowed}"
		}
		return fmt.Sprintf("throttle{refused, retry after %v}", v.retry)
	}
	return fmt.Sprintf("%#v", v)
}

// open is an open room's policy with room to spare; cases narrow it.
func open() queue.Limits {
	return queue.Limits{
		Admit:         true,
		RatePerMinute: 60,
		Burst:         1,
		MaxActive:     100,
		Session:       10 * time.Minute,
		ClaimWindow:   30 * time.Second,
	}
}

func testConcurrentJoins(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	const n = 200

	places := make([]queue.Place, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			places[i], errs[i] = e.store.Join(t.Context(), room, open())
		})
	}
	wg.Wait()

	var seqs []int64
	for i, p := range places {
		if errs[i] != nil {
			t.Fatalf("Join: %v", errs[i])
		}
		seqs = append(seqs, p.Seq)
		// Budget is one unit, so only the very first joiner gets in.
		if p.Admitted != (p.Seq == 1) {
			t.Errorf("seq %d admitted = %t", p.Seq, p.Admitted)
		}
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("sorted seqs[%d] = %d, want %d: seqs are not 1..%d without gaps", i, s, i+1, n)
		}
	}
	e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: n, Served: 1, Active: 1, AdmittedTotal: 1})
}

func testJoinAdmits(t *testing.T, newStore NewStore) {
	closed := open()
	closed.Admit = false
	noBudget := open()
	noBudget.RatePerMinute = 0
	full := open()
	full.MaxActive = 1
	full.Burst = 5
	spare := open()
	spare.Burst = 5

	tests := []struct {
		name     string
		prepare  func(e *env, room string)
		lim      queue.Limits
		want     queue.Place
		wantSnap queue.Snapshot
	}{
		{
			name:     "empty open room admits the first joiner",
			prepare:  func(*env, string) {},
			lim:      open(),
			want:     queue.Place{Seq: 1, Admitted: true, Expires: Start.Add(open().Session)},
			wantSnap: queue.Snapshot{Joined: 1, Served: 1, Active: 1, AdmittedTotal: 1},
		},
		{
			name:     "closed room admits nobody",
			prepare:  func(*env, string) {},
			lim:      closed,
			want:     queue.Place{Seq: 1},
			wantSnap: queue.Snapshot{Joined: 1},
		},
		{
			name:     "someone waits ahead",
			prepare:  func(e *env, room string) { e.wait(room, 1) },
			lim:      spare,
			want:     queue.Place{Seq: 2},
			wantSnap: queue.Snapshot{Joined: 2},
		},
		{
			name:     "no budget left",
			prepare:  func(e *env, room string) { e.join(room, noBudget) },
			lim:      noBudget,
			want:     queue.Place{Seq: 2},
			wantSnap: queue.Snapshot{Joined: 2, Served: 1, Active: 1, AdmittedTotal: 1},
		},
		{
			name:     "room is full",
			prepare:  func(e *env, room string) { e.join(room, full) },
			lim:      full,
			want:     queue.Place{Seq: 2},
			wantSnap: queue.Snapshot{Joined: 2, Served: 1, Active: 1, AdmittedTotal: 1},
		},
		{
			name: "pending offers fill the room",
			prepare: func(e *env, room string) {
				e.wait(room, 1)
				e.advance(room, full)
			},
			lim:      full,
			want:     queue.Place{Seq: 2},
			wantSnap: queue.Snapshot{Joined: 2, Served: 1, Pending: 1},
		},
		{
			name: "a session frees its place the instant it ends",
			prepare: func(e *env, room string) {
				e.join(room, full)
				e.clock.Add(full.Session)
			},
			lim:      full,
			want:     queue.Place{Seq: 2, Admitted: true, Expires: Start.Add(2 * full.Session)},
			wantSnap: queue.Snapshot{Joined: 2, Served: 2, Active: 1, AdmittedTotal: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			room := newRoom()
			tt.prepare(e, room)
			if got := e.join(room, tt.lim); describe(got) != describe(tt.want) {
				t.Errorf("Join = %s, want %s", describe(got), describe(tt.want))
			}
			e.wantSnapshot(e.snapshot(room), tt.wantSnap)
		})
	}
}

func testAdvanceBounds(t *testing.T, newStore NewStore) {
	with := func(burst float64, maxActive int) queue.Limits {
		l := open()
		l.RatePerMinute, l.Burst, l.MaxActive = 0, burst, maxActive
		return l
	}
	closed := with(10, 100)
	closed.Admit = false

	tests := []struct {
		name    string
		lim     queue.Limits
		waiting int
		want    int
	}{
		{"budget", with(3, 100), 10, 3},
		{"fraction of budget", with(2.5, 100), 10, 2},
		{"capacity", with(10, 4), 10, 4},
		{"no capacity", with(10, 0), 10, 0},
		{"line", with(10, 100), 6, 6},
		{"nobody waits", with(10, 100), 0, 0},
		{"a burst below one counts as one", with(0, 100), 10, 1},
		{"closed", closed, 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			room := newRoom()
			e.wait(room, tt.waiting)

			got := e.advance(room, tt.lim)
			n := int64(tt.want)
			e.wantSnapshot(got, queue.Snapshot{Joined: int64(tt.waiting), Served: n, Pending: tt.want, Offered: tt.want})
			// Whatever bound held, it still holds at the same instant.
			again := e.advance(room, tt.lim)
			e.wantSnapshot(again, queue.Snapshot{Joined: int64(tt.waiting), Served: n, Pending: tt.want})
		})
	}
}

func testRefill(t *testing.T, newStore NewStore) {
	type step struct {
		after time.Duration
		want  int
	}
	tests := []struct {
		name        string
		rate, burst float64
		steps       []step
	}{
		{"rate and burst", 60, 5, []step{
			{0, 5}, // a new room starts with a full burst
			{0, 0},
			{time.Second, 1},
			{2500 * time.Millisecond, 2}, // half a unit carries over
			{500 * time.Millisecond, 1},
			{time.Minute, 5}, // refill stops at the burst
			{0, 0},
			{-10 * time.Second, 0}, // a clock that steps back takes nothing
			{11 * time.Second, 1},
		}},
		// 34.8 s at 50 a minute is 29 units, but elapsed / 60000 * rate
		// in float64 is 28.999999999999996. Every store computes it in
		// that order and keeps the budget to the last bit between calls,
		// so that stores agree on every offer.
		{"budget is kept to the last bit", 50, 100, []step{
			{0, 100},
			{34800 * time.Millisecond, 28},
			{0, 0},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			room := newRoom()
			lim := open()
			lim.RatePerMinute, lim.Burst, lim.MaxActive = tt.rate, tt.burst, 1000
			lim.ClaimWindow = time.Hour // no offer lapses, so no budget comes back
			e.wait(room, 500)
			for i, s := range tt.steps {
				e.clock.Add(s.after)
				if got := e.advance(room, lim).Offered; got != s.want {
					t.Errorf("step %d (after %v): offered %d, want %d", i, s.after, got, s.want)
				}
			}
		})
	}
}

func testClaim(t *testing.T, newStore NewStore) {
	lim := open()
	window, session := lim.ClaimWindow, lim.Session
	admitted := func(e *env, first bool) queue.Claim {
		return queue.Claim{Outcome: queue.Admitted, Expires: e.clock.Now().Add(session), First: first}
	}
	// offerOne makes seq 1 an offer nobody has claimed yet.
	offerOne := func(e *env, room string, lim queue.Limits) {
		e.wait(room, 1)
		if got := e.advance(room, lim).Offered; got != 1 {
			e.t.Fatalf("setup: offered %d, want 1", got)
		}
	}

	tests := []struct {
		name string
		run  func(e *env, room string)
	}{
		{"not offered", func(e *env, room string) {
			e.wait(room, 2)
			closed := lim
			closed.Admit = false
			e.advance(room, closed)
			for _, seq := range []int64{-1, 0, 1, 2, 3} {
				e.wantClaim(e.claim(room, seq, lim), queue.Claim{Outcome: queue.NotOffered})
			}
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 2})
		}},
		{"claim within the window", func(e *env, room string) {
			offerOne(e, room, lim)
			e.clock.Add(window - time.Millisecond)
			e.wantClaim(e.claim(room, 1, lim), admitted(e, true))
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 1, Served: 1, Active: 1, AdmittedTotal: 1})
		}},
		{"repeated claim keeps the expiry", func(e *env, room string) {
			offerOne(e, room, lim)
			want := admitted(e, false)
			e.claim(room, 1, lim)
			e.clock.Add(time.Minute)
			e.wantClaim(e.claim(room, 1, lim), want)
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 1, Served: 1, Active: 1, AdmittedTotal: 1})
		}},
		{"claim after an admission at join", func(e *env, room string) {
			p := e.join(room, lim)
			e.clock.Add(time.Second)
			e.wantClaim(e.claim(room, p.Seq, lim), queue.Claim{Outcome: queue.Admitted, Expires: p.Expires})
		}},
		{"claim after the session ends", func(e *env, room string) {
			e.join(room, lim)
			e.clock.Add(session - time.Millisecond)
			e.wantClaim(e.claim(room, 1, lim), queue.Claim{Outcome: queue.Admitted, Expires: Start.Add(session)})
			e.clock.Add(time.Millisecond)
			e.wantClaim(e.claim(room, 1, lim), queue.Claim{Outcome: queue.Ended})
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 1, Served: 1, AdmittedTotal: 1})
		}},
		{"lapsed offer with no budget", func(e *env, room string) {
			l := lim
			l.RatePerMinute = 0
			e.wait(room, 1)
			offerOne(e, room, l)
			e.clock.Add(window)
			// Seq 1's budget comes back and goes to seq 2.
			if got := e.advance(room, l).Offered; got != 1 {
				e.t.Fatalf("offered %d after the lapse, want 1", got)
			}
			e.wantClaim(e.claim(room, 1, l), queue.Claim{Outcome: queue.Lapsed})
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 2, Served: 2, Pending: 1})
		}},
		{"lapsed offer with no capacity", func(e *env, room string) {
			l := lim
			l.RatePerMinute, l.Burst, l.MaxActive = 0, 2, 1
			e.wait(room, 2)
			offerOne(e, room, l)
			e.clock.Add(window)
			if got := e.advance(room, l).Offered; got != 1 {
				e.t.Fatalf("offered %d after the lapse, want 1", got)
			}
			// One unit of budget is left, but seq 2's offer fills the room.
			e.wantClaim(e.claim(room, 1, l), queue.Claim{Outcome: queue.Lapsed})
		}},
		{"lapsed offer in a closed room", func(e *env, room string) {
			offerOne(e, room, lim)
			e.clock.Add(window)
			closed := lim
			closed.Admit = false
			e.wantClaim(e.claim(room, 1, closed), queue.Claim{Outcome: queue.Lapsed})
		}},
		{"a shorter session ends first", func(e *env, room string) {
			l := lim
			l.Burst, l.MaxActive = 3, 2
			e.join(room, l)
			l.Session = time.Minute // the operator shortens sessions
			e.join(room, l)
			e.clock.Add(time.Minute)
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 2, Served: 2, Active: 1, AdmittedTotal: 2})
			e.wantClaim(e.claim(room, 2, l), queue.Claim{Outcome: queue.Ended})
			e.wantClaim(e.claim(room, 1, l), queue.Claim{Outcome: queue.Admitted, Expires: Start.Add(session)})
			// Seq 2's place is free again.
			if p := e.join(room, l); !p.Admitted {
				e.t.Errorf("join after a session ended: %s, want admitted", describe(p))
			}
		}},
		{"a shorter window lapses a later offer first", func(e *env, room string) {
			l := lim
			l.RatePerMinute, l.Burst = 0, 2
			offerOne(e, room, l)
			e.wait(room, 1)
			e.clock.Add(time.Second)
			l.ClaimWindow = 5 * time.Second // the operator shortens the window
			if got := e.advance(room, l).Offered; got != 1 {
				e.t.Fatalf("offered %d, want 1", got)
			}
			e.clock.Add(l.ClaimWindow)
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: 2, Served: 2, Pending: 1})
			e.wantClaim(e.claim(room, 2, l), queue.Claim{Outcome: queue.Lapsed})
			e.wantClaim(e.claim(room, 1, l), admitted(e, true))
		}},
		{"lapsed offer claimed late", func(e *env, room string) {
			l := lim
			l.RatePerMinute = 0
			offerOne(e, room, l)
			e.wait(room, 1)
			e.clock.Add(window)
			e.wantClaim(e.claim(room, 1, l), admitted(e, true))
			// The late claim spent the unit that the lapse handed back, so
			// seq 2 gets no offer.
			got := e.advance(room, l)
			e.wantSnapshot(got, queue.Snapshot{Joined: 2, Served: 1, Active: 1, AdmittedTotal: 1})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(setup(t, newStore), newRoom())
		})
	}
}

func testClaimRace(t *testing.T, newStore NewStore) {
	const n = 50
	tests := []struct {
		name    string
		offered int // seqs offered, from 1
		claims  func(i int) int64
	}{
		// Two tabs of one visitor claim fifty times over.
		{"one seq", 1, func(int) int64 { return 1 }},
		// Two tabs of each of fifty visitors claim at once.
		{"every seq", n, func(i int) int64 { return int64(i + 1) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			room := newRoom()
			lim := open()
			lim.Burst = float64(tt.offered)
			e.wait(room, tt.offered)
			if got := e.advance(room, lim).Offered; got != tt.offered {
				t.Fatalf("offered %d, want %d", got, tt.offered)
			}

			var claims [2][n]queue.Claim
			var errs [2]error
			start := make(chan struct{})
			var wg sync.WaitGroup
			for g := range claims {
				wg.Go(func() {
					<-start
					for i := range n {
						claims[g][i], errs[g] = e.store.Claim(t.Context(), room, tt.claims(i), lim)
						if errs[g] != nil {
							return
						}
					}
				})
			}
			close(start)
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatalf("Claim: %v", err)
				}
			}

			firsts := make(map[int64]int)
			want := queue.Claim{Outcome: queue.Admitted, Expires: Start.Add(lim.Session)}
			for g := range claims {
				for i, c := range claims[g] {
					if c.First {
						firsts[tt.claims(i)]++
					}
					c.First = false
					e.wantClaim(c, want)
				}
			}
			for seq := int64(1); seq <= int64(tt.offered); seq++ {
				if firsts[seq] != 1 {
					t.Errorf("seq %d: %d claims answered First, want exactly 1", seq, firsts[seq])
				}
			}
			m := int64(tt.offered)
			e.wantSnapshot(e.snapshot(room), queue.Snapshot{Joined: m, Served: m, Active: tt.offered, AdmittedTotal: m})
		})
	}
}

func testHandBack(t *testing.T, newStore NewStore) {
	with := func(rate, burst float64, maxActive int) queue.Limits {
		l := open()
		l.RatePerMinute, l.Burst, l.MaxActive = rate, burst, maxActive
		return l
	}
	window := open().ClaimWindow
	type step struct {
		after   time.Duration
		join    int // visitors who join before the advance
		offered int
		pending int
	}
	tests := []struct {
		name  string
		lim   queue.Limits
		steps []step
	}{
		{"budget", with(0, 2, 100), []step{
			{0, 10, 2, 2}, {0, 0, 0, 2}, {window - time.Millisecond, 0, 0, 2}, {time.Millisecond, 0, 2, 2},
		}},
		{"capacity", with(0, 100, 2), []step{
			{0, 10, 2, 2}, {0, 0, 0, 2}, {window - time.Millisecond, 0, 0, 2}, {time.Millisecond, 0, 2, 2},
		}},
		// Two units refill up to the burst and two come back on top.
		{"handed back budget is not cut at the burst", with(60, 2, 100), []step{
			{0, 10, 2, 2}, {window, 0, 4, 4},
		}},
		// Nobody waits when the budget comes back, so it is still there,
		// above the burst, at the next refill.
		{"handed back budget outlasts refills", with(60, 2, 100), []step{
			{0, 2, 2, 2}, {window, 0, 0, 0}, {time.Second, 4, 4, 4},
		}},
		{"a negative rate counts as zero", with(-60, 2, 100), []step{
			{0, 10, 2, 2}, {window, 0, 2, 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			room := newRoom()
			var joined, served int64
			for i, s := range tt.steps {
				e.clock.Add(s.after)
				e.wait(room, s.join)
				joined += int64(s.join)
				served += int64(s.offered)
				got := e.advance(room, tt.lim)
				if got.Offered != s.offered {
					t.Fatalf("step %d (after %v): offered %d, want %d", i, s.after, got.Offered, s.offered)
				}
				e.wantSnapshot(got, queue.Snapshot{Joined: joined, Served: served, Pending: s.pending, Offered: s.offered})
			}
		})
	}
}

func testRandomRunLimits(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	w := newWalker(1, walkLimits())

	var last queue.Snapshot
	for i := range 2000 {
		a := w.next()
		if a.kind == stepClock {
			e.clock.Add(a.d)
		} else {
			res, err := apply(t.Context(), e.store, room, a)
			if err != nil {
				t.Fatalf("step %d %s: %v", i, a, err)
			}
			w.record(a, res)
		}

		s := e.snapshot(room)
		if s.Active+s.Pending > w.lim.MaxActive {
			t.Fatalf("step %d %s: %d active + %d pending > max active %d", i, a, s.Active, s.Pending, w.lim.MaxActive)
		}
		if s.Active < 0 || s.Pending < 0 || s.Served > s.Joined || s.Served < last.Served {
			t.Fatalf("step %d %s: inconsistent %s after %s", i, a, describe(s), describe(last))
		}
		if s.Joined != w.joined || s.AdmittedTotal != w.firsts {
			t.Fatalf("step %d %s: %s, want joined %d and admitted %d", i, a, describe(s), w.joined, w.firsts)
		}
		last = s
	}
	if w.firsts < 100 {
		t.Errorf("only %d admissions in the run: it exercised too little", w.firsts)
	}
}

func testFIFO(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	const n = 1000
	lim := queue.Limits{
		Admit:         true,
		RatePerMinute: 600,
		Burst:         10,
		MaxActive:     50,
		Session:       5 * time.Second,
		ClaimWindow:   10 * time.Second,
	}

	var order []int64
	for range n {
		if p := e.join(room, lim); p.Admitted {
			order = append(order, p.Seq)
		}
	}
	next := int64(len(order) + 1)
	for tick := 0; next <= n; tick++ {
		if tick > 10*n {
			t.Fatalf("line stalled at seq %d", next)
		}
		e.clock.Add(time.Second)
		served := e.advance(room, lim).Served
		// Claim every offered seq in turn, and check that the two after
		// the frontier have no offer yet.
		for ; next <= min(served+2, n); next++ {
			c := e.claim(room, next, lim)
			if next > served {
				e.wantClaim(c, queue.Claim{Outcome: queue.NotOffered})
				break
			}
			if c.Outcome != queue.Admitted || !c.First {
				t.Fatalf("offered seq %d: claim answered %s", next, describe(c))
			}
			order = append(order, next)
		}
	}
	for i, seq := range order {
		if seq != int64(i+1) {
			t.Fatalf("admission %d went to seq %d, want %d", i+1, seq, i+1)
		}
	}
	if len(order) != n {
		t.Fatalf("admitted %d visitors, want %d", len(order), n)
	}
}

func testRate(t *testing.T, newStore NewStore) {
	tests := []struct {
		name        string
		noShows     int // of every 10 consecutive visitors
		firstMinute int // the first minute held to the rate
	}{
		{"everyone claims", 0, 0},
		// Until the first offers lapse, no-shows hold their budget.
		{"30% no-shows", 3, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			room := newRoom()
			const (
				visitors = 2000
				minutes  = 10
				rate     = 120
			)
			lim := queue.Limits{
				Admit:         true,
				RatePerMinute: rate,
				Burst:         4,
				MaxActive:     1_000_000,
				Session:       time.Hour,
				ClaimWindow:   30 * time.Second,
			}
			noShow := noShows(visitors, tt.noShows)

			var perMinute [minutes]int
			for range visitors {
				if e.join(room, lim).Admitted {
					perMinute[0]++
				}
			}
			served := e.snapshot(room).Served
			for tick := range minutes * 60 {
				if tick > 0 {
					e.clock.Add(time.Second)
				}
				s := e.advance(room, lim)
				if s.Served >= visitors {
					t.Fatalf("minute %d: the line ran out, so the rate is not tested", tick/60)
				}
				for ; served < s.Served; served++ {
					seq := served + 1
					if noShow[seq] {
						continue
					}
					if c := e.claim(room, seq, lim); !c.First {
						t.Fatalf("seq %d claimed as soon as offered: %s", seq, describe(c))
					}
					perMinute[tick/60]++
				}
			}

			for m := tt.firstMinute; m < minutes; m++ {
				if got := perMinute[m]; got < rate*9/10 || got > rate*11/10 {
					t.Errorf("minute %d: %d admissions, want %d ± 10%%", m, got, rate)
				}
			}
			t.Logf("admissions per minute: %v", perMinute)
		})
	}
}

// noShows picks k of every 10 consecutive seqs, at random places within
// each ten but exactly k, so that short stretches of the line have the
// proportion too. Seqs start at 1.
func noShows(n, k int) map[int64]bool {
	rng := rand.New(rand.NewPCG(7, 7))
	out := make(map[int64]bool)
	for base := 1; base <= n; base += 10 {
		for _, i := range rng.Perm(10)[:k] {
			out[int64(base+i)] = true
		}
	}
	return out
}

func testSnapshotReadOnly(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)

	// A read must not start a room's budget: the room starts with a full
	// burst at its first write, whatever was read before.
	fresh := newRoom()
	e.wantSnapshot(e.snapshot(fresh), queue.Snapshot{})
	e.clock.Add(time.Minute)
	e.wantSnapshot(e.snapshot(fresh), queue.Snapshot{})
	e.wait(fresh, 5)
	lim := open()
	lim.RatePerMinute, lim.Burst = 0, 3
	if got := e.advance(fresh, lim).Offered; got != 3 {
		t.Errorf("first advance after snapshots of a new room offered %d, want the burst of 3", got)
	}

	// Drive two rooms through the same steps, reading one of them before
	// and after every step: their answers must not differ.
	read, unread := newRoom(), newRoom()
	w := newWalker(2, walkLimits())
	for i := range 600 {
		a := w.next()
		if a.kind == stepClock {
			e.clock.Add(a.d)
			continue
		}
		before := e.snapshot(read)
		if again := e.snapshot(read); describe(again) != describe(before) {
			t.Fatalf("step %d: snapshot %s, then %s", i, describe(before), describe(again))
		}
		got, err := apply(t.Context(), e.store, read, a)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, a, err)
		}
		want, err := apply(t.Context(), e.store, unread, a)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, a, err)
		}
		if describe(got) != describe(want) {
			t.Fatalf("step %d %s: room read between steps answered %s, unread room %s", i, a, describe(got), describe(want))
		}
		if s, ok := got.(queue.Snapshot); ok {
			// Advance answers what a snapshot at the same instant reads.
			s.Offered = 0
			e.wantSnapshot(e.snapshot(read), s)
		}
		w.record(a, got)
	}
	if describe(e.snapshot(read)) != describe(e.snapshot(unread)) {
		t.Errorf("final snapshots differ: %s and %s", describe(e.snapshot(read)), describe(e.snapshot(unread)))
	}
}

func testRoomsIndependent(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	lim := open()
	lim.MaxActive = 1
	a, b, c := newRoom(), newRoom(), newRoom()

	e.join(a, lim)
	e.join(a, lim)
	if got := e.join(b, lim); !got.Admitted || got.Seq != 1 {
		t.Errorf("first join of a second room: %s, want seq 1 admitted", describe(got))
	}
	e.wantClaim(e.claim(c, 1, lim), queue.Claim{Outcome: queue.NotOffered})
	e.wantSnapshot(e.snapshot(a), queue.Snapshot{Joined: 2, Served: 1, Active: 1, AdmittedTotal: 1})
	e.wantSnapshot(e.snapshot(b), queue.Snapshot{Joined: 1, Served: 1, Active: 1, AdmittedTotal: 1})
	e.wantSnapshot(e.snapshot(c), queue.Snapshot{})
}

func testEmptyRoom(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	ctx := t.Context()
	if _, err := e.store.Join(ctx, "", open()); err == nil {
		t.Error("Join accepted an empty room id")
	}
	if _, err := e.store.Claim(ctx, "", 1, open()); err == nil {
		t.Error("Claim accepted an empty room id")
	}
	if _, err := e.store.Advance(ctx, "", open()); err == nil {
		t.Error("Advance accepted an empty room id")
	}
	if _, err := e.store.Snapshot(ctx, ""); err == nil {
		t.Error("Snapshot accepted an empty room id")
	}
	if _, err := e.store.LoadPolicy(ctx, ""); err == nil || errors.Is(err, queue.ErrNotFound) {
		t.Errorf("LoadPolicy of an empty room id: %v, want an error other than queue.ErrNotFound", err)
	}
	if _, err := e.store.SavePolicy(ctx, "", queue.Policy{}, 0, nil); err == nil {
		t.Error("SavePolicy accepted an empty room id")
	}
	if _, err := e.store.Audit(ctx, "", 1); err == nil {
		t.Error("Audit accepted an empty room id")
	}
	if _, _, err := e.store.Throttle(ctx, "", "join", 60, 1); err == nil {
		t.Error("Throttle accepted an empty room id")
	}
}

func testPing(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	if err := e.store.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
}
