package queuetest

import (
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

// testStaleLimits: limits from a policy older than the one saved admit
// nobody, at a join, an advance or a late claim, while limits of the saved
// version, or of no version, admit as before. This is how a pause saved
// through one instance stops another's offers before it has read it.
func testStaleLimits(t *testing.T, newStore NewStore) {
	e := setup(t, newStore)
	room := newRoom()
	v1 := e.savePolicy(room, queue.Policy{Data: []byte(`{"state":"open"}`)}, 0, nil)
	v2 := e.savePolicy(room, queue.Policy{Data: []byte(`{"state":"paused"}`)}, v1, nil)
	stale, current := open(), open()
	stale.PolicyVersion, current.PolicyVersion = v1, v2

	if p := e.join(room, stale); p.Admitted {
		t.Errorf("a join through limits of version %d was admitted at once, with version %d saved", v1, v2)
	}
	e.clock.Add(time.Second)
	if s := e.advance(room, stale); s.Offered != 0 || s.PolicyVersion != v2 {
		t.Errorf("an advance through stale limits offered %d (snapshot version %d, want %d)", s.Offered, s.PolicyVersion, v2)
	}
	if s := e.advance(room, current); s.Offered != 1 {
		t.Errorf("an advance through the saved version's limits offered %d, want 1", s.Offered)
	}
	// The offer lapses; a late claim through stale limits gets nothing.
	e.clock.Add(current.ClaimWindow + time.Second)
	e.advance(room, queue.Limits{ClaimWindow: current.ClaimWindow, Session: current.Session, MaxActive: current.MaxActive, Burst: 1})
	e.wantClaim(e.claim(room, 1, stale), queue.Claim{Outcome: queue.Lapsed})
	if c := e.claim(room, 1, current); c.Outcome != queue.Admitted {
		t.Errorf("a late claim through the saved version's limits: %+v", c)
	}
	unversioned := open()
	if p := e.join(newRoom(), unversioned); !p.Admitted {
		t.Error("limits without a version did not admit in an empty room")
	}
}
