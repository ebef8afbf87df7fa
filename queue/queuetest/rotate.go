package queuetest

import (
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

// rotateLimits are the limits of the rotation cases.
var rotateLimits = queue.RotateLimits{Grace: 5 * time.Second, Cooldown: time.Minute, TTL: time.Hour}

func rotateOn(t *testing.T, s queue.Store, room, visitor string, gen int64) queue.Rotation {
	t.Helper()
	r, err := s.Rotate(t.Context(), room, visitor, gen, rotateLimits)
	if err != nil {
		t.Fatalf("Rotate(%q, %d): %v", visitor, gen, err)
	}
	return r
}

var copied = queue.Rotation{Copied: true}

func next(gen int64) queue.Rotation { return queue.Rotation{Gen: gen} }

// testRotate walks visitors through the rotation rules.
func testRotate(t *testing.T, newStore NewStore) {
	type step struct {
		after time.Duration
		gen   int64 // presented; -1 for Reprove
		want  queue.Rotation
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"each use moves a generation on", []step{
			{0, 0, next(1)}, {time.Second, 1, next(2)}, {time.Second, 2, next(3)},
		}},
		{"crossing polls of two tabs get the same answer once a cooldown", []step{
			{0, 1, next(2)}, {time.Second, 1, next(2)},
			{0, 2, next(3)}, {time.Second, 2, copied}, // a second grace within the cooldown
		}},
		{"a grace comes back after the cooldown", []step{
			{0, 1, next(2)}, {time.Second, 1, next(2)},
			{time.Minute, 2, next(3)}, {time.Second, 2, next(3)},
		}},
		{"the ticket before, past the grace, is a copy; and the visitor stays flagged", []step{
			{0, 1, next(2)}, {5*time.Second + time.Millisecond, 1, copied}, {0, 2, copied},
		}},
		{"an older ticket is a copy even within the grace", []step{
			{0, 1, next(2)}, {0, 2, next(3)}, {0, 1, copied},
		}},
		{"reproving clears the flag and retires the old tickets at once", []step{
			{0, 1, next(2)}, {0, 2, next(3)}, {0, 1, copied},
			{0, -1, next(4)}, {0, 3, copied}, {0, -1, next(5)}, {0, 5, next(6)},
		}},
		{"a newer ticket than known starts again from it", []step{
			{0, 1, next(2)}, {0, 9, next(10)}, {0, 10, next(11)},
		}},
		{"the state expires after its ttl", []step{
			{0, 1, next(2)}, {0, 2, next(3)}, {0, 1, copied},
			{time.Hour, 1, next(2)},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, newStore)
			room, visitor := newRoom(), "v-"+newRoom()
			for i, s := range tt.steps {
				e.clock.Add(s.after)
				var got queue.Rotation
				if s.gen < 0 {
					g, err := e.store.Reprove(t.Context(), room, visitor, rotateLimits)
					if err != nil {
						t.Fatal(err)
					}
					got = next(g)
				} else {
					got = rotateOn(t, e.store, room, visitor, s.gen)
				}
				if got != s.want {
					t.Fatalf("step %d (gen %d after %v): %+v, want %+v", i, s.gen, s.after, got, s.want)
				}
			}
			// Another visitor of the room is untouched.
			if got := rotateOn(t, e.store, room, "other", 1); got != next(2) {
				t.Errorf("another visitor: %+v", got)
			}
		})
	}
}

// testRotateShared presents one ticket at a store and its peer at once:
// one moves on, at most one more gets the grace, and every other is a copy.
func testRotateShared(t *testing.T, newStore NewStore, peer Peer) {
	e := setup(t, newStore)
	stores := []queue.Store{e.store, peer(t, e.store, e.clock.Now)}
	room := newRoom()
	rotateOn(t, e.store, room, "v", 1)
	var mu sync.Mutex
	answers := map[queue.Rotation]int{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			r, err := stores[i%2].Rotate(t.Context(), room, "v", 2, rotateLimits)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			answers[r]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if answers[next(3)] < 1 || answers[next(3)] > 2 || answers[copied] != 20-answers[next(3)] {
		t.Errorf("20 racing uses of one ticket: %v, want one or two next(3) and the rest copies", answers)
	}
}
