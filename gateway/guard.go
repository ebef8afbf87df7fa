package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/admin"
	"github.com/usherhq/usher/gateway/page"
	"github.com/usherhq/usher/gateway/shield"
)

// revokedSet is the store set that holds a room's revocations, as keys
// "visitor:<id>" and "account:<id>".
const revokedSet = "revoked"

// revocationRefresh is how often each instance reads the rooms'
// revocations, so that one made through any instance reaches every other
// within it (the promise is 5 s).
const revocationRefresh = 2 * time.Second

// revocations is a room's revoked visitors and accounts.
type revocations struct {
	visitors map[string]struct{}
	accounts map[string]struct{}
}

// has reports whether c's visitor or account is revoked. A nil map reads as
// empty, so the zero revocations revoke nobody.
func (r *revocations) has(c admission.Claims) bool {
	if _, ok := r.visitors[c.Visitor]; ok {
		return true
	}
	if c.Account == "" {
		return false
	}
	_, ok := r.accounts[c.Account]
	return ok
}

// refreshRevocations reads every room's revocations every
// revocationRefresh until ctx ends. A failed read keeps what the room had.
func (g *Gateway) refreshRevocations(ctx context.Context) {
	load := func() {
		for _, rm := range g.routing.Load().rooms {
			if err := g.loadRevocations(ctx, rm); err != nil && ctx.Err() == nil {
				g.logStoreErrors.Do(func() { g.log.Error("queue store call failed", "err", err) })
			}
		}
	}
	load()
	every(ctx, revocationRefresh, load)
}

// loadRevocations reads one room's revocations from the store.
func (g *Gateway) loadRevocations(ctx context.Context, rm *room) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(g.cfg.Redis.Timeout))
	defer cancel()
	marks, err := g.store.Marked(ctx, rm.id, revokedSet)
	if err != nil {
		return fmt.Errorf("read revocations of room %q: %w", rm.id, err)
	}
	r := &revocations{visitors: map[string]struct{}{}, accounts: map[string]struct{}{}}
	for k := range marks {
		if id, ok := strings.CutPrefix(k, "visitor:"); ok {
			r.visitors[id] = struct{}{}
		} else if id, ok := strings.CutPrefix(k, "account:"); ok {
			r.accounts[id] = struct{}{}
		}
	}
	rm.revoked.Store(r)
	return nil
}

// errNoRoom answers the admin API for a room this gateway does not serve.
var errNoRoom = errors.New("no such room")

// revoker serves the admin API's revocations from the queue store, shared by
// every instance.
type revoker struct{ g *Gateway }

var _ admin.Revoker = revoker{}

// Revoke records a revocation in the store and applies it on this instance
// at once; other instances read it within revocationRefresh.
func (r revoker) Revoke(ctx context.Context, room string, rev admin.Revocation, ttl time.Duration) (admin.Revocation, error) {
	rm := r.g.routing.Load().rooms[room]
	if rm == nil {
		return rev, errNoRoom
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.g.cfg.Redis.Timeout))
	defer cancel()
	if _, err := r.g.store.Mark(ctx, room, revokedSet, rev.Kind+":"+rev.ID, ttl); err != nil {
		return rev, fmt.Errorf("revoke %s in room %q: %w", rev.Kind, room, err)
	}
	if err := r.g.loadRevocations(ctx, rm); err != nil {
		return rev, err
	}
	list, err := r.Revocations(ctx, room)
	if err != nil {
		return rev, err
	}
	for _, l := range list {
		if l.Kind == rev.Kind && l.ID == rev.ID {
			return l, nil
		}
	}
	return rev, fmt.Errorf("revoke %s in room %q: the revocation expired at once", rev.Kind, room)
}

// Unrevoke takes a revocation back, here at once and elsewhere within
// revocationRefresh.
func (r revoker) Unrevoke(ctx context.Context, room, kind, id string) (bool, error) {
	rm := r.g.routing.Load().rooms[room]
	if rm == nil {
		return false, errNoRoom
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.g.cfg.Redis.Timeout))
	defer cancel()
	ok, err := r.g.store.Unmark(ctx, room, revokedSet, kind+":"+id)
	if err != nil {
		return false, fmt.Errorf("unrevoke %s in room %q: %w", kind, room, err)
	}
	return ok, r.g.loadRevocations(ctx, rm)
}

// Revocations lists a room's revocations, oldest expiry first.
func (r revoker) Revocations(ctx context.Context, room string) ([]admin.Revocation, error) {
	if r.g.routing.Load().rooms[room] == nil {
		return nil, errNoRoom
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.g.cfg.Redis.Timeout))
	defer cancel()
	marks, err := r.g.store.Marked(ctx, room, revokedSet)
	if err != nil {
		return nil, fmt.Errorf("read revocations of room %q: %w", room, err)
	}
	out := make([]admin.Revocation, 0, len(marks))
	for k, exp := range marks {
		kind, id, ok := strings.Cut(k, ":")
		if !ok {
			continue
		}
		out = append(out, admin.Revocation{Kind: kind, ID: id, Expires: exp.UTC()})
	}
	admin.SortRevocations(out)
	return out, nil
}

// Shield decisions, as the decision label names them.
const (
	decideAllow = iota
	decideChallenge
	decideBlock
	decisionCount
)

var decisionNames = [decisionCount]string{"allow", "challenge", "block"}

// Reasons that are not bot signals, as the reason label names them.
const (
	reasonDenyList  = "deny_list"
	reasonAllowList = "allow_list"
	reasonRevoked   = "revoked"
)

// decisionSeries are one room's shield counters, resolved once.
type decisionSeries struct {
	decisions [decisionCount]prometheus.Counter
	reasons   *prometheus.CounterVec
	room      string
}

func (m *metrics) decisionSeries(room string) *decisionSeries {
	d := &decisionSeries{reasons: m.shieldReasons, room: room}
	for i, name := range decisionNames {
		d.decisions[i] = m.shieldDecisions.WithLabelValues(room, name)
	}
	return d
}

// reason returns the series of one bot signal behind a decision.
func (d *decisionSeries) reason(decision int, r shield.Reason) prometheus.Counter {
	return d.reasons.WithLabelValues(d.room, decisionNames[decision], r.Name())
}

// count counts one decision and each of its reasons.
func (d *decisionSeries) count(decision int, reasons ...string) {
	d.decisions[decision].Inc()
	for _, r := range reasons {
		d.reasons.WithLabelValues(d.room, decisionNames[decision], r).Inc()
	}
}

// client is who sent a request, as the shield sees it.
type client struct {
	addr netip.Addr
	// trusted is true for a client on the room's allow list: never scored,
	// challenged or held to the per-client limits.
	trusted bool
}

// client returns the request's client: the TCP peer, or the address a
// trusted proxy forwarded for.
func (g *Gateway) client(ctx *fasthttp.RequestCtx) client {
	return client{addr: g.proxy.clientAddr(ctx)}
}

// screen applies the room's deny list to cl and answers a denied request
// itself with 403, reporting false; it marks a client on the room's allow
// list as trusted.
func (g *Gateway) screen(ctx *fasthttp.RequestCtx, rm *room, cl *client) bool {
	if rm.deny.Contains(cl.addr) {
		rm.decisions.count(decideBlock, reasonDenyList)
		writeError(ctx, page.Error{
			Status:  fasthttp.StatusForbidden,
			Title:   "Access refused",
			Message: "Requests from your network are not accepted for this sale. If you think this is a mistake, contact the organiser.",
		})
		return false
	}
	cl.trusted = rm.allow.Contains(cl.addr)
	return true
}

// refuseRevoked answers a request whose ticket or pass was revoked by an
// operator: 403, and the token is not taken as no token, so the visitor
// does not simply join again with it.
func (g *Gateway) refuseRevoked(ctx *fasthttp.RequestCtx, rm *room) {
	rm.decisions.count(decideBlock, reasonRevoked)
	writeError(ctx, page.Error{
		Status:  fasthttp.StatusForbidden,
		Title:   "Your place was withdrawn",
		Message: "The organiser withdrew this place in line. If you think this is a mistake, contact the organiser.",
	})
}
