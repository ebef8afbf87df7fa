package main

import (
	"sync"
	"time"

	"github.com/usherhq/usher/bench/storm/report"
)

// Request kinds, as the report names them.
const (
	kindJoin      = "join"      // a protected page without a pass: a place in line
	kindStatus    = "status"    // /_usher/status polls
	kindProxied   = "proxied"   // requests with a pass, through to the booking backend
	kindPay       = "pay"       // the simulated provider's card form, outside the room
	kindChallenge = "challenge" // solutions posted to /_usher/challenge
	kindOrigin    = "origin"    // bots straight at the origin
	// kindConnWait is not a request but the wait before one: for one of
	// the storm's own connections (-conns). Long waits mean the storm, not
	// the gateway, set every client's pace.
	kindConnWait = report.ConnWait
)

// recorder keeps every request's latency by kind and by second of the run,
// and the per-second counts the report's series shows. Safe for concurrent
// use.
type recorder struct {
	start time.Time

	mu      sync.Mutex
	latency map[string][]float64 // ms, by kind
	seconds []second
	joined  int // places given (joins answered with a ticket)

	botRequests, botStopped int
	byKind                  map[string]*report.BotKind // bot requests by behaviour
}

// second is what happened during one second of the run.
type second struct {
	joins, status, proxied, botsStopped, placesGiven int
	joinMs, statusMs                                 []float64
	sample                                           *report.Sample // the gateway's stats, when read
}

func newRecorder(start time.Time) *recorder {
	return &recorder{start: start, latency: map[string][]float64{}, byKind: map[string]*report.BotKind{}}
}

// at is the second of the run that t falls in, growing the table to it.
// Callers hold mu.
func (r *recorder) at(t time.Time) *second {
	i := max(int(t.Sub(r.start)/time.Second), 0)
	for len(r.seconds) <= i {
		r.seconds = append(r.seconds, second{})
	}
	return &r.seconds[i]
}

// request records one request of kind that started at start and took d;
// bot is the behaviour of the bot that sent it ("" for a fan), and stopped
// whether the gateway or origin refused it.
func (r *recorder) request(kind string, start time.Time, d time.Duration, bot string, stopped bool) {
	ms := float64(d) / float64(time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency[kind] = append(r.latency[kind], ms)
	s := r.at(start)
	switch kind {
	case kindJoin:
		s.joins++
		s.joinMs = append(s.joinMs, ms)
	case kindStatus:
		s.status++
		s.statusMs = append(s.statusMs, ms)
	case kindProxied:
		s.proxied++
	}
	if bot != "" {
		r.botRequests++
		k := r.byKind[bot]
		if k == nil {
			k = &report.BotKind{}
			r.byKind[bot] = k
		}
		k.Requests++
		if stopped {
			r.botStopped++
			s.botsStopped++
			k.Stopped++
		}
	}
}

// connWait records how long a request waited for a connection.
func (r *recorder) connWait(d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.latency[kindConnWait] = append(r.latency[kindConnWait], float64(d)/float64(time.Millisecond))
}

// placeGiven records a join answered with a place in line at t.
func (r *recorder) placeGiven(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.joined++
	r.at(t).placesGiven++
}

// stats records the gateway's own figures read at t.
func (r *recorder) stats(t time.Time, s report.Sample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.at(t).sample = &s
}

// bots is the bot requests so far, and how many were stopped.
func (r *recorder) bots() (requests, stopped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.botRequests, r.botStopped
}

// fill writes what was recorded into res: latency summaries, the series,
// joins per second, and the bot request counts.
func (r *recorder) fill(res *report.Results) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.Latency = map[string]report.Summary{}
	for k, v := range r.latency {
		res.Latency[k] = report.Summarize(v)
	}
	res.BotRequests, res.BotRequestsStopped = r.botRequests, r.botStopped
	res.BotKinds = map[string]report.BotKind{}
	for name, k := range r.byKind {
		res.BotKinds[name] = *k
	}
	res.Series = make([]report.Sample, 0, len(r.seconds))
	var busy, total int
	for i, s := range r.seconds {
		smp := report.Sample{}
		if s.sample != nil {
			smp = *s.sample
		}
		smp.At = time.Duration(i) * time.Second
		smp.Joins, smp.StatusPolls, smp.Proxied, smp.BotsStopped = s.joins, s.status, s.proxied, s.botsStopped
		if len(s.joinMs) > 0 {
			p := report.Percentiles(s.joinMs, 50, 99)
			smp.JoinP50ms, smp.JoinP99ms = p[0], p[1]
		}
		if len(s.statusMs) > 0 {
			p := report.Percentiles(s.statusMs, 50, 99)
			smp.StatusP50ms, smp.StatusP99ms = p[0], p[1]
		}
		res.Series = append(res.Series, smp)
		busy = max(busy, s.placesGiven)
		total += s.placesGiven
	}
	res.JoinsPerSecondPeak = float64(busy)
	if n := activeSeconds(r.seconds); n > 0 {
		res.JoinsPerSecondMean = float64(total) / float64(n)
	}
}

// activeSeconds is the span from the first to the last second in which a
// place was given: the mean of joins per second is over that span.
func activeSeconds(s []second) int {
	first, last := -1, -1
	for i, x := range s {
		if x.placesGiven > 0 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return 0
	}
	return last - first + 1
}
