package gateway

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/queue"
)

// Ticket rotation: how long a retired ticket is still honoured after the
// rotation that retired it (a request's round trip, for two tabs whose
// polls cross), and how long before that grace is given again.
const (
	rotateGrace    = 5 * time.Second
	rotateCooldown = time.Minute
)

// reasonCopied is the reason label of a ticket used after it was retired.
const reasonCopied = "copied_ticket"

func (g *Gateway) rotateLimits() queue.RotateLimits {
	return queue.RotateLimits{Grace: rotateGrace, Cooldown: rotateCooldown, TTL: time.Duration(g.cfg.Tokens.TicketTTL)}
}

// rotate moves the visitor's ticket a generation on, signing the new one
// into v.ticket, before the visitor is answered. A ticket that was retired
// already is a copy: the place then goes to nobody until someone proves
// again, so rotate answers with a challenge bound to the visitor (status is
// the page's status code; asJSON answers JSON, with 429) and returns false.
// When the
// store does not answer, the place is safe in the ticket: the visitor is
// served without a new one.
func (g *Gateway) rotate(ctx *fasthttp.RequestCtx, rm *room, v *visitor, cl client, status int, asJSON bool) bool {
	if !rm.shield.RotateTickets {
		return true
	}
	sctx, cancel := context.WithTimeout(g.ctx, time.Duration(g.cfg.Redis.Timeout))
	rot, err := g.store.Rotate(sctx, rm.id, v.claims.Visitor, v.claims.Gen, g.rotateLimits())
	cancel()
	if err != nil {
		g.logStoreErrors.Do(func() { g.log.Error("queue store call failed", "err", err) })
		return true
	}
	if rot.Copied {
		rm.decisions.count(decideChallenge, reasonCopied)
		g.log.Info("copied ticket", "room", rm.id, "client", cl.addr.String())
		g.answerChallengeFor(ctx, rm, rm.shield.ChallengeAt, status, v.claims.Visitor, asJSON)
		return false
	}
	if rot.Gen == v.claims.Gen {
		return true
	}
	return g.reissue(ctx, rm, v, rot.Gen)
}

// reissue signs the visitor's ticket again at generation gen, with the
// expiry it had, into v.ticket.
func (g *Gateway) reissue(ctx *fasthttp.RequestCtx, rm *room, v *visitor, gen int64) bool {
	c := v.claims
	c.Gen, c.IssuedAt = gen, g.now()
	if !c.Expires.After(c.IssuedAt) {
		return true // expiring this instant: nothing to give
	}
	t, err := g.tokens.Sign(c)
	if err != nil {
		g.internalError(ctx, "sign ticket", err)
		return false
	}
	v.claims, v.ticket = c, t
	return true
}

// reprove gives the visitor who was asked to prove itself (its ticket was
// copied, or it polls from an address that took too many places) its place
// back, once it solved a challenge bound to it: a fresh generation, marked
// proved, retires every other copy at once.
func (g *Gateway) reprove(ctx *fasthttp.RequestCtx, rm *room, c admission.Claims) {
	sctx, cancel := context.WithTimeout(g.ctx, time.Duration(g.cfg.Redis.Timeout))
	gen, err := g.store.Reprove(sctx, rm.id, c.Visitor, g.rotateLimits())
	cancel()
	if err != nil {
		g.storeFailed(ctx, err)
		return
	}
	c.Proved = true
	v := visitor{claims: c}
	if !g.reissue(ctx, rm, &v, gen) {
		return
	}
	g.setCookies(ctx, rm, v)
	ctx.SetContentType("application/json")
	g.writeStatus(ctx, rm, rm.adm.Wait(c.Seq), true, false)
}
