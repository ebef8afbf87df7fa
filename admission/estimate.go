package admission

import (
	"math"
	"time"
)

// Measured waits. A visitor's wait is how long the frontier takes to pass
// the places ahead; it moves faster than the admission rate when visitors
// leave the line, since an offer nobody claims hands its budget back. So a
// wait is estimated from what the room measured over the last minutes: the
// admissions per minute, and the share of offers nobody claimed (the
// no-shows). Only the visitors ahead who will show up take an admission
// each: position × (1 − no-shows) ÷ admissions per minute.
const (
	// measureWindow is how far back the no-show share looks, and
	// rateWindow the admission rate, which must follow a change sooner.
	measureWindow = 5 * time.Minute
	rateWindow    = time.Minute
	// measureMin is the least history the measured admission rate needs:
	// seconds in which the line was never empty and the rate unchanged.
	measureMin = 30 * time.Second
	// noShowMinOffers is the least number of offers the no-show share is
	// measured over; below it no visitor is taken to be a no-show.
	noShowMinOffers = 20
	// conversionMinAdmissions is the least number of admissions the
	// conversion is measured over.
	conversionMinAdmissions = 20
	// noShowMax caps the no-show share, so that a burst of lapses does not
	// promise a wait of nothing.
	noShowMax = 0.9
	// Half the width of a wait's range, as a share of its middle: narrower
	// when measured than when it comes from the policy alone.
	spreadMeasured = 0.15
	spreadModel    = 0.25
)

// measures is what a room measured at its last tick.
type measures struct {
	// perMinute is the admissions per minute while visitors waited; 0 when
	// there is not enough history.
	perMinute float64
	// noShow is the share of offers that nobody claimed, 0 to noShowMax.
	noShow float64
	// conversion is the tickets sold per admission, from the tickets left
	// and the admissions over the window; 0 when not measured.
	conversion float64
}

// measure reads the room's recent samples, newest last, for the admission
// rate and the no-show share. lag is how long a visitor who is there takes
// to claim an offer: about one poll near the front.
func measure(h []Sample, lag time.Duration) measures {
	var m measures
	if len(h) < 2 {
		return m
	}
	last := h[len(h)-1]
	// The admission rate, over the last rateWindow up to now in which
	// somebody waited all along and the rate in force did not change.
	first := len(h) - 1
	for i := len(h) - 2; i >= 0; i-- {
		s := h[i]
		if s.Joined <= s.Served || math.Abs(s.EffectiveRate-last.EffectiveRate) > 0.01*last.EffectiveRate || last.At.Sub(s.At) > rateWindow {
			break
		}
		first = i
	}
	if d := last.At.Sub(h[first].At); d >= measureMin && last.Joined > last.Served {
		m.perMinute = float64(last.AdmittedTotal-h[first].AdmittedTotal) / d.Minutes()
	}
	// The no-show share: the claims of the window against the offers of
	// the same window a lag earlier. An offer nobody claims is only known
	// for a no-show once its claim window has passed, but it is an offer
	// without a claim from the start.
	at := func(t time.Time) (Sample, bool) {
		for i := len(h) - 1; i >= 0; i-- {
			if !h[i].At.After(t) {
				return h[i], true
			}
		}
		return Sample{}, false
	}
	from := last.At.Add(-measureWindow)
	if early := h[0].At.Add(lag); from.Before(early) {
		from = early
	}
	offersFrom, ok1 := at(from.Add(-lag))
	offersTo, ok2 := at(last.At.Add(-lag))
	claimsFrom, ok3 := at(from)
	if ok1 && ok2 && ok3 {
		offers := offersTo.Served - offersFrom.Served
		claims := last.AdmittedTotal - claimsFrom.AdmittedTotal
		if offers >= noShowMinOffers {
			m.noShow = min(max(1-float64(claims)/float64(offers), 0), noShowMax)
		}
	}
	// The conversion: the tickets that went, per admission, from the
	// oldest sample in the window that knew the tickets left.
	for _, s := range h {
		if s.TicketsLeft < 0 || last.At.Sub(s.At) > measureWindow {
			continue
		}
		if admitted := last.AdmittedTotal - s.AdmittedTotal; admitted >= conversionMinAdmissions && last.TicketsLeft >= 0 && s.TicketsLeft >= last.TicketsLeft {
			m.conversion = float64(s.TicketsLeft-last.TicketsLeft) / float64(admitted)
		}
		break
	}
	return m
}

// estimate is the wait of a visitor position places from the frontier:
// its middle and the range around it. From the room's measures when it has
// them; from the policy alone (its rate, capacity and ramp) before.
func (r *Room) estimate(position int64, v View, p Policy, now time.Time) (mid, low, high time.Duration) {
	m := r.measured.Load()
	showing := float64(position)
	if m != nil {
		showing *= 1 - m.noShow
	}
	spread := spreadModel
	if m != nil && m.perMinute > 0 {
		mid = time.Duration(showing / m.perMinute * float64(time.Minute)).Round(time.Second)
		spread = spreadMeasured
	} else {
		mid = Estimate(int64(math.Ceil(showing)), v.Snapshot, p, now)
	}
	low = time.Duration(float64(mid) * (1 - spread)).Round(time.Second)
	high = time.Duration(float64(mid) * (1 + spread)).Round(time.Second)
	return mid, low, high
}

// ticketsLeft is the tickets left to sell as the room knows them: from its
// inventory source, or as an operator last said; false when neither says.
func (r *Room) ticketsLeft() (int64, bool) {
	if left := r.sourceLeft.Load(); left >= 0 {
		return left, true
	}
	if p := r.Policy(); p.Inventory != nil {
		return *p.Inventory, true
	}
	return 0, false
}

// soldOutLikely says whether the tickets left will likely be gone before
// the turn of a visitor with ahead visitors ahead: the shoppers inside and
// those ahead who will show up (the measured no-shows aside) each buy what
// shoppers have been buying (the measured conversion, or
// tickets_per_shopper until there is one).
func (r *Room) soldOutLikely(ahead int64, v View) bool {
	left, ok := r.ticketsLeft()
	if !ok {
		return false
	}
	perShopper := math.Float64frombits(r.perShopper.Load())
	showing := float64(ahead)
	if m := r.measured.Load(); m != nil {
		showing *= 1 - m.noShow
		if m.conversion > 0 {
			perShopper = m.conversion
		}
	}
	return (showing+float64(v.Active+v.Pending))*perShopper >= float64(left)
}
