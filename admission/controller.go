package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/usherhq/usher/admissionlog"
	"github.com/usherhq/usher/queue"
)

// Room is one protected room as a gateway instance runs it: its live policy,
// its view of the store, and the calls that change its line.
type Room struct {
	id, name string
	c        *Controller
	live     atomic.Pointer[livePolicy]
	view     atomic.Pointer[View]
	admitted atomic.Int64 // admissions made through this instance
	// shoppersCap is the most shoppers the tickets left can serve, from
	// SetInventory; -1 while the inventory is unknown. sourceLeft is the
	// tickets left as the source last said, -1 unknown.
	shoppersCap atomic.Int64
	sourceLeft  atomic.Int64
	// perShopper is the tickets a shopper buys on average, as a float's
	// bits (math.Float64bits): 2 until SetInventory says otherwise.
	perShopper atomic.Uint64

	// Origin measures the origin's answers to this room's proxied requests.
	Origin *OriginRecorder

	// The lottery, in lottery mode: the seed once read, the draw once
	// made, and how many ticks the draw has waited for the instances to
	// agree.
	seedCache atomic.Pointer[seedOf]
	drawn     atomic.Pointer[Drawn]
	drawTries atomic.Int32

	// log is the admission log as last built, logRead when (Unix
	// nanoseconds on the controller's clock).
	log     atomic.Pointer[admissionlog.Chain]
	logRead atomic.Int64

	// measured is what the last tick measured of the line's pace.
	measured atomic.Pointer[measures]

	// leaseFor is how long a lease on the room's budget lasts (see
	// RoomDef.Lease), as a time.Duration; 0 takes none.
	leaseFor atomic.Int64
	lease    leaseState

	mu           sync.Mutex // guards the fields below
	configPolicy Policy     // the policy the configuration file gives
	configHash   string
	synced       bool // the store's policy was reconciled with the file
	history      history
}

// livePolicy is a policy with the store version it came from (0: not yet
// saved or read).
type livePolicy struct {
	Policy
	version int64
}

// View is a room as this instance last read it from the store.
type View struct {
	queue.Snapshot
	// Fresh is false while the last attempt to read the store failed.
	Fresh bool
}

// ID is the room's id.
func (r *Room) ID() string { return r.id }

// Name is what fans queue for in this room.
func (r *Room) Name() string { return r.name }

// Policy is the room's live policy.
func (r *Room) Policy() Policy { return r.live.Load().Policy }

// PolicyVersion is the store version of the live policy (0 until it has been
// saved or read).
func (r *Room) PolicyVersion() int64 { return r.live.Load().version }

func (r *Room) setPolicy(p Policy, version int64) {
	r.live.Store(&livePolicy{Policy: p, version: version})
}

// View is the room as last read from the store, at most one controller tick
// old. Answering from it keeps status polls off the store.
func (r *Room) View() View { return *r.view.Load() }

// Admitted counts the admissions this instance has made in the room.
func (r *Room) Admitted() int64 { return r.admitted.Load() }

// limits are the store's limits of the live policy now.
func (r *Room) limits() queue.Limits {
	live := r.live.Load()
	p := live.Policy
	lim := p.Limits(r.c.now())
	// Offers only under the newest policy: one changed through another
	// instance stops this one's offers until it has read it.
	lim.PolicyVersion = live.version
	if c := r.shoppersCap.Load(); c >= 0 && int64(lim.MaxActive) > c {
		lim.MaxActive = int(c)
	}
	if p.Inventory != nil {
		c := int64(math.Ceil(float64(*p.Inventory) / math.Float64frombits(r.perShopper.Load())))
		if int64(lim.MaxActive) > c {
			lim.MaxActive = int(c)
		}
	}
	return lim
}

// Release ends the admission of seq before its session is over, as when
// the origin says the visitor is done: the capacity goes to the next
// visitor, and the place is used.
func (r *Room) Release(ctx context.Context, seq int64) (bool, error) {
	pl, ok := r.place(seq)
	if !ok {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	ok, err := r.c.store.Release(ctx, r.id, pl)
	if err != nil {
		return false, fmt.Errorf("release place %d in room %q: %w", seq, r.id, err)
	}
	return ok, nil
}

// SetInventory records how many tickets are left to sell (left < 0:
// unknown, no cap), and how many tickets a shopper buys on average: from
// then on the room keeps no more shoppers active than the tickets left can
// serve, ceil(left / perShopper), within its max_active. Nobody is admitted
// once nothing is left.
func (r *Room) SetInventory(left int64, perShopper float64) {
	if perShopper > 0 {
		r.perShopper.Store(math.Float64bits(perShopper))
	}
	r.sourceLeft.Store(max(left, -1))
	if left < 0 || !(perShopper > 0) {
		r.shoppersCap.Store(-1)
		return
	}
	r.shoppersCap.Store(int64(math.Ceil(float64(left) / perShopper)))
}

// SetTicketsPerShopper sets how many tickets a shopper buys on average,
// which turns an inventory into a cap on active shoppers. Default 2.
func (r *Room) SetTicketsPerShopper(perShopper float64) {
	if perShopper > 0 {
		r.perShopper.Store(math.Float64bits(perShopper))
	}
}

// ShoppersCap is the cap SetInventory put on active shoppers, and false
// while there is none.
func (r *Room) ShoppersCap() (int64, bool) {
	c := r.shoppersCap.Load()
	return c, c >= 0
}

// Join gives a new visitor, whose ticket will carry the id, a place,
// admitting them at once when nobody waits. In a lottery room, every join
// up to the draw is an entrant.
func (r *Room) Join(ctx context.Context, id string) (queue.Place, error) {
	lim := r.limits()
	if _, drawn := r.place(0); !drawn {
		// Until the draw, nobody's place is known, so nobody may take
		// one by walking in.
		lim.Admit = false
	}
	sctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	pl, err := r.c.store.Join(sctx, r.id, lim)
	if err != nil {
		r.c.storeErrors.join.Add(1)
		return pl, fmt.Errorf("join room %q: %w", r.id, err)
	}
	if err := r.enter(ctx, pl.Seq, id); err != nil {
		// Without its entry the arrival would still get a place after
		// every entrant; failing the join lets the visitor try again.
		r.c.storeErrors.join.Add(1)
		return queue.Place{}, err
	}
	if pl.Admitted {
		r.admitted.Add(1)
		r.record(ctx, pl.Seq, pl.Seq, r.c.now(), r.PolicyVersion(), lim.RatePerMinute, lim.MaxActive)
	}
	return pl, nil
}

// Claim turns the offer made to arrival seq's place into an admission.
func (r *Room) Claim(ctx context.Context, seq int64) (queue.Claim, error) {
	pl, ok := r.place(seq)
	if !ok {
		return queue.Claim{Outcome: queue.NotOffered}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	if !r.View().Fresh {
		// The store did not answer the last tick: admit under the lease,
		// if it allows, without waiting for the store to fail again.
		if c, ok := r.claimLeased(pl); ok {
			r.admitted.Add(1)
			return c, nil
		}
	}
	c, err := r.c.store.Claim(ctx, r.id, pl, r.limits())
	if err != nil {
		r.c.storeErrors.claim.Add(1)
		if errors.Is(err, queue.ErrUnavailable) {
			if lc, ok := r.claimLeased(pl); ok {
				r.admitted.Add(1)
				return lc, nil
			}
		}
		return c, fmt.Errorf("claim place %d in room %q: %w", seq, r.id, err)
	}
	if c.First {
		r.admitted.Add(1)
	}
	return c, nil
}

// Wait describes a waiting visitor's place, from the view alone.
type Wait struct {
	// Offered: the frontier has reached the place; claim it.
	Offered bool
	// Position is the place in line, 1 for the next to be offered; 0 when
	// Offered.
	Position int64
	// ETA estimates the wait, the middle of the range ETALow to ETAHigh;
	// meaningful only when ETAKnown.
	ETA, ETALow, ETAHigh time.Duration
	ETAKnown             bool
	// PollAfter is when the visitor should ask again.
	PollAfter time.Duration
	// Entry is the visitor's arrival number in a lottery room, where it
	// is what a fan checks the draw with; 0 elsewhere.
	Entry int64
	// Drawing: the visitor is in a lottery room whose draw this instance
	// has not made yet, so the place is not known (Position is 0).
	Drawing bool
	// SoldOutLikely: at the tickets shoppers buy now, the shoppers inside
	// and those ahead who will show up are likely to buy every ticket
	// left before this visitor's turn.
	SoldOutLikely bool
	// Holding: the store did not answer this instance's last tick, so the
	// line cannot move; the visitor keeps the place and should hold on.
	Holding bool
}

// Ahead is how many visitors wait ahead.
func (w Wait) Ahead() int64 { return max(0, w.Position-1) }

// Wait tells where arrival seq stands, answering from the view without a
// call to the store.
func (r *Room) Wait(seq int64) Wait {
	if !r.Lottery() {
		return r.waitAt(seq)
	}
	pl, ok := r.place(seq)
	if !ok {
		// Ask again once the draw is likely made.
		p, now := r.Policy(), r.c.now()
		next := p.SaleStartsAt.Add(drawSettle + r.c.opts.Tick).Sub(now)
		return Wait{Entry: seq, Drawing: true, PollAfter: min(max(next, p.PollMin), p.PollMax)}
	}
	w := r.waitAt(pl)
	w.Entry = seq
	return w
}

// waitAt tells where place pl stands.
func (r *Room) waitAt(seq int64) Wait {
	v, p := r.View(), r.Policy()
	if !v.Fresh && p.State == StateOpen {
		// While the store does not answer, the lease moves the line.
		if f, ok := r.leaseFrontier(r.c.now()); ok {
			v.Served = max(v.Served, f)
		}
	}
	if seq <= v.Served {
		return Wait{Offered: true, ETAKnown: true, PollAfter: p.PollMin}
	}
	w := Wait{Position: seq - v.Served, Holding: !v.Fresh}
	w.SoldOutLikely = r.soldOutLikely(w.Ahead(), v)
	if p.State == StateOpen {
		w.ETA, w.ETALow, w.ETAHigh = r.estimate(w.Position, v, p, r.c.now())
		w.ETAKnown = true
		w.PollAfter = pollAfter(w.ETA, p)
	} else {
		w.PollAfter = pollAfter(p.PollMax*4, p)
	}
	return w
}

// Estimate is how long, from now, until the frontier moves position places
// under policy p: at the rate (following any ramp) while capacity is free,
// then at the pace sessions end once it is full.
func Estimate(position int64, v queue.Snapshot, p Policy, now time.Time) time.Duration {
	n := float64(position)
	free := float64(max(0, p.MaxActive-v.Active-v.Pending))
	first := math.Min(n, free)
	d := rampTime(first, p, now)
	if rest := n - first; rest > 0 {
		// Once every pass is taken, a new one frees up only as a session
		// ends.
		end := p.EffectiveRate(now.Add(d))
		pace := math.Min(end, float64(p.MaxActive)/p.Session.Minutes())
		d += time.Duration(rest / pace * float64(time.Minute))
	}
	return d.Round(time.Second)
}

// rampTime is how long admitting n visitors takes at the policy's rate from
// now, following a ramp under way.
func rampTime(n float64, p Policy, now time.Time) time.Duration {
	if n <= 0 {
		return 0
	}
	ramping, end := p.Ramping(now)
	r0 := p.EffectiveRate(now) / float64(time.Minute) // per nanosecond
	r1 := p.RatePerMinute / float64(time.Minute)
	if !ramping {
		return time.Duration(n / r1)
	}
	// Under the ramp the rate grows linearly from r0 to r1 over T: by t it
	// has admitted r0·t + (r1-r0)·t²/(2T).
	T := float64(end.Sub(now))
	during := r0*T + (r1-r0)*T/2
	if n >= during {
		return time.Duration(T + (n-during)/r1)
	}
	a := (r1 - r0) / (2 * T)
	if a <= 0 {
		return time.Duration(n / r0)
	}
	return time.Duration((-r0 + math.Sqrt(r0*r0+4*a*n)) / (2 * a))
}

// pollAfter spaces polls by distance: about eight polls over the wait,
// within the policy's bounds, with jitter so a crowd that joined together
// does not keep polling together.
func pollAfter(eta time.Duration, p Policy) time.Duration {
	d := min(max(eta/8, p.PollMin), p.PollMax)
	jitter := 0.9 + 0.2*rand.Float64()
	return time.Duration(float64(d) * jitter).Round(time.Millisecond)
}

// ControllerOptions configures a Controller.
type ControllerOptions struct {
	// Tick is how often the controller advances every room. Default 1s.
	Tick time.Duration
	// StoreTimeout bounds each call to the store. Default 1s.
	StoreTimeout time.Duration
	// Logger receives store failures and policy changes. Default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock of ramps and statistics. Default time.Now.
	Now func() time.Time
}

// Controller admits the next batch of every room at each tick, keeps each
// room's view fresh, and keeps every room's policy in step with the store,
// where operators change it. Every gateway instance runs one; the store makes
// their ticks safe to interleave.
type Controller struct {
	store       queue.Store
	opts        ControllerOptions
	holder      string     // this instance, as the store's lease holder
	mu          sync.Mutex // serialises changes to the room list
	rooms       atomic.Pointer[[]*Room]
	reload      chan string
	storeErrors StoreErrors
}

// StoreErrors counts failed store calls by operation.
type StoreErrors struct {
	join, claim, advance, policy atomic.Int64
}

// Counts returns the counts by operation name.
func (s *StoreErrors) Counts() map[string]int64 {
	return map[string]int64{"join": s.join.Load(), "claim": s.claim.Load(), "advance": s.advance.Load(), "policy": s.policy.Load()}
}

// NewController returns a controller over store with no rooms.
func NewController(store queue.Store, opts ControllerOptions) *Controller {
	if opts.Tick <= 0 {
		opts.Tick = time.Second
	}
	if opts.StoreTimeout <= 0 {
		opts.StoreTimeout = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Controller{store: store, opts: opts, holder: newHolder(), reload: make(chan string, 64)}
	c.rooms.Store(&[]*Room{})
	return c
}

func (c *Controller) now() time.Time { return c.opts.Now() }

// StoreErrors counts the store calls that failed.
func (c *Controller) StoreErrors() *StoreErrors { return &c.storeErrors }

// RoomDef is a room as the configuration defines it.
type RoomDef struct {
	ID, Name string
	Policy   Policy
	// Lease is how far ahead each instance takes a slice of the room's
	// admission budget and capacity from the store, so that while the
	// store does not answer (a Redis failover) it goes on admitting at the
	// rate, within max_active; 0 takes none.
	Lease time.Duration
}

// AddRoom adds a room. Its policy is the configuration's until the store
// says otherwise (see Sync).
func (c *Controller) AddRoom(id, name string, p Policy) *Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.newRoom(RoomDef{ID: id, Name: name, Policy: p})
	rooms := append(append([]*Room(nil), *c.rooms.Load()...), r)
	c.rooms.Store(&rooms)
	return r
}

func (c *Controller) newRoom(d RoomDef) *Room {
	r := &Room{id: d.ID, name: d.Name, c: c, Origin: NewOriginRecorder(c.opts.Now)}
	r.configPolicy, r.configHash = d.Policy, configHash(d.Policy)
	r.setPolicy(d.Policy, 0)
	r.view.Store(&View{})
	r.shoppersCap.Store(-1)
	r.sourceLeft.Store(-1)
	r.perShopper.Store(math.Float64bits(2))
	r.leaseFor.Store(int64(d.Lease))
	return r
}

// SetRooms makes the room list match defs, as a reloaded configuration
// does: rooms not in defs go, new ones come, and a room whose configured
// policy changed takes the new one (reconciled with the store at the next
// tick). It returns the rooms in the order of defs.
func (c *Controller) SetRooms(defs []RoomDef) []*Room {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := map[string]*Room{}
	for _, r := range *c.rooms.Load() {
		old[r.id] = r
	}
	rooms := make([]*Room, 0, len(defs))
	for _, d := range defs {
		r, ok := old[d.ID]
		if ok {
			r.leaseFor.Store(int64(d.Lease))
		}
		if !ok {
			r = c.newRoom(d)
		} else if h := configHash(d.Policy); h != r.configHash {
			r.mu.Lock()
			r.configPolicy, r.configHash, r.synced = d.Policy, h, false
			r.mu.Unlock()
		}
		rooms = append(rooms, r)
	}
	c.rooms.Store(&rooms)
	return rooms
}

// Room returns the room with the id, or nil.
func (c *Controller) Room(id string) *Room {
	for _, r := range *c.rooms.Load() {
		if r.id == id {
			return r
		}
	}
	return nil
}

// Rooms lists the rooms in the order they were added.
func (c *Controller) Rooms() []*Room { return *c.rooms.Load() }

// Tick reconciles, advances and refreshes every room once. It returns every
// store failure, joined; a failing room leaves the others unharmed.
func (c *Controller) Tick(ctx context.Context) error {
	var errs []error
	for _, r := range c.Rooms() {
		if err := c.tick(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) tick(ctx context.Context, r *Room) error {
	r.mu.Lock()
	synced := r.synced
	r.mu.Unlock()
	if !synced {
		if err := r.sync(ctx); err != nil {
			c.storeErrors.policy.Add(1)
			c.markStale(r)
			return err
		}
	}
	sctx, cancel := context.WithTimeout(ctx, c.opts.StoreTimeout)
	defer cancel()
	p := r.Policy()
	var (
		snap queue.Snapshot
		err  error
	)
	lim := r.limits()
	lease := time.Duration(r.leaseFor.Load())
	if lease > 0 {
		// This instance's own slice goes back before it offers, so that
		// the capacity it kept aside serves the line first; the slice is
		// taken again from what is left.
		err = c.renewLease(sctx, r, lim, 0)
	}
	switch {
	case err != nil:
	case p.State == StateOpen:
		snap, err = c.store.Advance(sctx, r.id, lim)
	default:
		snap, err = c.store.Snapshot(sctx, r.id)
	}
	if err != nil {
		c.storeErrors.advance.Add(1)
		c.markStale(r)
		return fmt.Errorf("advance room %q: %w", r.id, err)
	}
	r.view.Store(&View{Snapshot: snap, Fresh: true})
	r.sample(c.now())
	if err := c.renewLease(sctx, r, lim, lease); err != nil {
		c.storeErrors.advance.Add(1)
		return err
	}
	if snap.Offered > 0 {
		r.record(ctx, snap.Served-int64(snap.Offered)+1, snap.Served, snap.At, snap.PolicyVersion, lim.RatePerMinute, lim.MaxActive)
	}
	if err := c.readLog(ctx, r); err != nil {
		c.storeErrors.advance.Add(1)
		return err
	}
	if err := c.draw(ctx, r); err != nil {
		c.storeErrors.advance.Add(1)
		return err
	}
	if snap.PolicyVersion != r.PolicyVersion() {
		// Changed through another instance, and the notification has not
		// arrived (or was lost): read it now.
		if err := r.reloadPolicy(ctx); err != nil {
			c.storeErrors.policy.Add(1)
			return err
		}
	}
	return nil
}

func (c *Controller) markStale(r *Room) {
	old := r.View()
	old.Fresh = false
	r.view.Store(&old)
}

// Run ticks until ctx ends, logging store failures, and returns nil then.
// Beside the ticks it listens for policy changes made through any instance
// and applies them as they come.
func (c *Controller) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { c.watch(ctx) })
	defer wg.Wait()
	t := time.NewTicker(c.opts.Tick)
	defer t.Stop()
	tick := func() {
		if err := c.Tick(ctx); err != nil && ctx.Err() == nil {
			c.opts.Logger.Warn("admission tick failed", "err", err)
		}
	}
	tick()
	for {
		select {
		case <-ctx.Done():
			// Whatever this instance admitted on its own is reported,
			// and its slices of the budget go back to the others.
			for _, r := range c.Rooms() {
				c.handBack(context.WithoutCancel(ctx), r)
			}
			return nil
		case <-t.C:
			tick()
		case id := <-c.reload:
			if r := c.Room(id); r != nil {
				if err := r.reloadPolicy(ctx); err != nil && ctx.Err() == nil {
					c.storeErrors.policy.Add(1)
					c.opts.Logger.Warn("policy reload failed", "room", id, "err", err)
				}
			}
		}
	}
}

// watch feeds change notifications to Run, and watches again after a
// failure; ticks cover what is missed meanwhile.
func (c *Controller) watch(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.store.WatchPolicies(ctx, func(room string) {
			select {
			case c.reload <- room:
			default: // Run is behind; the next tick catches up
			}
		})
		if err == nil || ctx.Err() != nil {
			return
		}
		c.opts.Logger.Warn("watching policy changes failed; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Second):
		}
	}
}
