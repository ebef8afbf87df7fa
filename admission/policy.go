package admission

import (
	"fmt"
	"time"

	"github.com/usherhq/usher/queue"
)

// Mode is how a room orders its line.
type Mode string

// ModeFIFO admits visitors in the order they arrived.
const ModeFIFO Mode = "fifo"

// State is whether a room admits visitors now.
type State string

const (
	// StateOpen: the room admits visitors at its rate, within its capacity.
	StateOpen State = "open"
	// StatePaused: nobody new is admitted; everyone keeps their place.
	StatePaused State = "paused"
)

// Policy is how a room admits visitors. The zero value is not usable; start
// from a configuration and Check it.
type Policy struct {
	// RatePerMinute is how many visitors are admitted per minute.
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
}

// Limits for the policy's own bounds.
const (
	maxRatePerMinute = 1_000_000
	minSession       = 10 * time.Second
	minClaimWindow   = 5 * time.Second
	minPoll          = 500 * time.Millisecond
	maxPoll          = 5 * time.Minute
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
	case ModeFIFO:
	case "lottery", "passthrough":
		add("mode", fmt.Sprintf("%q is not available in this version; use fifo", p.Mode))
	default:
		add("mode", fmt.Sprintf("must be fifo, not %q", p.Mode))
	}
	switch p.State {
	case StateOpen, StatePaused:
	default:
		add("state", fmt.Sprintf("must be open or paused, not %q", p.State))
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
}

// Limits is the policy as the queue store enforces it.
func (p Policy) Limits() queue.Limits {
	return queue.Limits{
		Admit:         p.State == StateOpen,
		RatePerMinute: p.RatePerMinute,
		// Two seconds of budget may build up while nobody waits: enough to
		// ride out a late tick, little enough to keep every minute within a
		// few percent of the rate.
		Burst:       max(1, p.RatePerMinute/30),
		MaxActive:   p.MaxActive,
		Session:     p.Session,
		ClaimWindow: p.ClaimWindow,
	}
}
