package gateway

import (
	"net/url"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/shield"
)

// The per-client limits of a room, as indexes of room.limiters.
const (
	limitJoin = iota
	limitStatus
	limitAdmitted
	limitCount
	// limitJoinGlobal is counted with the others but kept in the queue
	// store, not in a limiter of this instance.
	limitJoinGlobal = limitCount
)

// limitNames are the limits as the limit label names them.
var limitNames = [limitCount + 1]string{"join", "status", "admitted", "join_global"}

// room is a room as the gateway serves it: the admission room plus what the
// gateway precomputes to serve it without allocating.
type room struct {
	id         string
	adm        *admission.Room
	ticketName string
	passName   string
	statusURL  string

	// limits is what limiters were made from: a reload that keeps them
	// keeps the limiters and the buckets in them.
	limits   LimitsConfig
	limiters [limitCount]*shield.Limiter // nil: no limit
	limited  [limitCount + 1]prometheus.Counter

	// allow and deny are the room's networks of shield.allow and
	// shield.deny; revoked is what operators revoked, as this instance last
	// read it from the store (never nil).
	allow, deny *shield.Prefixes
	revoked     atomic.Pointer[revocations]
	decisions   *decisionSeries

	// shield is the room's bot defence as configured; scorer holds its
	// per-client state, kept across a reload that leaves the scorer's
	// settings alone.
	shield       ShieldConfig
	scorer       *shield.Scorer
	challenges   map[string]prometheus.Counter // by result
	challengeURL string

	// requireLogin and maxPasses are the room's require_login and
	// max_passes_per_account.
	requireLogin bool
	maxPasses    int
	inventory    InventoryConfig
	autoRate     AutoRateConfig
	// failOpen lets visitors in unqueued while the store does not answer.
	failOpen bool

	// drawnList is the room's lottery list as last published.
	drawnList atomic.Pointer[drawnList]
}

// newRoom makes a room's gateway side. It takes prev's limiters when prev
// (the same room before a reload, or nil) had the same limits, so a reload
// neither forgives a flooding client nor forgets a fan's bucket.
func newRoom(adm *admission.Room, rc RoomConfig, prev *room, m *metrics) *room {
	limits := rc.Limits
	rm := &room{
		id:         adm.ID(),
		adm:        adm,
		ticketName: admission.TicketCookie(adm.ID()),
		passName:   admission.PassCookie(adm.ID()),
		statusURL:  "/_usher/status?room=" + url.QueryEscape(adm.ID()),
		limits:     limits,
		allow:      shield.NewPrefixes(rc.allow),
		deny:       shield.NewPrefixes(rc.deny),
		decisions:  m.decisionSeries(adm.ID()),

		shield:       rc.Shield,
		challenges:   make(map[string]prometheus.Counter, len(challengeResults)),
		challengeURL: "/_usher/challenge?room=" + url.QueryEscape(adm.ID()),
		requireLogin: rc.RequireLogin,
		inventory:    rc.Inventory,
		autoRate:     rc.AutoRate,
		failOpen:     rc.OnStoreFailure == "open",
		maxPasses:    rc.MaxPassesPerAccount,
	}
	if prev != nil && scorerConfig(prev.shield) == scorerConfig(rc.Shield) {
		rm.scorer = prev.scorer
	} else {
		rm.scorer = shield.NewScorer(scorerConfig(rc.Shield))
	}
	adm.SetTicketsPerShopper(rc.Inventory.TicketsPerShopper)
	for _, r := range challengeResults {
		rm.challenges[r] = m.challenges.WithLabelValues(rm.id, r)
	}
	if prev != nil {
		rm.revoked.Store(prev.revoked.Load())
	} else {
		rm.revoked.Store(&revocations{})
	}
	if prev != nil && prev.limits == limits {
		rm.limiters = prev.limiters
	} else {
		for i, l := range [limitCount]LimitConfig{limits.Join, limits.Status, limits.Admitted} {
			if l.PerMinute > 0 {
				rm.limiters[i] = shield.NewLimiter(shield.Limit{PerMinute: l.PerMinute, Burst: l.Burst}, shield.Options{})
			}
		}
	}
	for i, name := range limitNames {
		rm.limited[i] = m.rateLimited.WithLabelValues(rm.id, name)
	}
	return rm
}

// sweep forgets the room's idle client buckets and scorer state.
func (rm *room) sweep(now time.Time) {
	rm.scorer.Sweep(now)
	for _, l := range rm.limiters {
		if l != nil {
			l.Sweep(now)
		}
	}
}
