// Package queue keeps each room's waiting line.
//
// A room's line is a handful of counters, not a list of visitors: every visitor
// who joins gets the next arrival number (seq), and admission moves a frontier
// (served) forward over those numbers. Moving the frontier makes an offer to
// the visitors it passes; an offer becomes an admission only when its visitor
// claims it within the claim window, and an offer nobody claims goes back to
// the admission budget, so visitors who left never stall the line.
//
// Two Store implementations live below this package: queue/memory for a single
// gateway instance and queue/redis for any number of instances on one Redis.
// queue/queuetest holds the conformance suite both must pass.
package queue

import (
	"cmp"
	"context"
	"errors"
	"math"
	"slices"
	"time"
)

// ErrUnavailable wraps every failure to reach the backing store, so callers can
// tell "the store did not answer" from a bad argument.
var ErrUnavailable = errors.New("queue store unavailable")

// ErrNotFound: the room has no saved policy.
var ErrNotFound = errors.New("not found")

// ErrConflict: the room's policy was saved by someone else since it was read.
var ErrConflict = errors.New("policy changed meanwhile")

// AuditKeep is how many audit entries a store keeps per room, newest first.
const AuditKeep = 1000

// Limits is the part of a room's policy that the store enforces. Callers pass
// it on every call, so a policy change takes effect on the next call.
type Limits struct {
	// Admit says whether the room admits anyone now (an open room). When false,
	// Join never admits at once, Advance makes no offers and a lapsed offer
	// cannot be claimed late; offers already made can still be claimed.
	Admit bool
	// RatePerMinute is how many visitors may be admitted per minute. The
	// budget refills continuously at this rate.
	RatePerMinute float64
	// Burst caps how much refilled budget may accumulate while nobody waits
	// (at least 1). Budget handed back by lapsed offers is not capped.
	Burst float64
	// MaxActive is the most admissions that may be live at once, counting
	// offers that are not yet claimed and have not lapsed, and the
	// capacity leases keep.
	MaxActive int
	// Session is how long an admission lasts from its claim.
	Session time.Duration
	// ClaimWindow is how long an offer waits for its visitor before it lapses.
	ClaimWindow time.Duration
	// PolicyVersion, when positive, is the version of the saved policy
	// these limits come from: while the store holds a newer one, it
	// admits nobody through them, as if Admit were false. A caller that
	// has not yet heard of a change made elsewhere (a pause, say) then
	// makes no offer under the old policy; it learns of the new version
	// from the snapshot. 0 checks nothing.
	PolicyVersion int64
}

// Place is the result of joining a room.
type Place struct {
	// Seq is the visitor's arrival number, from 1, unique in the room.
	Seq int64
	// Admitted is true when nobody waited ahead and the limits allowed the
	// visitor in at once; the admission is live until Expires.
	Admitted bool
	// Expires is when the admission ends; zero unless Admitted.
	Expires time.Time
}

// Outcome says what a claim did.
type Outcome int

const (
	// NotOffered: the frontier has not reached the visitor yet; keep waiting.
	NotOffered Outcome = iota
	// Admitted: the visitor holds a live admission until Claim.Expires. A
	// repeated claim of a live admission answers Admitted again with the same
	// expiry and First false, so two tabs of one visitor are both let in.
	Admitted
	// Lapsed: the offer was made but its claim window passed, and there is no
	// budget or capacity free for a late claim right now. The visitor is at
	// the front of the line and should try again shortly.
	Lapsed
	// Ended: the place was claimed before and that admission has expired; the
	// place is spent and the visitor must join again.
	Ended
)

// String names the outcome for logs and metrics.
func (o Outcome) String() string {
	switch o {
	case NotOffered:
		return "not_offered"
	case Admitted:
		return "admitted"
	case Lapsed:
		return "lapsed"
	case Ended:
		return "ended"
	}
	return "unknown"
}

// Claim is the result of claiming an offer.
type Claim struct {
	Outcome Outcome
	// Expires is when the admission ends; zero unless Outcome is Admitted.
	Expires time.Time
	// First is true only for the claim that created the admission.
	First bool
}

// Snapshot is a room's counters at one instant of the store's clock.
type Snapshot struct {
	// Joined is the highest arrival number handed out (0 for an empty room).
	Joined int64
	// Served is the frontier: every seq <= Served has been offered admission.
	Served int64
	// Active is the number of unexpired admissions.
	Active int
	// Pending is the number of offers neither claimed nor lapsed.
	Pending int
	// AdmittedTotal counts first claims (admissions) since the room began.
	AdmittedTotal int64
	// Offered is how many offers the call that returned this snapshot made;
	// only Advance sets it.
	Offered int
	// At is the store's clock when the snapshot was taken.
	At time.Time
	// PolicyVersion is the version of the room's saved policy (0 when none),
	// so that each tick reveals a change made through another instance.
	PolicyVersion int64
	// Leased is the capacity the room's live leases keep (see Lease).
	Leased int
}

// Lease is one holder's (a gateway instance's) slice of a room's admission
// capacity, taken ahead of time: while the store does not answer, the
// holder may admit up to N visitors on its own, at the rate, without the
// room ever holding more than MaxActive admissions. The capacity is kept
// free of offers and admissions; the budget is spent when the store hears
// of the admissions (it may run below zero then, and the line waits until
// it has refilled), so that leases do not slow admission while the store
// answers.
type Lease struct {
	// N is how many admissions the holder may make on its own.
	N int
	// Total is how many the room's live leases hold together, this one
	// included: the visitors that all holders together may admit.
	Total int
	// Served is the frontier when the lease was taken: the admissions
	// made under it go to the visitors just beyond it, in order.
	Served int64
	// At is the store's clock when the lease was taken; the holder may
	// admit on its own until Expires.
	At, Expires time.Time
}

// LeaseAdmission is an admission a holder made on its own under its lease,
// reported to the store once it answers again.
type LeaseAdmission struct {
	Seq     int64
	Expires time.Time
}

// SortedAdmissions returns a copy of used in ascending order of seq, the
// order in which stores record them.
func SortedAdmissions(used []LeaseAdmission) []LeaseAdmission {
	out := slices.Clone(used)
	slices.SortFunc(out, func(a, b LeaseAdmission) int { return cmp.Compare(a.Seq, b.Seq) })
	return out
}

// Policy is a room's live policy as a store keeps it. The store does not read
// Data: the admission package encodes and decodes it.
type Policy struct {
	Data []byte
	// Version grows by one with every save; 0 means never saved.
	Version int64
	// ConfigHash identifies the configuration the policy was last set from,
	// so that a restart with an unchanged file keeps changes made live.
	ConfigHash string
}

// Store keeps the waiting lines of many rooms. Implementations are safe for
// concurrent use, and every method is atomic with respect to the others for
// the same room, across all gateway instances that share the store.
//
// A room exists from its first use; room ids are short strings of
// [a-z0-9_-] that the caller has validated.
type Store interface {
	// Join gives a new visitor the next arrival number. When nobody waits
	// ahead (Served == Seq-1) and lim allows an admission now, the visitor
	// is admitted at once in the same step.
	Join(ctx context.Context, room string, lim Limits) (Place, error)
	// Claim turns the offer made to seq into an admission, or answers why
	// it cannot. A lapsed offer is claimed late if lim.Admit holds and both
	// budget and capacity are free, at the cost of one unit of budget.
	Claim(ctx context.Context, room string, seq int64, lim Limits) (Claim, error)
	// Advance refills the budget, hands the budget of lapsed offers back,
	// drops expired admissions, and, if lim.Admit, moves the frontier
	// forward by as many visitors as budget, capacity and the line allow.
	Advance(ctx context.Context, room string, lim Limits) (Snapshot, error)
	// Release ends seq's admission before its time, as when the origin says
	// the visitor is done: its capacity goes to the next visitor at once,
	// and a later Claim of seq answers Ended. It reports whether seq held
	// an unexpired admission.
	Release(ctx context.Context, room string, seq int64) (bool, error)
	// Lease renews holder's lease in one step. First it records the
	// admissions holder made on its own (used): a seq already admitted is
	// left as it is, so that nobody is admitted twice; any other becomes an
	// admission until its Expires, spending its live offer or else one
	// unit of budget (which may run below zero), and the frontier moves
	// past it. The places it passes without an offer can be claimed late,
	// as lapsed offers are, while budget and capacity allow. Then it
	// hands holder's previous lease
	// back and, if lim.Admit, takes a new one of up to want admissions,
	// shared fairly between the live holders and within the capacity free
	// of admissions, offers and the other leases: the holder may admit on
	// its own until now+ttl, and the store keeps the capacity until
	// now+ttl+lim.Session, as long as an admission made under it lasts.
	// want 0 only hands back. holder is [a-z0-9_-]{1,64}, checked by the
	// caller.
	Lease(ctx context.Context, room, holder string, used []LeaseAdmission, want int, ttl time.Duration, lim Limits) (Lease, error)
	// Snapshot reads a room's counters without changing anything.
	Snapshot(ctx context.Context, room string) (Snapshot, error)
	// Throttle takes one token from the bucket name of room (for example
	// "join"), shared by every store on the same data: perMinute tokens a
	// minute, up to burst at once (GCRA on one stored time). When none is
	// left it takes nothing and returns ok false with the time until the
	// next token, rounded up to the millisecond, so that a caller who waits
	// that long finds it there unless another caller takes it first.
	// perMinute <= 0 (or NaN) always allows without touching the store's
	// data; burst < 1 counts as 1. name is [a-z0-9_-]{1,32}, checked by the
	// caller.
	//
	// Tokens are timed to the microsecond, but the store's clock reads whole
	// milliseconds, so the calls of one millisecond share at most burst
	// tokens: a rate above 60000 a minute needs a burst of at least
	// perMinute/60000 to be reached. A bucket takes at most ten years to
	// refill from empty: a slower rate counts as one token in ten years, and
	// a larger burst as what refills in ten years.
	Throttle(ctx context.Context, room, name string, perMinute float64, burst int) (ok bool, retryAfter time.Duration, err error)
	// Mark puts key in the room's set for ttl, and reports whether it is
	// new there: first is false when key was already marked and has not
	// expired, and then the later of the two expiries stands. It makes a
	// token single-use across every instance (the first Mark of its id
	// wins) and keeps lists such as revocations. set is [a-z0-9_-]{1,32}
	// and key at most 256 bytes, checked by the caller; ttl is at least a
	// millisecond and at most a year (shorter or longer counts as that).
	Mark(ctx context.Context, room, set, key string, ttl time.Duration) (first bool, err error)
	// Unmark takes key out of the room's set and reports whether it was
	// marked (and unexpired).
	Unmark(ctx context.Context, room, set, key string) (bool, error)
	// Marked returns the unexpired keys of the room's set, each with the
	// store's time at which it expires, in no order.
	Marked(ctx context.Context, room, set string) (map[string]time.Time, error)
	// Bind binds key to value in the room's set for ttl, unless key is bound
	// already (and unexpired): it returns the value key is bound to now,
	// value or the earlier one, so that racing callers all agree on the
	// first. It keeps one place per account. An empty value binds nothing:
	// Bind then only looks key up, and "" means unbound. set is
	// [a-z0-9_-]{1,32}, key at most 256 bytes and value at most 1024,
	// checked by the caller; ttl counts as in Mark.
	Bind(ctx context.Context, room, set, key, value string, ttl time.Duration) (string, error)
	// Rotate records that a visitor presented its ticket of generation gen,
	// and answers the generation of the ticket to give back, or that the
	// ticket was retired already and so must be a copy. For a visitor whose
	// newest ticket has generation cur, issued at a time at:
	//   - no state (first use, or expired after lim.TTL), or gen > cur (the
	//     state was lost): the next ticket is gen+1;
	//   - flagged: Copied;
	//   - gen == cur: the next is cur+1;
	//   - gen == cur-1 within lim.Grace of at, and no grace used within
	//     lim.Cooldown: the next is cur again (the grace is used);
	//   - anything else: the visitor is flagged, Copied.
	Rotate(ctx context.Context, room, visitor string, gen int64, lim RotateLimits) (Rotation, error)
	// Reprove clears a visitor's copy flag, once the fan has proved
	// itself again, and starts a generation that retires every ticket
	// before it at once, with no grace. It returns that generation.
	Reprove(ctx context.Context, room, visitor string, lim RotateLimits) (int64, error)
	// LoadPolicy returns the room's saved policy, or ErrNotFound.
	LoadPolicy(ctx context.Context, room string) (Policy, error)
	// SavePolicy replaces the room's policy (Data and ConfigHash of p) if
	// its version is still expect (0: nothing saved yet), in one atomic step
	// that sets the version to expect+1, prepends audit to the room's audit
	// trail unless it is nil (keeping the newest AuditKeep entries), and
	// notifies every watcher. It returns the new version, or an error
	// wrapping ErrConflict when the version has moved on.
	SavePolicy(ctx context.Context, room string, p Policy, expect int64, audit []byte) (int64, error)
	// Audit returns up to n of the room's newest audit entries, newest first.
	Audit(ctx context.Context, room string, n int) ([][]byte, error)
	// WatchPolicies calls changed with the room's id after each SavePolicy
	// made through any store on the same data, until ctx ends; then it
	// returns nil. A notification can be lost (while reconnecting, say), so
	// callers also compare Snapshot.PolicyVersion. It returns an error only
	// when watching cannot start or go on.
	WatchPolicies(ctx context.Context, changed func(room string)) error
	// Ping reports whether the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}

// MarkTTL is the life Store.Mark gives a mark asked to live ttl: ttl
// rounded up to a whole millisecond, within a millisecond and a year, so
// every store computes the same expiry.
func MarkTTL(ttl time.Duration) time.Duration {
	const year = 365 * 24 * time.Hour
	switch {
	case ttl > year:
		return year
	case ttl < time.Millisecond:
		return time.Millisecond
	}
	return (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
}

// RotateLimits tune ticket rotation.
type RotateLimits struct {
	// Grace is how long after a rotation the ticket it retired is still
	// honoured, so that two tabs of one browser whose polls cross get the
	// same answer rather than a copy flag. A few seconds: a request's
	// round trip.
	Grace time.Duration
	// Cooldown is how long after honouring a retired ticket the next such
	// grace waits, so that a copy polled in lockstep with the fan's tab
	// cannot pass for a second tab for ever.
	Cooldown time.Duration
	// TTL is how long a visitor's rotation state lives after its last use:
	// the life of a ticket.
	TTL time.Duration
}

// Rotation is the answer of Store.Rotate.
type Rotation struct {
	// Gen is the generation the visitor's next ticket carries; 0 when
	// Copied.
	Gen int64
	// Copied is true when the ticket was retired already (older than the
	// one before the newest, or the one before outside the grace) or the
	// visitor is flagged from an earlier copy: every ticket of the visitor
	// is refused until Reprove.
	Copied bool
}

// ThrottleSpan is the longest a throttle's bucket may take to refill from
// empty, ten years in microseconds. It keeps every time the Redis store's
// throttle script computes an exact integer in Lua's doubles.
const ThrottleSpan = 10 * 365 * 24 * 3600 * 1_000_000

// ThrottleBucket returns the bucket every Store.Throttle keeps for a rate
// and a burst: the interval between tokens in microseconds, rounded up so
// that the rate is never exceeded, and the burst, both within ThrottleSpan
// and at least 1. perMinute must be positive.
func ThrottleBucket(perMinute float64, burst int) (interval, size int64) {
	// Compared as a float: a tiny rate gives an interval too large for an
	// integer.
	iv := math.Ceil(60e6 / perMinute)
	interval = ThrottleSpan
	if iv < ThrottleSpan {
		interval = max(1, int64(iv))
	}
	size = max(1, min(int64(burst), ThrottleSpan/interval))
	return interval, size
}
