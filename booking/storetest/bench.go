package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/booking"
)

// BenchHolds measures holds under contention: clients=200 has 200
// goroutines, each with an account of its own, hold 1–4 random seats of an
// event of 1,000 seats until b.N holds have been tried, each releasing its
// previous hold when a new one succeeds. clients=1 does the same with one
// goroutine: the baseline without contention, in the same run. Each reports
// successful holds per second and "oversold", the holds that got a seat
// another live hold had, which must be 0.
func BenchHolds(b *testing.B, open func(b *testing.B) booking.Store) {
	for _, workers := range []int{1, 200} {
		b.Run(fmt.Sprintf("clients=%d", workers), func(b *testing.B) { benchHolds(b, open, workers) })
	}
}

func benchHolds(b *testing.B, open func(b *testing.B) booking.Store, workers int) {
	const seats = 1000
	s := open(b)
	f := makeEvent(b, s, spec{seats: seats})
	var (
		tried, held, oversold atomic.Int64
		mu                    sync.Mutex
		holder                = map[string]string{} // seat → live hold
	)
	// claim records a successful hold and counts the seats that a live
	// hold had already. A hold leaves holder before it is released, so a
	// seat is never found there because of a release still in flight.
	claim := func(h booking.Hold) {
		mu.Lock()
		defer mu.Unlock()
		for _, it := range h.Items {
			if prev, ok := holder[it.SeatID]; ok {
				b.Errorf("seat %s held by %s and %s", it.SeatID, prev, h.ID)
				oversold.Add(1)
			}
			holder[it.SeatID] = h.ID
		}
	}
	unclaim := func(h booking.Hold) {
		mu.Lock()
		defer mu.Unlock()
		for _, it := range h.Items {
			delete(holder, it.SeatID)
		}
	}
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 3))
			account := fmt.Sprintf("bench%d", w)
			var last booking.Hold
			for tried.Add(1) <= int64(b.N) {
				h, err := s.Hold(b.Context(), f.seatReq(account, t0, pick(r, f.seats, 1+r.IntN(4))...))
				var taken *booking.TakenError
				switch {
				case errors.As(err, &taken):
					continue
				case err != nil:
					b.Errorf("hold: %v", err)
					return
				}
				held.Add(1)
				claim(h)
				if last.ID != "" {
					unclaim(last)
					if err := s.ReleaseHold(b.Context(), last.ID, account, t0); err != nil {
						b.Errorf("release: %v", err)
						return
					}
				}
				last = h
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(held.Load())/b.Elapsed().Seconds(), "holds/s")
	b.ReportMetric(float64(oversold.Load()), "oversold")
	a, err := s.Availability(b.Context(), f.ev.ID, t0.Add(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	for id, st := range a.Seats {
		if _, ok := holder[id]; ok != (st == booking.PlaceHeld) {
			b.Errorf("seat %s is %s; live hold: %v", id, st, ok)
		}
	}
}
