package admission

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/usherhq/usher/queue"
)

// leased is a room's lease on this instance: what the store granted, when
// this instance received it (its own clock, so that a store whose clock
// differs does not shift the pace), and the admissions made under it that
// the store has not heard of yet.
type leased struct {
	queue.Lease
	got  time.Time
	ttl  time.Duration
	want int // what every holder asks for: the room's whole lease
}

// leaseState is a room's lease and its own admissions.
type leaseState struct {
	mu   sync.Mutex
	cur  *leased
	used []queue.LeaseAdmission // made under cur or an earlier lease, not yet reported
	made int                    // own admissions under cur
	own  int64                  // own admissions since the room began here
}

// newHolder names this instance to the store as a lease holder.
func newHolder() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "g" + hex.EncodeToString(b[:])
}

// leaseWant is how many admissions a lease of d asks for at the room's
// rate: what the rate admits in d, at least one.
func leaseWant(lim queue.Limits, d time.Duration) int {
	if !(lim.RatePerMinute > 0) || d <= 0 {
		return 0
	}
	return max(1, int(math.Ceil(lim.RatePerMinute*d.Minutes())))
}

// renewLease reports the room's own admissions to the store and renews its
// lease for d (0: hands it back). On failure the admissions stay to be
// reported at the next tick.
func (c *Controller) renewLease(ctx context.Context, r *Room, lim queue.Limits, d time.Duration) error {
	ls := &r.lease
	ls.mu.Lock()
	used := slices.Clone(ls.used)
	held := ls.cur != nil
	ls.mu.Unlock()
	if d <= 0 && !held && len(used) == 0 {
		return nil
	}
	want := leaseWant(lim, d)
	if !lim.Admit {
		want = 0
	}
	// The visitors are released over d, and may come for their admission
	// until twice that: they ask only every few seconds.
	l, err := c.store.Lease(ctx, r.id, c.holder, used, want, 2*d, lim)
	if err != nil {
		return fmt.Errorf("lease in room %q: %w", r.id, err)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	// Admissions made while the call was under way stay for the next.
	ls.used = slices.Delete(ls.used, 0, len(used))
	ls.cur, ls.made = nil, 0
	if l.N > 0 {
		ls.cur = &leased{Lease: l, got: c.now(), ttl: d, want: want}
	}
	return nil
}

// handBack returns the room's lease, reporting its own admissions, as the
// instance stops.
func (c *Controller) handBack(ctx context.Context, r *Room) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StoreTimeout)
	defer cancel()
	lim := r.limits()
	lim.Admit = false
	if err := c.renewLease(ctx, r, lim, 0); err != nil {
		c.opts.Logger.Warn("lease not handed back", "room", r.id, "err", err)
	}
}

// leaseFrontier is how far the room's lease moves the line on this
// instance now: the frontier when it was taken, and the visitors beyond it
// that the holders together may admit, released at the rate over the
// lease's span. A released visitor may come for the admission until twice
// the span has passed; whether this instance still has one to give is
// claimLeased's to say. ok is false without a live lease.
//
// The holders' total is what they all ask for, unless they hold more: a
// holder that renewed before the others had taken their slices would
// otherwise release fewer than the others may admit.
func (r *Room) leaseFrontier(now time.Time) (served int64, ok bool) {
	ls := &r.lease
	ls.mu.Lock()
	defer ls.mu.Unlock()
	l := ls.cur
	if l == nil || !now.Before(l.got.Add(2*l.ttl)) {
		return 0, false
	}
	share := min(1, float64(now.Sub(l.got))/float64(l.ttl))
	return l.Served + int64(math.Ceil(share*float64(max(l.Total, l.want)))), true
}

// claimLeased admits place pl under the room's lease, while the store does
// not answer: within the lease's frontier (see leaseFrontier) and its
// number, in an open room. A place admitted here already is admitted again
// with its first expiry, as a claim repeated by a second tab is.
func (r *Room) claimLeased(pl int64) (queue.Claim, bool) {
	now := r.c.now()
	p := r.Policy()
	if p.State != StateOpen {
		return queue.Claim{}, false
	}
	ls := &r.lease
	ls.mu.Lock()
	for _, u := range ls.used {
		if u.Seq == pl {
			ls.mu.Unlock()
			return queue.Claim{Outcome: queue.Admitted, Expires: u.Expires}, true
		}
	}
	ls.mu.Unlock()
	frontier, ok := r.leaseFrontier(now)
	if !ok || pl > frontier {
		return queue.Claim{}, false
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.cur == nil || ls.made >= ls.cur.N {
		return queue.Claim{}, false
	}
	exp := now.Add(p.Session)
	ls.used = append(ls.used, queue.LeaseAdmission{Seq: pl, Expires: exp})
	ls.made++
	ls.own++
	return queue.Claim{Outcome: queue.Admitted, Expires: exp, First: true}, true
}

// Leased reports the room's lease on this instance: the admissions it may
// still make on its own (0 without a live lease), and those it has made
// since the room began here.
func (r *Room) Leased() (left int, own int64) {
	ls := &r.lease
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if l := ls.cur; l != nil && r.c.now().Before(l.got.Add(2*l.ttl)) {
		left = l.N - ls.made
	}
	return left, ls.own
}
