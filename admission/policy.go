package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/usherhq/usher/queue"
)

// Mode is how a room orders its line.
type Mode string

const (
	// ModeFIFO admits visitors in the order they arrived.
	ModeFIFO Mode = "fifo"
	// ModePassthrough has no line: every visitor is admitted at once with a
	// pass, whatever the rate and capacity, for a venue that keeps usher in
	// place between on-sales (the origin still gets its passes).
	ModePassthrough Mode = "passthrough"
)

// State is whether a room admits visitors now.
type State string

const (
	// StateOpen: the room admits visitors at its rate, within its capacity.
	StateOpen State = "open"
	// StatePaused: nobody new is admitted; everyone keeps their place.
	StatePaused State = "paused"
	// StateSoldOut: nothing is left to sell. Nobody else is admitted and
	// waiting visitors are told; visitors already in may finish.
	StateSoldOut State = "soldout"
	// StateClosed: the sale is over. The room answers a closed page to
	// everyone, with a pass or without.
	StateClosed State = "closed"

	// StateScheduled is the phase of an open room before its OpensAt: a
	// countdown, no line yet. A phase, never a state to set.
	StateScheduled State = "scheduled"
	// StatePrequeue is the phase of an open room from OpensAt until its
	// SaleStartsAt: visitors join and wait, nobody is admitted yet.
	StatePrequeue State = "prequeue"
)

// Policy is how a room admits visitors. The zero value is not usable; start
// from a configuration and Check it.
type Policy struct {
	// RatePerMinute is how many visitors are admitted per minute, once any
	// ramp towards it has ended.
	RatePerMinute float64
	// MaxActive is the most visitors holding a live pass at once.
	MaxActive int
	// Session is how long a pass lasts.
	Session time.Duration
	// ClaimWindow is how long an admission offer waits for its visitor.
	ClaimWindow time.Duration
	// Mode orders the line.
	Mode Mode
	// State says whether the room admits now.
	State State
	// PollMin and PollMax bound how often a waiting visitor asks for news:
	// near the front every PollMin, far back every PollMax.
	PollMin, PollMax time.Duration
	// RateRamp is how long a raised rate takes to reach its new value, so
	// that going from 0 to 5,000 a minute does not send the origin 5,000
	// visitors at once. A lowered rate applies at once. 0 applies every
	// change at once.
	RateRamp time.Duration
	// Ramp, when set, is the rate the current ramp started from and when.
	Ramp *Ramp
	// OpensAt, when set, is when an open room's line opens: before it the
	// room shows a countdown. Zero for a line open from the start.
	OpensAt time.Time
	// SaleStartsAt, when set, is when an open room starts admitting:
	// visitors who come earlier (after OpensAt) join and wait. Zero for
	// admissions from the start.
	SaleStartsAt time.Time
	// Inventory, when set, is the tickets left as an operator last said:
	// the room keeps no more shoppers active than they can serve (see
	// Room.SetInventory for the reading of a source). Nil: not known.
	Inventory *int64
}

// Phase is the state the room is in at now: State, except that an open
// room is StateScheduled before OpensAt and StatePrequeue before
// SaleStartsAt. Paused, sold-out and closed rooms are what they are.
func (p Policy) Phase(now time.Time) State {
	if p.State != StateOpen {
		return p.State
	}
	switch {
	case !p.OpensAt.IsZero() && now.Before(p.OpensAt):
		return StateScheduled
	case !p.SaleStartsAt.IsZero() && now.Before(p.SaleStartsAt):
		return StatePrequeue
	}
	return StateOpen
}

// Ramp is a rate increase in progress: the effective rate climbs linearly
// from From at Since to the policy's rate at Since + RateRamp.
type Ramp struct {
	From  float64
	Since time.Time
}

// Limits for the policy's own bounds.
const (
	maxRatePerMinute = 1_000_000
	minSession       = 10 * time.Second
	minClaimWindow   = 5 * time.Second
	minPoll          = 500 * time.Millisecond
	maxPoll          = 5 * time.Minute
	maxRateRamp      = time.Hour
)

// Check calls add for every problem with the policy, naming the field as the
// configuration and the admin API spell it.
func (p Policy) Check(add func(field, problem string)) {
	if !(p.RatePerMinute > 0 && p.RatePerMinute <= maxRatePerMinute) {
		add("rate_per_minute", fmt.Sprintf("must be more than 0 and at most %d", maxRatePerMinute))
	}
	if p.MaxActive < 1 {
		add("max_active", "must be at least 1")
	}
	if p.Session < minSession {
		add("session", fmt.Sprintf("must be at least %s", minSession))
	}
	switch p.Mode {
	case ModeFIFO, ModePassthrough:
	case ModeLottery:
		if p.SaleStartsAt.IsZero() {
			add("sale_starts_at", "must be set in lottery mode: the visitors who join before it are drawn into their places")
		}
	default:
		add("mode", fmt.Sprintf("must be fifo, lottery or passthrough, not %q", p.Mode))
	}
	switch p.State {
	case StateOpen, StatePaused, StateSoldOut, StateClosed:
	default:
		add("state", fmt.Sprintf("must be open, paused, soldout or closed, not %q", p.State))
	}
	if p.PollMin < minPoll || p.PollMin > maxPoll {
		add("poll_min", fmt.Sprintf("must be between %s and %s", minPoll, maxPoll))
	}
	if p.PollMax < p.PollMin || p.PollMax > maxPoll {
		add("poll_max", fmt.Sprintf("must be between poll_min and %s", maxPoll))
	}
	// A visitor far back asks every PollMax; an offer must wait at least
	// that long, or it would lapse before its visitor could hear of it.
	if p.ClaimWindow < minClaimWindow || p.ClaimWindow <= p.PollMax {
		add("claim_window", fmt.Sprintf("must be at least %s and longer than poll_max", minClaimWindow))
	}
	if p.RateRamp < 0 || p.RateRamp > maxRateRamp {
		add("rate_ramp", fmt.Sprintf("must be between 0s and %s", maxRateRamp))
	}
	if !p.OpensAt.IsZero() && !p.SaleStartsAt.IsZero() && p.SaleStartsAt.Before(p.OpensAt) {
		add("sale_starts_at", "must not be before opens_at")
	}
}

// EffectiveRate is the rate per minute in force at now: the policy's rate,
// or a point on the ramp towards it.
func (p Policy) EffectiveRate(now time.Time) float64 {
	if p.Ramp == nil || p.RateRamp <= 0 {
		return p.RatePerMinute
	}
	done := float64(now.Sub(p.Ramp.Since)) / float64(p.RateRamp)
	switch {
	case done >= 1:
		return p.RatePerMinute
	case done <= 0:
		return p.Ramp.From
	}
	return p.Ramp.From + (p.RatePerMinute-p.Ramp.From)*done
}

// Ramping reports whether a ramp is still under way at now, and when it ends.
func (p Policy) Ramping(now time.Time) (bool, time.Time) {
	if p.Ramp == nil || p.RateRamp <= 0 {
		return false, time.Time{}
	}
	end := p.Ramp.Since.Add(p.RateRamp)
	return now.Before(end), end
}

// WithRate returns the policy with a new rate from now: a raise starts a
// ramp from the rate in force, a cut applies at once.
func (p Policy) WithRate(rate float64, now time.Time) Policy {
	current := p.EffectiveRate(now)
	p.RatePerMinute = rate
	p.Ramp = nil
	if rate > current && p.RateRamp > 0 {
		p.Ramp = &Ramp{From: current, Since: now}
	}
	return p
}

// Limits is the policy as the queue store enforces it at now.
func (p Policy) Limits(now time.Time) queue.Limits {
	rate := p.EffectiveRate(now)
	return queue.Limits{
		Admit:         p.Phase(now) == StateOpen,
		RatePerMinute: rate,
		// Two seconds of budget may build up while nobody waits: enough to
		// ride out a late tick, little enough to keep every minute within a
		// few percent of the rate.
		Burst:       max(1, rate/30),
		MaxActive:   p.MaxActive,
		Session:     p.Session,
		ClaimWindow: p.ClaimWindow,
	}
}

// policyJSON is a policy as the store keeps it and the admin API shows it:
// the configuration's field names, durations as Go writes them.
type policyJSON struct {
	RatePerMinute float64    `json:"rate_per_minute"`
	MaxActive     int        `json:"max_active"`
	Session       string     `json:"session"`
	ClaimWindow   string     `json:"claim_window"`
	Mode          Mode       `json:"mode"`
	State         State      `json:"state"`
	PollMin       string     `json:"poll_min"`
	PollMax       string     `json:"poll_max"`
	RateRamp      string     `json:"rate_ramp"`
	Ramp          *rampJSON  `json:"ramp,omitempty"`
	OpensAt       *time.Time `json:"opens_at,omitempty"`
	SaleStartsAt  *time.Time `json:"sale_starts_at,omitempty"`
	Inventory     *int64     `json:"inventory,omitempty"`
}

type rampJSON struct {
	From  float64   `json:"from"`
	Since time.Time `json:"started_at"`
}

// MarshalJSON encodes the policy with the configuration's field names.
func (p Policy) MarshalJSON() ([]byte, error) {
	w := policyJSON{
		RatePerMinute: p.RatePerMinute, MaxActive: p.MaxActive,
		Session: p.Session.String(), ClaimWindow: p.ClaimWindow.String(),
		Mode: p.Mode, State: p.State,
		PollMin: p.PollMin.String(), PollMax: p.PollMax.String(),
		RateRamp: p.RateRamp.String(),
	}
	if p.Ramp != nil {
		w.Ramp = &rampJSON{From: p.Ramp.From, Since: p.Ramp.Since.UTC()}
	}
	w.OpensAt, w.SaleStartsAt = timeOrNil(p.OpensAt), timeOrNil(p.SaleStartsAt)
	w.Inventory = p.Inventory
	return json.Marshal(w)
}

// UnmarshalJSON decodes what MarshalJSON wrote.
func (p *Policy) UnmarshalJSON(data []byte) error {
	var w policyJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("decode policy: %w", err)
	}
	out := Policy{RatePerMinute: w.RatePerMinute, MaxActive: w.MaxActive, Mode: w.Mode, State: w.State}
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{w.Session, &out.Session}, {w.ClaimWindow, &out.ClaimWindow}, {w.PollMin, &out.PollMin}, {w.PollMax, &out.PollMax}, {w.RateRamp, &out.RateRamp}} {
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("decode policy: %w", err)
		}
		*d.dst = v
	}
	if w.Ramp != nil {
		out.Ramp = &Ramp{From: w.Ramp.From, Since: w.Ramp.Since}
	}
	if w.OpensAt != nil {
		out.OpensAt = *w.OpensAt
	}
	if w.SaleStartsAt != nil {
		out.SaleStartsAt = *w.SaleStartsAt
	}
	out.Inventory = w.Inventory
	*p = out
	return nil
}

// timeOrNil is t in UTC, or nil for the zero time.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// FieldProblem is one thing wrong with a requested change.
type FieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// Patchable lists the fields a JSON merge patch may set.
var Patchable = []string{"rate_per_minute", "max_active", "session", "claim_window", "state", "poll_min", "poll_max", "rate_ramp", "mode", "opens_at", "sale_starts_at", "inventory"}

// Patch applies a JSON merge patch (RFC 7396) of policy fields at now and
// checks the result. It returns every problem at once, and the policy is to
// be used only when there are none. A raised rate_per_minute starts a ramp.
func (p Policy) Patch(patch []byte, now time.Time) (Policy, []FieldProblem) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(patch, &fields); err != nil || fields == nil {
		return p, []FieldProblem{{Field: "", Problem: "the body must be a JSON object of policy fields"}}
	}
	var problems []FieldProblem
	bad := func(field, problem string) { problems = append(problems, FieldProblem{field, problem}) }
	out := p
	newRate := math.NaN()
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := fields[name]
		if name == "inventory" {
			if string(raw) == "null" {
				out.Inventory = nil // not known: no cap
				continue
			}
			var n int64
			if err := json.Unmarshal(raw, &n); err != nil || n < 0 {
				bad(name, "must be a whole number of tickets left, 0 or more, or null")
				continue
			}
			out.Inventory = &n
			continue
		}
		if name == "opens_at" || name == "sale_starts_at" {
			dst := &out.OpensAt
			if name == "sale_starts_at" {
				dst = &out.SaleStartsAt
			}
			if string(raw) == "null" {
				*dst = time.Time{} // no schedule: open from now
				continue
			}
			var t time.Time
			if err := json.Unmarshal(raw, &t); err != nil {
				bad(name, `must be an RFC 3339 time such as "2027-06-01T10:00:00+02:00", or null`)
				continue
			}
			*dst = t
			continue
		}
		if string(raw) == "null" {
			bad(name, "cannot be removed; give a value")
			continue
		}
		duration := func(dst *time.Duration) {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				bad(name, `must be a duration string such as "10m"`)
				return
			}
			v, err := time.ParseDuration(s)
			if err != nil {
				bad(name, fmt.Sprintf("%q is not a duration such as \"10m\"", s))
				return
			}
			*dst = v
		}
		switch name {
		case "rate_per_minute":
			if err := json.Unmarshal(raw, &newRate); err != nil {
				bad(name, "must be a number")
				newRate = math.NaN()
			}
		case "max_active":
			if err := json.Unmarshal(raw, &out.MaxActive); err != nil {
				bad(name, "must be a whole number")
			}
		case "session":
			duration(&out.Session)
		case "claim_window":
			duration(&out.ClaimWindow)
		case "poll_min":
			duration(&out.PollMin)
		case "poll_max":
			duration(&out.PollMax)
		case "rate_ramp":
			duration(&out.RateRamp)
		case "state":
			if err := json.Unmarshal(raw, &out.State); err != nil {
				bad(name, "must be a string")
			}
		case "mode":
			if err := json.Unmarshal(raw, &out.Mode); err != nil {
				bad(name, "must be a string")
			}
		default:
			bad(name, "is not a policy field that can be changed")
		}
	}
	if !math.IsNaN(newRate) {
		out = out.WithRate(newRate, now)
	}
	failed := map[string]bool{}
	for _, pr := range problems {
		failed[pr.Field] = true
	}
	out.Check(func(field, problem string) {
		if !failed[field] {
			bad(field, problem)
		}
	})
	return out, problems
}
