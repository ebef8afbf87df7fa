package admission

import (
	"context"
	"fmt"
	"time"

	"github.com/usherhq/usher/admissionlog"
)

// logSet is the store set of a room's admission records, one key per
// record line.
const logSet = "admissions"

// logKeep is how long a record stays in the store: as long as the store
// keeps anything, since a record that expired would break the chain.
const logKeep = 365 * 24 * time.Hour

// logRefresh is how often each instance reads the room's records and
// rebuilds the chain it publishes.
const logRefresh = 10 * time.Second

// logSettle is how old a gap in the records must be before the chain goes
// past it: a younger one may be a record still on its way from another
// instance.
const logSettle = 10 * time.Second

// AdmissionLog is the room's admission log as this instance last built it
// (at most logRefresh old), or nil before the first reading.
func (r *Room) AdmissionLog() *admissionlog.Chain { return r.log.Load() }

// record appends a batch of offers, places from to to, to the room's log.
// A failure is counted and logged: the chain then shows a gap.
func (r *Room) record(ctx context.Context, from, to int64, at time.Time, version int64, lim float64, maxActive int) {
	rec := admissionlog.Record{From: from, To: to, At: at.Truncate(time.Millisecond), PolicyVersion: version, RatePerMinute: lim, MaxActive: maxActive}
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.StoreTimeout)
	defer cancel()
	if _, err := r.c.store.Mark(ctx, r.id, logSet, rec.Line(), logKeep); err != nil {
		r.c.storeErrors.advance.Add(1)
		r.c.opts.Logger.Warn("admission log record failed", "room", r.id, "from", from, "to", to, "err", err)
	}
}

// readLog rebuilds the room's chain from the store, at most every
// logRefresh.
func (c *Controller) readLog(ctx context.Context, r *Room) error {
	now := c.now()
	if last := r.logRead.Load(); last != 0 && now.Sub(time.Unix(0, last)) < logRefresh {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, drawRead)
	defer cancel()
	marked, err := c.store.Marked(ctx, r.id, logSet)
	if err != nil {
		return fmt.Errorf("admission log of room %q: %w", r.id, err)
	}
	records := make([]admissionlog.Record, 0, len(marked))
	for line := range marked {
		if rec, err := admissionlog.Parse(line); err == nil {
			records = append(records, rec)
		}
	}
	chain := admissionlog.Build(r.id, admissionlog.Sort(records), now.Add(-logSettle))
	r.log.Store(&chain)
	r.logRead.Store(now.UnixNano())
	return nil
}
