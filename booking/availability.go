package booking

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"
)

// Snapshot is an event's availability as the cache holds it. Its maps are
// never changed once published: a refresh replaces them.
type Snapshot struct {
	EventID string
	// Version grows with every change.
	Version int64
	At      time.Time
	Seats   map[string]PlaceState
	Zones   map[string]ZoneCount
}

// Change is what a refresh changed: only the seats and zones that differ.
type Change struct {
	Version int64
	Seats   map[string]PlaceState
	Zones   map[string]ZoneCount
}

// availabilityHub serves availability from memory: refreshed from the store
// right after a change made here, when a hold made here expires, and every
// few seconds for events someone is watching (changes made by other
// instances). A fan's request never costs a database query.
type availabilityHub struct {
	store Store
	now   func() time.Time
	log   *slog.Logger

	mu     sync.Mutex
	events map[string]*eventAvail
}

// eventAvail is one event's cached availability and its watchers.
type eventAvail struct {
	mu       sync.Mutex // serialises loads and refreshes
	snap     Snapshot
	loaded   bool
	subs     map[chan Change]struct{}
	lastUsed time.Time
	timer    *time.Timer
	timerAt  time.Time
}

// watchedFor is how long after its last read an event keeps being
// refreshed.
const watchedFor = time.Minute

func newAvailabilityHub(store Store, now func() time.Time, log *slog.Logger) *availabilityHub {
	return &availabilityHub{store: store, now: now, log: log, events: map[string]*eventAvail{}}
}

func (h *availabilityHub) event(id string) *eventAvail {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.events[id]
	if e == nil {
		e = &eventAvail{subs: map[chan Change]struct{}{}}
		h.events[id] = e
	}
	return e
}

// Get returns the event's availability, loading it on first use.
func (h *availabilityHub) Get(ctx context.Context, eventID string) (Snapshot, error) {
	e := h.event(eventID)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastUsed = h.now()
	if !e.loaded {
		if err := h.refreshLocked(ctx, eventID, e); err != nil {
			return Snapshot{}, err
		}
	}
	return e.snap, nil
}

// Changed rereads the event now: a hold, release or sale was just made.
func (h *availabilityHub) Changed(ctx context.Context, eventID string) {
	e := h.event(eventID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := h.refreshLocked(ctx, eventID, e); err != nil {
		h.log.Warn("availability refresh failed", "event", eventID, "err", err)
	}
}

// ExpireAt rereads the event when a hold made here ends, so its places show
// available at once.
func (h *availabilityHub) ExpireAt(eventID string, at time.Time) {
	e := h.event(eventID)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.timer != nil && !e.timerAt.After(at) && e.timerAt.After(h.now()) {
		return // an earlier refresh is due anyway
	}
	if e.timer != nil {
		e.timer.Stop()
	}
	e.timerAt = at
	d := max(0, at.Sub(h.now())) + 50*time.Millisecond // just past the expiry
	e.timer = time.AfterFunc(d, func() { h.Changed(context.Background(), eventID) })
}

// Subscribe returns the current snapshot and a channel of the changes after
// it; cancel ends the subscription and closes the channel.
func (h *availabilityHub) Subscribe(ctx context.Context, eventID string) (Snapshot, <-chan Change, func(), error) {
	e := h.event(eventID)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastUsed = h.now()
	if !e.loaded {
		if err := h.refreshLocked(ctx, eventID, e); err != nil {
			return Snapshot{}, nil, nil, err
		}
	}
	ch := make(chan Change, 16)
	e.subs[ch] = struct{}{}
	cancel := func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		// The hub may have dropped a slow watcher, closing its channel.
		if _, ok := e.subs[ch]; ok {
			delete(e.subs, ch)
			close(ch)
		}
	}
	return e.snap, ch, cancel, nil
}

// refreshWatched rereads the events that were read lately or have watchers.
func (h *availabilityHub) refreshWatched(ctx context.Context) {
	h.mu.Lock()
	ids := make([]string, 0, len(h.events))
	for id := range h.events {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	now := h.now()
	for _, id := range ids {
		e := h.event(id)
		e.mu.Lock()
		if len(e.subs) > 0 || now.Sub(e.lastUsed) < watchedFor {
			if err := h.refreshLocked(ctx, id, e); err != nil && ctx.Err() == nil {
				h.log.Warn("availability refresh failed", "event", id, "err", err)
			}
		}
		e.mu.Unlock()
	}
}

// refreshLocked reads the event from the store and publishes what changed.
// e.mu is held.
func (h *availabilityHub) refreshLocked(ctx context.Context, eventID string, e *eventAvail) error {
	a, err := h.store.Availability(ctx, eventID, h.now())
	if err != nil {
		return err
	}
	ch := Change{Seats: map[string]PlaceState{}, Zones: map[string]ZoneCount{}}
	for id, st := range a.Seats {
		if old, ok := e.snap.Seats[id]; !ok || old != st {
			ch.Seats[id] = st
		}
	}
	for id, zc := range a.Zones {
		if old, ok := e.snap.Zones[id]; !ok || old != zc {
			ch.Zones[id] = zc
		}
	}
	first := !e.loaded
	e.loaded = true
	if !first && len(ch.Seats) == 0 && len(ch.Zones) == 0 && len(a.Seats) == len(e.snap.Seats) && len(a.Zones) == len(e.snap.Zones) {
		e.snap.At = a.At
		return nil
	}
	e.snap = Snapshot{EventID: eventID, Version: e.snap.Version + 1, At: a.At, Seats: maps.Clone(a.Seats), Zones: maps.Clone(a.Zones)}
	if first {
		return nil
	}
	ch.Version = e.snap.Version
	for sub := range e.subs {
		select {
		case sub <- ch:
		default:
			// A watcher too slow to keep up is dropped; its stream ends and
			// the page reconnects for a fresh snapshot.
			delete(e.subs, sub)
			close(sub)
		}
	}
	return nil
}
