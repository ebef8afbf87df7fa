package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// arrivals draws n arrival offsets from the start of the sale for an open
// model: burstShare of the clients arrive spread evenly over the burst,
// the rest over the tail after it, at a rate that decays exponentially (a
// third of the tail's length is its time constant, so the tail's last
// second is about 5 % as busy as its first). Every offset lies in
// [0, burst+tail); the result is sorted. A zero tail puts everyone in the
// burst, a zero burst everyone in the tail; both zero is everyone at once.
// The same rng seed gives the same schedule.
func arrivals(n int, burst, tail time.Duration, burstShare float64, rng *rand.Rand) []time.Duration {
	burstShare = min(max(burstShare, 0), 1)
	switch {
	case tail <= 0:
		burstShare = 1
	case burst <= 0:
		burstShare = 0
	}
	out := make([]time.Duration, 0, n)
	for range n {
		if rng.Float64() < burstShare {
			out = append(out, time.Duration(rng.Float64()*float64(burst)))
			continue
		}
		// Inverse of the exponential's CDF, truncated to the tail.
		const k = 3.0
		u := rng.Float64()
		x := -math.Log(1-u*(1-math.Exp(-k))) / k
		at := burst + time.Duration(x*float64(tail))
		out = append(out, min(at, burst+tail-1))
	}
	slices.Sort(out)
	return out
}
