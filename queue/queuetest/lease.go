package queuetest

import (
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

func (e *env) lease(room, holder string, used []queue.LeaseAdmission, want int, ttl time.Duration, lim queue.Limits) queue.Lease {
	e.t.Helper()
	l, err := e.store.Lease(e.t.Context(), room, holder, used, want, ttl, lim)
	if err != nil {
		e.t.Fatalf("Lease(%q, %q, %v, %d): %v", room, holder, used, want, err)
	}
	return l
}

// testLease: leases keep capacity and budget for their holders, shared
// fairly; the admissions a holder made on its own are recorded once, move
// the frontier and hand the lease back; a lease lapses by itself.
func testLease(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	lim := open()
	lim.Burst, lim.MaxActive = 10, 5
	paused := lim
	paused.Admit = false
	for range 8 {
		e.join(room, paused)
	}
	const ttl = 10 * time.Second
	e.clock.Add(time.Second)

	a := e.lease(room, "a", nil, 4, ttl, lim)
	if a.N != 4 || a.Total != 4 || a.Served != 0 || !a.Expires.Equal(a.At.Add(ttl)) {
		t.Fatalf("the first lease: %+v, want 4 of 4 at frontier 0, for %v", a, ttl)
	}
	if s := e.snapshot(room); s.Leased != 4 {
		t.Errorf("snapshot: %d leased, want 4", s.Leased)
	}
	// The lease keeps 4 of the 5 places: one offer.
	if got := e.advance(room, lim).Offered; got != 1 {
		t.Fatalf("offered %d beside a lease of 4 with max_active 5, want 1", got)
	}
	// A second holder gets no more than the room's want, and the two share
	// it once the first renews.
	if b := e.lease(room, "b", nil, 4, ttl, lim); b.N != 0 || b.Total != 4 {
		t.Errorf("the second holder while the first holds all: %+v", b)
	}
	if a = e.lease(room, "a", nil, 4, ttl, lim); a.N != 2 || a.Total != 2 {
		t.Errorf("the first holder renewing beside a second: %+v, want 2 of 2", a)
	}
	if b := e.lease(room, "b", nil, 4, ttl, lim); b.N != 2 || b.Total != 4 {
		t.Errorf("the second holder's turn: %+v, want 2 of 4", b)
	}

	// The store was away; a admitted places 2 and 3 on its own.
	exp := e.clock.Now().Add(lim.Session)
	used := []queue.LeaseAdmission{{Seq: 3, Expires: exp}, {Seq: 2, Expires: exp}}
	e.lease(room, "a", used, 4, ttl, lim)
	s := e.snapshot(room)
	if s.Served != 3 || s.Active != 2 || s.Pending != 1 || s.AdmittedTotal != 2 {
		t.Fatalf("after a's own admissions: %+v, want frontier 3, 2 active, 1 offer", s)
	}
	e.wantClaim(e.claim(room, 2, lim), queue.Claim{Outcome: queue.Admitted, Expires: exp})
	// Told again (its first report's answer was lost), the store admits
	// nobody twice.
	e.lease(room, "a", used, 4, ttl, lim)
	if s := e.snapshot(room); s.Active != 2 || s.AdmittedTotal != 2 {
		t.Errorf("after the same report again: %+v", s)
	}
	// Place 1's offer lapses; an own admission of it still counts once.
	e.clock.Add(lim.ClaimWindow + time.Second)
	e.lease(room, "b", []queue.LeaseAdmission{{Seq: 1, Expires: exp}}, 4, ttl, lim)
	if s := e.snapshot(room); s.Active != 3 || s.AdmittedTotal != 3 || s.Pending != 0 {
		t.Errorf("after b's admission of a lapsed offer: %+v", s)
	}
	e.wantClaim(e.claim(room, 1, lim), queue.Claim{Outcome: queue.Admitted, Expires: exp})
	// Places never joined, and places past the line, are not admitted.
	e.lease(room, "b", []queue.LeaseAdmission{{Seq: 0, Expires: exp}, {Seq: 99, Expires: exp}}, 4, ttl, lim)
	if s := e.snapshot(room); s.AdmittedTotal != 3 || s.Served != 3 {
		t.Errorf("after reports of places nobody holds: %+v", s)
	}

	// Paused, or wanting none, a holder only hands its lease back.
	if l := e.lease(room, "a", nil, 4, ttl, paused); l.N != 0 {
		t.Errorf("a lease while paused: %+v", l)
	}
	if l := e.lease(room, "b", nil, 0, ttl, lim); l.N != 0 || l.Total != 0 {
		t.Errorf("handing back: %+v, want none left", l)
	}
	// A holder that never comes back: its lease keeps the capacity as long
	// as an admission made under it could last, then lapses.
	if c := e.lease(room, "c", nil, 2, ttl, lim); c.N != 2 {
		t.Fatalf("a third holder: %+v", c)
	}
	e.clock.Add(ttl + lim.Session - time.Second)
	if s := e.snapshot(room); s.Leased != 2 {
		t.Errorf("before the lease lapses: %d leased", s.Leased)
	}
	e.clock.Add(time.Second)
	if s := e.snapshot(room); s.Leased != 0 {
		t.Errorf("after the lease lapsed: %d leased", s.Leased)
	}
}
