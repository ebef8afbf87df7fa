package queuetest

import (
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

func (e *env) release(room string, seq int64) bool {
	e.t.Helper()
	ok, err := e.store.Release(e.t.Context(), room, seq)
	if err != nil {
		e.t.Fatalf("Release(%q, %d): %v", room, seq, err)
	}
	return ok
}

// testRelease ends an admission early: its capacity goes to the next
// visitor at once, its place is used, and only a live admission can end.
func testRelease(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	lim := open()
	lim.MaxActive = 1
	if p := e.join(room, lim); !p.Admitted {
		t.Fatalf("the first visitor of an empty room was not admitted: %+v", p)
	}
	second := e.join(room, lim)
	if second.Admitted {
		t.Fatal("a second visitor was admitted past max_active 1")
	}
	e.clock.Add(time.Second)
	if got := e.advance(room, lim).Offered; got != 0 {
		t.Fatalf("offered %d with the room full", got)
	}

	if !e.release(room, 1) {
		t.Fatal("Release of a live admission reported false")
	}
	if e.release(room, 1) {
		t.Error("a second Release reported true")
	}
	e.wantClaim(e.claim(room, 1, lim), queue.Claim{Outcome: queue.Ended})
	// The capacity is free at once: the next visitor is offered and let in.
	e.clock.Add(time.Second)
	if got := e.advance(room, lim).Offered; got != 1 {
		t.Fatalf("offered %d after the release, want 1", got)
	}
	if c := e.claim(room, second.Seq, lim); c.Outcome != queue.Admitted {
		t.Errorf("the next visitor's claim: %+v", c)
	}
	for _, seq := range []int64{0, 3, 99} {
		if e.release(room, seq) {
			t.Errorf("Release(%d) of no admission reported true", seq)
		}
	}
	// An expired admission cannot be released.
	e.clock.Add(lim.Session)
	if e.release(room, second.Seq) {
		t.Error("Release of an expired admission reported true")
	}
	if e.release(newRoom(), 1) {
		t.Error("Release in an unknown room reported true")
	}
}
