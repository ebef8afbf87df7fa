package admission

import (
	"testing"
	"time"

	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

// TestLotteryLateEntry: an entry that reaches the store after the first
// instance read the entries for the draw is left out on every instance, so
// that all of them draw the same order.
func TestLotteryLateEntry(t *testing.T) {
	clock := queuetest.NewClock(queuetest.Start)
	store := memory.New(memory.Options{Now: clock.Now})
	p := basePolicy()
	p.Mode = ModeLottery
	p.OpensAt = clock.Now()
	p.SaleStartsAt = clock.Now().Add(time.Minute)
	a, ra := instance(store, clock, p)
	b, rb := instance(store, clock, p)
	for _, c := range []*Controller{a, b} {
		if err := c.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		r := ra
		if i%2 == 1 {
			r = rb
		}
		if _, err := r.Join(t.Context(), NewVisitorID()); err != nil {
			t.Fatal(err)
		}
	}
	// One more joins before the start, but its entry is slow to reach
	// the store.
	clock.Add(59 * time.Second)
	late, err := store.Join(t.Context(), "sale", rb.limits())
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second + drawSettle)
	for _, c := range []*Controller{a, b} {
		if err := c.Tick(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if ra.Drawn() == nil {
		t.Fatal("the first instance did not draw")
	}
	// b had drawn in the same tick; forget it, as if b had been a moment
	// slower, and let the late entry arrive before b reads the entries.
	rb.drawn.Store(nil)
	clock.Add(100 * time.Millisecond)
	if err := rb.enter(t.Context(), late.Seq, NewVisitorID()); err != nil {
		t.Fatal(err)
	}
	if err := b.Tick(t.Context()); err != nil {
		t.Fatal(err)
	}
	da, db := ra.Drawn(), rb.Drawn()
	if db == nil {
		t.Fatal("the second instance did not draw")
	}
	if da.Digest != db.Digest || da.Entrants != db.Entrants || da.Entrants != 20 {
		t.Fatalf("the instances drew differently: %d entrants, %x; %d entrants, %x", da.Entrants, da.Digest, db.Entrants, db.Digest)
	}
	for seq := int64(1); seq <= late.Seq+2; seq++ {
		if pa, pb := da.Place(seq), db.Place(seq); pa != pb {
			t.Errorf("arrival %d: place %d on one instance, %d on the other", seq, pa, pb)
		}
	}
}
