package gateway

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/page"
	"github.com/usherhq/usher/queue"
)

var internalPrefix = []byte("/_usher/")

// handle is the fans' entry point: usher's own paths, then the rooms, then
// the origin as it is. Every request is counted by route and status.
func (g *Gateway) handle(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	route, rm := g.serve(ctx)
	d := time.Since(start)
	code := ctx.Response.StatusCode()
	g.metrics.observeFans(route, code, d)
	if g.access != nil && (g.cfg.Log.AccessSample >= 1 || rand.Float64() < g.cfg.Log.AccessSample) {
		g.logAccess(ctx, route, rm, code, d)
	}
}

func (g *Gateway) serve(ctx *fasthttp.RequestCtx) (route int, rm *room) {
	raw := ctx.Request.URI().PathOriginal()
	path := raw
	if needsCanonicalizing(raw) {
		path = canonicalPath(make([]byte, 0, len(raw)+1), raw)
	}
	if bytes.HasPrefix(path, internalPrefix) {
		return g.serveInternal(ctx, path[len(internalPrefix):]), nil
	}
	if rm := g.routing.Load().router.match(ctx.Request.Header.Host(), path); rm != nil {
		g.serveRoom(ctx, rm)
		return routeRoom, rm
	}
	if !g.serveCached(ctx, path) {
		g.proxy.forward(ctx, nil)
	}
	// Outside every room there is no session to act on, but the command
	// is usher's, not the visitor's.
	ctx.Response.Header.Del(commandHeader)
	return routeProxy, nil
}

// logAccess writes one access log line. The client is the TCP peer, or the
// address a trusted proxy forwarded for.
func (g *Gateway) logAccess(ctx *fasthttp.RequestCtx, route int, rm *room, code int, d time.Duration) {
	room := ""
	if rm != nil {
		room = rm.id
	}
	g.access.Info("request",
		"method", string(ctx.Method()), "path", string(ctx.Request.URI().PathOriginal()),
		"status", code, "duration_ms", float64(d)/float64(time.Millisecond),
		"route", routeNames[route], "room", room, "client", g.proxy.clientAddr(ctx).String(),
		"bytes", ctx.Response.Header.ContentLength(), "user_agent", string(ctx.UserAgent()))
}

// serveRoom lets a visitor with a pass through, and otherwise finds or makes
// their place in line: admitted at once when the room has room, the queue
// page when it does not.
func (g *Gateway) serveRoom(ctx *fasthttp.RequestCtx, rm *room) {
	state := g.phase(rm)
	if state == admission.StateClosed {
		g.answerClosed(ctx, rm)
		return
	}
	if ctx.IsOptions() {
		// A CORS preflight never carries cookies, and changes nothing:
		// answering it with the queue would break the request it precedes,
		// which itself needs a pass.
		g.forwardRoom(ctx, rm, nil)
		return
	}
	cl := g.client(ctx)
	if !g.screen(ctx, rm, &cl) {
		return
	}
	if pass := ctx.Request.Header.Cookie(rm.passName); len(pass) > 0 {
		if c, err := g.tokens.Verify(pass, admission.KindPass, rm.id); err == nil {
			switch {
			case rm.revoked.Load().has(c):
				g.refuseRevoked(ctx, rm)
			case g.allow(ctx, rm, limitAdmitted, cl) && g.screenPass(ctx, rm, cl, c.Visitor):
				g.forwardRoom(ctx, rm, pass)
			}
			return
		}
	}
	if state == admission.StateOpen && (rm.adm.Policy().Mode == admission.ModePassthrough || g.failingOpen(rm)) {
		g.passThrough(ctx, rm, cl)
		return
	}
	if state == admission.StateScheduled {
		// No line yet: a countdown, and no place to give out.
		g.answerWaiting(ctx, rm, visitor{wait: admission.Wait{PollAfter: g.untilOpen(rm)}})
		return
	}
	if state == admission.StateSoldOut {
		// Nobody else gets in: no place to give out, only the news.
		g.answerWaiting(ctx, rm, visitor{wait: admission.Wait{PollAfter: rm.adm.Policy().PollMax}})
		return
	}
	v, ok := g.place(ctx, rm, cl)
	if !ok {
		return
	}
	if v.pass != "" {
		g.forwardRoom(ctx, rm, []byte(v.pass))
	} else {
		g.answerWaiting(ctx, rm, v)
	}
	// After the answer is in place: forwarding replaces the response.
	g.setCookies(ctx, rm, v)
}

// passThrough admits a visitor without a pass at once, in a room with no
// line: a pass for a new visitor (of the logged-in account, where the room
// needs one), and the request goes on to the origin with it. The queue
// store is not called; the bot score still applies, as to a join.
func (g *Gateway) passThrough(ctx *fasthttp.RequestCtx, rm *room, cl client) {
	account := ""
	if rm.requireLogin {
		var ok bool
		if account, ok = g.account(ctx); !ok {
			g.askLogin(ctx, rm)
			return
		}
		if rm.revoked.Load().has(admission.Claims{Account: account}) {
			g.refuseRevoked(ctx, rm)
			return
		}
	}
	hadTicket := len(ctx.Request.Header.Cookie(rm.ticketName)) > 0
	if !g.allow(ctx, rm, limitJoin, cl) || !g.screenJoin(ctx, rm, cl, hadTicket) {
		return
	}
	v := visitor{claims: admission.Claims{Visitor: admission.NewVisitorID(), Account: account}}
	v, ok := g.issuePass(ctx, rm, v, g.now().Add(rm.adm.Policy().Session))
	if !ok {
		return
	}
	g.forwardRoom(ctx, rm, []byte(v.pass))
	g.setCookies(ctx, rm, v)
}

// failingOpen says whether the room lets visitors in unqueued now: it
// fails open, and the store does not answer.
func (g *Gateway) failingOpen(rm *room) bool {
	return rm.failOpen && !g.storeOK.Load()
}

// untilOpen is how long a visitor to a scheduled room waits before asking
// again: until the line opens, within the room's poll bounds, so that the
// crowd at the opening minute spreads over the poll interval.
func (g *Gateway) untilOpen(rm *room) time.Duration {
	p := rm.adm.Policy()
	return min(max(p.OpensAt.Sub(g.now()), p.PollMin), p.PollMax)
}

// forwardRoom proxies a request in a room and measures the origin's answer
// for the room's statistics. An answer that carries X-Usher-Command:
// revoke ends the visitor's session (see endSession).
func (g *Gateway) forwardRoom(ctx *fasthttp.RequestCtx, rm *room, pass []byte) {
	code, d := g.proxy.forward(ctx, pass)
	rm.adm.Origin.Observe(d, code)
	if cmd := ctx.Response.Header.Peek(commandHeader); len(cmd) > 0 {
		revoke := bytes.EqualFold(bytes.TrimSpace(cmd), []byte("revoke"))
		ctx.Response.Header.Del(commandHeader)
		if revoke && len(pass) > 0 {
			g.endSession(ctx, rm, pass)
		}
	}
}

// commandHeader is how the origin tells the gateway what to do with the
// visitor of an answer; the gateway strips it. The one command is revoke.
const commandHeader = "X-Usher-Command"

// endSession ends the session of the pass's visitor, as the origin asked
// once the visitor is done (after checkout): the admission is released,
// so its capacity goes to the next visitor in line, and the pass cookie is
// removed. A failure is logged: the pass then simply runs out.
func (g *Gateway) endSession(ctx *fasthttp.RequestCtx, rm *room, pass []byte) {
	c, err := g.tokens.Verify(pass, admission.KindPass, rm.id)
	if err != nil {
		return
	}
	if c.Seq > 0 {
		if _, err := rm.adm.Release(g.ctx, c.Seq); err != nil {
			g.logStoreErrors.Do(func() { g.log.Error("queue store call failed", "err", err) })
		}
	}
	g.putCookie(ctx, cookie{name: rm.passName, path: "/", maxAge: -1, shared: true})
}

// answerClosed answers everyone in a closed room, with a pass or without.
func (g *Gateway) answerClosed(ctx *fasthttp.RequestCtx, rm *room) {
	g.answerWaiting(ctx, rm, visitor{wait: admission.Wait{PollAfter: rm.adm.Policy().PollMax}})
}

// visitor is a visitor's standing in a room during one request.
type visitor struct {
	claims admission.Claims // the ticket's claims (Seq, Visitor)
	wait   admission.Wait
	// ticket and pass are tokens issued during this request, to be set as
	// cookies on the answer.
	ticket      string
	pass        string
	passExpires time.Time
}

// place finds the visitor's place from their ticket, or joins them, and
// claims their admission when the frontier has reached them. It answers the
// request itself and returns false when the store failed.
func (g *Gateway) place(ctx *fasthttp.RequestCtx, rm *room, cl client) (visitor, bool) {
	var v visitor
	if t := ctx.Request.Header.Cookie(rm.ticketName); len(t) > 0 {
		// In a room that needs a login, a ticket without an account (made
		// before the room needed one) is no ticket.
		if c, err := g.tokens.Verify(t, admission.KindTicket, rm.id); err == nil && (c.Account != "" || !rm.requireLogin) {
			v.claims = c
		}
	}
	if v.claims.Seq != 0 && rm.revoked.Load().has(v.claims) {
		g.refuseRevoked(ctx, rm)
		return v, false
	}
	if v.claims.Seq == 0 {
		account := ""
		if rm.requireLogin {
			var ok bool
			if account, ok = g.account(ctx); !ok {
				g.askLogin(ctx, rm)
				return v, false
			}
		}
		hadTicket := len(ctx.Request.Header.Cookie(rm.ticketName)) > 0
		if !g.allow(ctx, rm, limitJoin, cl) || !g.screenJoin(ctx, rm, cl, hadTicket) || !g.allowGlobalJoin(ctx, rm) {
			return v, false
		}
		if account == "" {
			return g.join(ctx, rm)
		}
		return g.joinAccount(ctx, rm, admission.NewVisitorID(), account, false)
	}
	if !g.screenPlace(ctx, rm, cl, v.claims) {
		return v, false
	}
	v.wait = rm.adm.Wait(v.claims.Seq)
	if !g.rotate(ctx, rm, &v, cl, fasthttp.StatusOK, wantsJSON(ctx)) {
		return v, false
	}
	if !v.wait.Offered {
		return v, true
	}
	return g.claim(ctx, rm, v)
}

// joinAccount gives a logged-in visitor (id, on this device) the account's
// place, making it if the account has none yet: one place per account.
// proved says this device solved a challenge to get here.
func (g *Gateway) joinAccount(ctx *fasthttp.RequestCtx, rm *room, id, account string, proved bool) (visitor, bool) {
	if rm.revoked.Load().has(admission.Claims{Account: account}) {
		g.refuseRevoked(ctx, rm)
		return visitor{}, false
	}
	seq, pl, made, ok := g.accountPlace(ctx, rm, account, id)
	switch {
	case !ok:
		return visitor{}, false
	case made:
		return g.joined(ctx, rm, pl, id, account, proved)
	}
	// The account's place, made on another device: this device gets a
	// ticket of its own to it, and goes on as a ticket holder.
	v, ok := g.ticketFor(ctx, rm, seq, id, account, proved)
	if !ok {
		return v, false
	}
	v.wait = rm.adm.Wait(seq)
	if !v.wait.Offered {
		return v, true
	}
	return g.claim(ctx, rm, v)
}

// claim claims the admission offered to the visitor's place.
func (g *Gateway) claim(ctx *fasthttp.RequestCtx, rm *room, v visitor) (visitor, bool) {
	claim, err := rm.adm.Claim(g.ctx, v.claims.Seq)
	if err != nil {
		g.storeFailed(ctx, err)
		return v, false
	}
	switch claim.Outcome {
	case queue.Admitted:
		return g.issuePass(ctx, rm, v, claim.Expires)
	case queue.Ended:
		// This place was used and its session is over: back of the line.
		return g.join(ctx, rm)
	default:
		// Lapsed, or a view that ran ahead of this instance's: the visitor
		// is at the front and asks again soon.
		v.wait = admission.Wait{Position: 1, ETAKnown: true, PollAfter: rm.adm.Policy().PollMin}
		return v, true
	}
}

// join gives a visitor without a ticket a new place and a ticket cookie.
func (g *Gateway) join(ctx *fasthttp.RequestCtx, rm *room) (visitor, bool) {
	return g.joinAs(ctx, rm, admission.NewVisitorID(), false)
}

// joinAs gives the visitor id a new place and a ticket cookie; proved says
// the visitor solved a challenge to get it.
func (g *Gateway) joinAs(ctx *fasthttp.RequestCtx, rm *room, id string, proved bool) (visitor, bool) {
	pl, err := rm.adm.Join(g.ctx, id)
	if err != nil {
		g.storeFailed(ctx, err)
		return visitor{}, false
	}
	return g.joined(ctx, rm, pl, id, "", proved)
}

// ticketFor signs a new ticket to the place seq for the visitor id and the
// account ("" for none); proved marks it as won with a solved challenge.
func (g *Gateway) ticketFor(ctx *fasthttp.RequestCtx, rm *room, seq int64, id, account string, proved bool) (visitor, bool) {
	now := g.now()
	v := visitor{claims: admission.Claims{
		Kind:     admission.KindTicket,
		Room:     rm.id,
		Visitor:  id,
		Seq:      seq,
		Account:  account,
		Proved:   proved,
		IssuedAt: now,
		Expires:  now.Add(time.Duration(g.cfg.Tokens.TicketTTL)),
	}}
	ticket, err := g.tokens.Sign(v.claims)
	if err != nil {
		g.internalError(ctx, "sign ticket", err)
		return v, false
	}
	v.ticket = ticket
	return v, true
}

// joined gives the visitor id (of the account, if any) the place just made,
// pl, with its ticket, and its pass when pl was admitted at once.
func (g *Gateway) joined(ctx *fasthttp.RequestCtx, rm *room, pl queue.Place, id, account string, proved bool) (visitor, bool) {
	v, ok := g.ticketFor(ctx, rm, pl.Seq, id, account, proved)
	if !ok {
		return v, false
	}
	if pl.Admitted {
		return g.issuePass(ctx, rm, v, pl.Expires)
	}
	v.wait = rm.adm.Wait(pl.Seq)
	if v.wait.Offered {
		// The view has not seen this join yet; the visitor is next.
		v.wait = admission.Wait{Position: 1, ETAKnown: true, PollAfter: rm.adm.Policy().PollMin}
	}
	return v, true
}

// issuePass signs a pass for an admitted visitor.
func (g *Gateway) issuePass(ctx *fasthttp.RequestCtx, rm *room, v visitor, expires time.Time) (visitor, bool) {
	if !g.allowPass(ctx, rm, v.claims, expires) {
		return v, false
	}
	pass, err := g.tokens.Sign(admission.Claims{
		Kind:     admission.KindPass,
		Room:     rm.id,
		Visitor:  v.claims.Visitor,
		Seq:      v.claims.Seq,
		Account:  v.claims.Account,
		IssuedAt: g.now(),
		Expires:  expires,
	})
	if err != nil {
		g.internalError(ctx, "sign pass", err)
		return v, false
	}
	v.pass, v.passExpires = pass, expires
	return v, true
}

// setCookies sets the cookies of the tokens issued during the request.
func (g *Gateway) setCookies(ctx *fasthttp.RequestCtx, rm *room, v visitor) {
	if v.ticket != "" {
		g.setCookie(ctx, rm.ticketName, v.ticket, time.Duration(g.cfg.Tokens.TicketTTL))
	}
	if v.pass != "" {
		g.setCookie(ctx, rm.passName, v.pass, v.passExpires.Sub(g.now()))
	}
}

// setCookie sets a ticket or pass cookie. Max-Age, not Expires, so a
// visitor whose clock is wrong keeps it as long as the gateway meant;
// Path=/ so the cookie is sent everywhere in the room.
func (g *Gateway) setCookie(ctx *fasthttp.RequestCtx, name, value string, life time.Duration) {
	g.putCookie(ctx, cookie{name: name, value: value, path: "/", maxAge: max(1, int((life+time.Second-1)/time.Second)), shared: true})
}

// cookie is one of usher's cookies, as putCookie sets it.
type cookie struct {
	name, value, path string
	// maxAge is the cookie's life in seconds; negative removes it now.
	maxAge int
	// strict sends the cookie only with requests from usher's own pages
	// (SameSite=Strict); the others are SameSite=Lax.
	strict bool
	// shared puts the cookie on tokens.cookie_domain, when one is set.
	shared bool
}

// putCookie sets c: HttpOnly always, Secure unless plain_http.
func (g *Gateway) putCookie(ctx *fasthttp.RequestCtx, c cookie) {
	ck := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(ck)
	ck.SetKey(c.name)
	ck.SetValue(c.value)
	ck.SetPath(c.path)
	ck.SetMaxAge(c.maxAge)
	ck.SetHTTPOnly(true)
	ck.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	if c.strict {
		ck.SetSameSite(fasthttp.CookieSameSiteStrictMode)
	}
	ck.SetSecure(!g.cfg.PlainHTTP)
	if c.shared && g.cfg.Tokens.CookieDomain != "" {
		ck.SetDomain(g.cfg.Tokens.CookieDomain)
	}
	ctx.Response.Header.SetCookie(ck)
}

// answerWaiting answers a visitor who must wait: the queue page, inline on
// the URL they asked for, or 429 with the status as JSON for clients that
// asked for JSON.
func (g *Gateway) answerWaiting(ctx *fasthttp.RequestCtx, rm *room, v visitor) {
	h := &ctx.Response.Header
	h.Set("Cache-Control", "no-store")
	state := g.phase(rm)
	switch state {
	case admission.StateSoldOut, admission.StateClosed:
		// The answer is final: no place, no wait, no retry soon.
		v.wait.Position, v.wait.ETAKnown = 0, false
	case admission.StatePrequeue:
		// Nobody is admitted before the sale starts: no wait to tell yet.
		v.wait.ETAKnown = false
	}
	if wantsJSON(ctx) {
		h.Set("Retry-After", strconv.Itoa(int((v.wait.PollAfter+time.Second-1)/time.Second)))
		ctx.SetStatusCode(fasthttp.StatusTooManyRequests)
		ctx.SetContentType("application/json")
		g.writeStatus(ctx, rm, v.wait, v.wait.Position > 0, false)
		return
	}
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType("text/html; charset=utf-8")
	h.Set("Content-Security-Policy", page.CSP())
	eta, low, high := int64(-1), int64(-1), int64(-1)
	if v.wait.ETAKnown {
		eta = int64(v.wait.ETA / time.Second)
		low, high = int64(v.wait.ETALow/time.Second), int64(v.wait.ETAHigh/time.Second)
	}
	err := page.RenderQueue(ctx, page.Queue{
		Room:          rm.id,
		Title:         rm.adm.Name(),
		State:         string(state),
		OpensAt:       rm.adm.Policy().OpensAt,
		StartsAt:      rm.adm.Policy().SaleStartsAt,
		Position:      v.wait.Position,
		Ahead:         v.wait.Ahead(),
		ETASeconds:    eta,
		ETARange:      [2]int64{low, high},
		PollAfter:     v.wait.PollAfter,
		StatusURL:     rm.statusURL,
		Entry:         v.wait.Entry,
		LotteryURL:    rm.lotteryURL(),
		SoldOutLikely: v.wait.SoldOutLikely && v.wait.Position > 0,
		Holding:       v.wait.Holding && v.wait.Position > 0,
	})
	if err != nil {
		g.internalError(ctx, "render queue page", err)
	}
}

// writeStatus sets the response body to the status JSON, in the room's
// phase now.
func (g *Gateway) writeStatus(ctx *fasthttp.RequestCtx, rm *room, w admission.Wait, queued, admitted bool) {
	var buf [256]byte
	ctx.SetBody(appendStatus(buf[:0], rm, g.phase(rm), w, queued, admitted))
}

// phase is the room's state now: its policy's state, or the scheduled and
// prequeue phases of an open room before its sale.
func (g *Gateway) phase(rm *room) admission.State {
	return rm.adm.Policy().Phase(g.now())
}

// appendStatus appends the status JSON of the outside contract:
// {"room","state","position","ahead","eta_seconds","admitted","poll_after_ms"},
// with "eta_range_seconds", the range around eta_seconds; "sold_out_likely"
// when the tickets left will likely be gone before the visitor's turn;
// "holding" while the line cannot move because the store does not answer;
// and "entry", the arrival number, for a visitor waiting in a lottery room
// (whose position is null until the draw).
// position, ahead and eta_seconds are null when unknown: without a valid
// ticket (queued false) or, for the wait, while the room is paused.
func appendStatus(b []byte, rm *room, state admission.State, w admission.Wait, queued, admitted bool) []byte {
	b = append(b, `{"room":"`...)
	b = append(b, rm.id...) // ids are [a-z0-9_-]: nothing to escape
	b = append(b, `","state":"`...)
	b = append(b, state...)
	b = append(b, `","position":`...)
	switch {
	case admitted:
		b = append(b, `0,"ahead":0,"eta_seconds":0,"eta_range_seconds":[0,0]`...)
	case !queued || w.Drawing:
		b = append(b, `null,"ahead":null,"eta_seconds":null,"eta_range_seconds":null`...)
	default:
		b = strconv.AppendInt(b, w.Position, 10)
		b = append(b, `,"ahead":`...)
		b = strconv.AppendInt(b, w.Ahead(), 10)
		b = append(b, `,"eta_seconds":`...)
		if w.ETAKnown {
			b = strconv.AppendInt(b, int64(w.ETA/time.Second), 10)
			b = append(b, `,"eta_range_seconds":[`...)
			b = strconv.AppendInt(b, int64(w.ETALow/time.Second), 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, int64(w.ETAHigh/time.Second), 10)
			b = append(b, ']')
		} else {
			b = append(b, `null,"eta_range_seconds":null`...)
		}
	}
	b = append(b, `,"admitted":`...)
	b = strconv.AppendBool(b, admitted)
	b = append(b, `,"poll_after_ms":`...)
	b = strconv.AppendInt(b, int64(w.PollAfter/time.Millisecond), 10)
	if w.Entry > 0 && !admitted {
		// A lottery room: the arrival number the draw is checked with.
		b = append(b, `,"entry":`...)
		b = strconv.AppendInt(b, w.Entry, 10)
	}
	if w.SoldOutLikely && queued && !admitted {
		b = append(b, `,"sold_out_likely":true`...)
	}
	if w.Holding && queued && !admitted {
		b = append(b, `,"holding":true`...)
	}
	return append(b, "}\n"...)
}

// allow takes a token from the client's bucket of one of the room's limits,
// and answers 429 with Retry-After itself when there is none.
func (g *Gateway) allow(ctx *fasthttp.RequestCtx, rm *room, limit int, cl client) bool {
	l := rm.limiters[limit]
	if l == nil || cl.trusted {
		return true
	}
	ok, after := l.Allow(cl.addr, g.now())
	if ok {
		return true
	}
	rm.limited[limit].Inc()
	writeError(ctx, page.Error{
		Status:     fasthttp.StatusTooManyRequests,
		Title:      "Too many requests",
		Message:    "Your network sent more requests than a fan would. Your place is safe; this page tries again by itself.",
		RetryAfter: max(after, time.Second),
	})
	return false
}

// allowGlobalJoin takes a token from the room's join throttle, shared by
// every instance in the queue store (rooms[].limits.join_global), and
// answers 429 itself when there is none.
func (g *Gateway) allowGlobalJoin(ctx *fasthttp.RequestCtx, rm *room) bool {
	l := rm.limits.JoinGlobal
	if l.PerMinute <= 0 {
		return true
	}
	tctx, cancel := context.WithTimeout(g.ctx, time.Duration(g.cfg.Redis.Timeout))
	defer cancel()
	ok, after, err := g.store.Throttle(tctx, rm.id, "join", l.PerMinute, l.Burst)
	if err != nil {
		g.storeFailed(ctx, err)
		return false
	}
	if ok {
		return true
	}
	rm.limited[limitJoinGlobal].Inc()
	writeError(ctx, page.Error{
		Status:     fasthttp.StatusTooManyRequests,
		Title:      "Too many people are arriving at once",
		Message:    "The line is taking newcomers at a steady pace. This page tries again by itself; please keep it open.",
		RetryAfter: max(after, time.Second),
	})
	return false
}

// storeFailed answers a visitor whose place could not be read or made
// because the queue store did not answer: joins fail closed.
func (g *Gateway) storeFailed(ctx *fasthttp.RequestCtx, err error) {
	g.logStoreErrors.Do(func() { g.log.Error("queue store call failed", "err", err) })
	writeError(ctx, page.Error{
		Status:     fasthttp.StatusServiceUnavailable,
		Title:      "The queue is not available",
		Message:    "We cannot give out places in line right now. Nobody is let through in the meantime, so you lose nothing by waiting.",
		RetryAfter: 5 * time.Second,
	})
}

func (g *Gateway) internalError(ctx *fasthttp.RequestCtx, what string, err error) {
	g.log.Error(what, "err", err)
	ctx.Response.Reset()
	writeError(ctx, page.Error{Status: fasthttp.StatusInternalServerError, Title: "Something went wrong", Message: "Please try again in a moment.", RetryAfter: 5 * time.Second})
}
