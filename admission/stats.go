package admission

import (
	"time"
)

// historyLen is how many once-a-second samples a room keeps: 16 minutes,
// enough for the dashboard's 15-minute charts and last-minute rates.
const historyLen = 16 * 60

// Sample is a room at one second, as this instance saw it.
type Sample struct {
	At            time.Time
	Joined        int64
	Served        int64
	Active        int
	Pending       int
	AdmittedTotal int64
	EffectiveRate float64
	OriginP95     time.Duration
	// TicketsLeft is the tickets left to sell as the room knew them; -1
	// unknown.
	TicketsLeft int64
}

// history is a ring of samples, one per second at most.
type history struct {
	ring  [historyLen]Sample
	next  int
	count int
}

func (h *history) add(s Sample) {
	if h.count > 0 {
		last := h.ring[(h.next+historyLen-1)%historyLen]
		if s.At.Sub(last.At) < time.Second {
			return
		}
	}
	h.ring[h.next] = s
	h.next = (h.next + 1) % historyLen
	h.count = min(h.count+1, historyLen)
}

// since returns the samples no older than d before the newest, oldest first.
func (h *history) since(d time.Duration) []Sample {
	out := make([]Sample, 0, h.count)
	if h.count == 0 {
		return out
	}
	newest := h.ring[(h.next+historyLen-1)%historyLen].At
	for i := h.count; i >= 1; i-- {
		s := h.ring[(h.next+historyLen-i)%historyLen]
		if newest.Sub(s.At) <= d {
			out = append(out, s)
		}
	}
	return out
}

// sample records the room as of the last tick.
func (r *Room) sample(now time.Time) {
	v := r.View()
	s := Sample{
		At: now, Joined: v.Joined, Served: v.Served, Active: v.Active, Pending: v.Pending,
		AdmittedTotal: v.AdmittedTotal, EffectiveRate: r.Policy().EffectiveRate(now),
		OriginP95: r.Origin.Stats().P95, TicketsLeft: -1,
	}
	if left, ok := r.ticketsLeft(); ok {
		s.TicketsLeft = left
	}
	r.mu.Lock()
	r.history.add(s)
	h := r.history.since(measureWindow + r.Policy().PollMin)
	r.mu.Unlock()
	m := measure(h, r.Policy().PollMin)
	r.measured.Store(&m)
}

// History returns the room's samples of the last d, oldest first.
func (r *Room) History(d time.Duration) []Sample {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.history.since(d)
}

// Stats is a room's figures for operators.
type Stats struct {
	View
	Policy Policy
	// Waiting is how many joined and have not been offered admission.
	Waiting int64
	// AdmittedLastMinute and JoinsLastMinute come from the store's counters,
	// so they count every instance's visitors.
	AdmittedLastMinute int64
	JoinsLastMinute    int64
	// ETALast estimates the wait of the visitor at the back of the line;
	// ETALastKnown is false while the room does not admit.
	ETALast      time.Duration
	ETALastKnown bool
	// EffectiveRate is the rate in force now.
	EffectiveRate float64
	// Origin is this instance's measure of the origin on the room's paths.
	Origin OriginStats
}

// Stats returns the room's figures now.
func (r *Room) Stats() Stats {
	now := r.c.now()
	v, p := r.View(), r.Policy()
	st := Stats{View: v, Policy: p, Waiting: max(0, v.Joined-v.Served), EffectiveRate: p.EffectiveRate(now), Origin: r.Origin.Stats()}
	if st.Waiting > 0 && p.State == StateOpen {
		st.ETALast, _, _ = r.estimate(st.Waiting, v, p, now)
		st.ETALastKnown = true
	} else if p.State == StateOpen {
		st.ETALastKnown = true
	}
	if h := r.History(time.Minute); len(h) > 0 {
		first := h[0]
		st.AdmittedLastMinute = max(0, v.AdmittedTotal-first.AdmittedTotal)
		st.JoinsLastMinute = max(0, v.Joined-first.Joined)
	}
	return st
}
