package admission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/usherhq/usher/queue"
)

// Room is one protected room as a gateway instance runs it: its live policy,
// its view of the store, and the calls that change its line.
type Room struct {
	id, name string
	store    queue.Store
	timeout  time.Duration
	policy   atomic.Pointer[Policy]
	view     atomic.Pointer[View]

	admitted atomic.Int64 // admissions made through this instance
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
func (r *Room) Policy() Policy { return *r.policy.Load() }

// SetPolicy replaces the room's policy; the next call to the store uses it.
// The caller has checked it.
func (r *Room) SetPolicy(p Policy) { r.policy.Store(&p) }

// View is the room as last read from the store, at most one controller tick
// old. Answering from it keeps status polls off the store.
func (r *Room) View() View { return *r.view.Load() }

// Admitted counts the admissions this instance has made in the room.
func (r *Room) Admitted() int64 { return r.admitted.Load() }

// Join gives a new visitor a place, admitting them at once when nobody waits.
func (r *Room) Join(ctx context.Context) (queue.Place, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	pl, err := r.store.Join(ctx, r.id, r.Policy().Limits())
	if err != nil {
		return pl, fmt.Errorf("join room %q: %w", r.id, err)
	}
	if pl.Admitted {
		r.admitted.Add(1)
	}
	return pl, nil
}

// Claim turns the offer made to place seq into an admission.
func (r *Room) Claim(ctx context.Context, seq int64) (queue.Claim, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c, err := r.store.Claim(ctx, r.id, seq, r.Policy().Limits())
	if err != nil {
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
	// ETA estimates the wait; meaningful only when ETAKnown.
	ETA      time.Duration
	ETAKnown bool
	// PollAfter is when the visitor should ask again.
	PollAfter time.Duration
}

// Ahead is how many visitors wait ahead.
func (w Wait) Ahead() int64 { return max(0, w.Position-1) }

// Wait tells where place seq stands, answering from the view without a call
// to the store.
func (r *Room) Wait(seq int64) Wait {
	v, p := r.View(), r.Policy()
	if seq <= v.Served {
		return Wait{Offered: true, ETAKnown: true, PollAfter: p.PollMin}
	}
	w := Wait{Position: seq - v.Served}
	if p.State == StateOpen {
		w.ETA, w.ETAKnown = estimate(w.Position, v.Snapshot, p), true
		w.PollAfter = pollAfter(w.ETA, p)
	} else {
		w.PollAfter = pollAfter(p.PollMax*4, p)
	}
	return w
}

// estimate is how long until the frontier moves position places: at the rate
// while capacity is free, then at the pace sessions end once it is full.
func estimate(position int64, v queue.Snapshot, p Policy) time.Duration {
	perMinute := p.RatePerMinute
	free := float64(max(0, p.MaxActive-v.Active-v.Pending))
	// Once every pass is taken, a new one frees up only as a session ends.
	full := math.Min(perMinute, float64(p.MaxActive)/p.Session.Minutes())
	n := float64(position)
	minutes := math.Min(n, free)/perMinute + math.Max(0, n-free)/full
	return time.Duration(minutes * float64(time.Minute)).Round(time.Second)
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
	// Logger receives store failures. Default slog.Default().
	Logger *slog.Logger
}

// Controller admits the next batch of every room at each tick and keeps each
// room's view fresh. Every gateway instance runs one; the store makes their
// ticks safe to interleave.
type Controller struct {
	store queue.Store
	opts  ControllerOptions
	rooms []*Room
	byID  map[string]*Room
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
	return &Controller{store: store, opts: opts, byID: map[string]*Room{}}
}

// AddRoom adds a room before the controller runs.
func (c *Controller) AddRoom(id, name string, p Policy) *Room {
	r := &Room{id: id, name: name, store: c.store, timeout: c.opts.StoreTimeout}
	r.policy.Store(&p)
	r.view.Store(&View{})
	c.rooms = append(c.rooms, r)
	c.byID[id] = r
	return r
}

// Room returns the room with the id, or nil.
func (c *Controller) Room(id string) *Room { return c.byID[id] }

// Rooms lists the rooms in the order they were added.
func (c *Controller) Rooms() []*Room { return c.rooms }

// Tick advances every open room once and refreshes every view. It returns
// every store failure, joined; a failing room leaves the others unharmed.
func (c *Controller) Tick(ctx context.Context) error {
	var errs []error
	for _, r := range c.rooms {
		if err := c.tick(ctx, r); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (c *Controller) tick(ctx context.Context, r *Room) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StoreTimeout)
	defer cancel()
	p := r.Policy()
	var (
		snap queue.Snapshot
		err  error
	)
	if p.State == StateOpen {
		snap, err = c.store.Advance(ctx, r.id, p.Limits())
	} else {
		snap, err = c.store.Snapshot(ctx, r.id)
	}
	if err != nil {
		old := r.View()
		old.Fresh = false
		r.view.Store(&old)
		return fmt.Errorf("advance room %q: %w", r.id, err)
	}
	r.view.Store(&View{Snapshot: snap, Fresh: true})
	return nil
}

// Run ticks until ctx ends, logging store failures, and returns nil then.
func (c *Controller) Run(ctx context.Context) error {
	t := time.NewTicker(c.opts.Tick)
	defer t.Stop()
	for {
		if err := c.Tick(ctx); err != nil && ctx.Err() == nil {
			c.opts.Logger.Warn("admission tick failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
