package gateway

import (
	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/page"
	"github.com/usherhq/usher/queue"
)

// serveInternal serves usher's own paths under /_usher/ and returns the
// route they count under.
func (g *Gateway) serveInternal(ctx *fasthttp.RequestCtx, name []byte) int {
	switch string(name) {
	case "status":
		g.serveStatus(ctx)
		return routeStatus
	case "challenge":
		g.serveChallenge(ctx)
	case "login":
		g.serveLogin(ctx)
	case "callback":
		g.serveCallback(ctx)
	case "logout":
		g.serveLogout(ctx)
	case "admissions":
		g.serveAdmissions(ctx)
	case "admissions/log":
		g.serveAdmissionLog(ctx)
	case "lottery":
		g.serveLottery(ctx)
	case "lottery/entrants":
		g.serveLotteryEntrants(ctx)
	case "jwks.json":
		ctx.Response.Header.Set("Cache-Control", "public, max-age=300")
		ctx.SetContentType("application/json")
		ctx.SetBody(g.keys.JWKS())
	case "healthz":
		ctx.Response.Header.Set("Cache-Control", "no-store")
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	case "readyz":
		g.serveReady(ctx)
	default:
		writeError(ctx, page.Error{Status: fasthttp.StatusNotFound, Title: "Not found", Message: "There is nothing at this address."})
	}
	return routeUsher
}

// serveReady fails while the queue store does not answer and from the moment
// the gateway starts to stop, so a load balancer sends visitors elsewhere.
func (g *Gateway) serveReady(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("text/plain; charset=utf-8")
	switch {
	case g.draining.Load():
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("stopping\n")
	case !g.storeOK.Load():
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.SetBodyString("queue store not answering\n")
	default:
		ctx.SetBodyString("ready\n")
	}
}

// roomOf finds the room that one of usher's JSON endpoints names in its
// room parameter, and screens the client as a status poll: it answers
// itself, with ok false, for an unknown room, a denied network or a client
// past its status limit.
func (g *Gateway) roomOf(ctx *fasthttp.RequestCtx) (rm *room, cl client, ok bool) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	rm = g.routing.Load().rooms[string(ctx.QueryArgs().Peek("room"))]
	if rm == nil {
		ctx.SetStatusCode(fasthttp.StatusNotFound)
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":"unknown room"}` + "\n")
		return nil, cl, false
	}
	cl = g.client(ctx)
	if !g.screen(ctx, rm, &cl) || !g.allow(ctx, rm, limitStatus, cl) {
		return nil, cl, false
	}
	return rm, cl, true
}

// serveStatus answers GET /_usher/status?room=R from the visitor's cookies
// and this instance's view of the room; the store is called only to claim an
// admission whose offer has reached the visitor. It never joins: a visitor
// without a ticket gets nulls, and joins by asking for the protected page.
func (g *Gateway) serveStatus(ctx *fasthttp.RequestCtx) {
	rm, cl, ok := g.roomOf(ctx)
	if !ok {
		return
	}
	ctx.SetContentType("application/json")
	pollMin := admission.Wait{PollAfter: rm.adm.Policy().PollMin}
	state := g.phase(rm)
	if pass := ctx.Request.Header.Cookie(rm.passName); len(pass) > 0 && state != admission.StateClosed {
		if c, err := g.tokens.Verify(pass, admission.KindPass, rm.id); err == nil {
			if rm.revoked.Load().has(c) {
				g.refuseRevoked(ctx, rm)
				return
			}
			g.writeStatus(ctx, rm, pollMin, true, true)
			return
		}
	}
	if state == admission.StateScheduled {
		g.writeStatus(ctx, rm, admission.Wait{PollAfter: g.untilOpen(rm)}, false, false)
		return
	}
	if state == admission.StateSoldOut || state == admission.StateClosed {
		// Waiting visitors learn it within one poll; the page stops polling.
		g.writeStatus(ctx, rm, admission.Wait{PollAfter: rm.adm.Policy().PollMax}, false, false)
		return
	}
	var v visitor
	if t := ctx.Request.Header.Cookie(rm.ticketName); len(t) > 0 {
		if c, err := g.tokens.Verify(t, admission.KindTicket, rm.id); err == nil {
			v.claims = c
		}
	}
	if v.claims.Seq == 0 {
		g.writeStatus(ctx, rm, pollMin, false, false)
		return
	}
	if rm.revoked.Load().has(v.claims) {
		g.refuseRevoked(ctx, rm)
		return
	}
	if state == admission.StateOpen && g.failingOpen(rm) {
		// The room lets everyone in while the store is down: the visitors
		// in line first of all.
		var ok bool
		if v, ok = g.issuePass(ctx, rm, v, g.now().Add(rm.adm.Policy().Session)); !ok {
			return
		}
		g.setCookies(ctx, rm, v)
		g.writeStatus(ctx, rm, pollMin, true, true)
		return
	}
	v.wait = rm.adm.Wait(v.claims.Seq)
	if !g.screenPoll(ctx, rm, cl, v.claims, v.wait.PollAfter) ||
		!g.rotate(ctx, rm, &v, cl, fasthttp.StatusTooManyRequests, true) {
		return
	}
	if v.wait.Offered {
		claim, err := rm.adm.Claim(g.ctx, v.claims.Seq)
		switch {
		case err != nil:
			// The store did not answer: the place is safe in the ticket;
			// say "next" and ask again shortly.
			g.logStoreErrors.Do(func() { g.log.Error("claim failed", "room", rm.id, "err", err) })
			v.wait = admission.Wait{Position: 1, PollAfter: rm.adm.Policy().PollMin}
		case claim.Outcome == queue.Admitted:
			var ok bool
			if v, ok = g.issuePass(ctx, rm, v, claim.Expires); !ok {
				return
			}
			g.setCookies(ctx, rm, v)
			g.writeStatus(ctx, rm, pollMin, true, true)
			return
		case claim.Outcome == queue.Ended:
			g.writeStatus(ctx, rm, pollMin, false, false)
			return
		default:
			v.wait = admission.Wait{Position: 1, ETAKnown: true, PollAfter: rm.adm.Policy().PollMin}
		}
	}
	g.setCookies(ctx, rm, v)
	g.writeStatus(ctx, rm, v.wait, true, false)
}
