package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/gateway/page"
	"github.com/usherhq/usher/gateway/shield"
)

// challengeSecretPurpose names the secret, derived from the signing key,
// that MACs challenges; every instance with the same key derives it.
const challengeSecretPurpose = "usher proof-of-work challenge v1"

// spentSet is the store set of solved challenges' ids, which makes each
// solution work once across every instance.
const spentSet = "spent"

// powCookiePrefix starts the name of the cookie that binds one challenge
// to the browser it was given to: usher_pow_<challenge id>, holding a
// secret whose hash is the challenge's visitor. A cookie per challenge, so
// that tabs solving challenges side by side never overwrite each other's.
const powCookiePrefix = "usher_pow_"

// Outcomes of challenges, as the result label of
// usher_shield_challenges_total names them.
var challengeResults = []string{"issued", "solved", "invalid", "expired", "reused", "mismatch", "unsolved"}

// shieldRequest is what the scorer reads of a request.
func shieldRequest(ctx *fasthttp.RequestCtx, cl client) shield.Request {
	h := &ctx.Request.Header
	return shield.Request{
		Addr:           cl.addr,
		UserAgent:      h.UserAgent(),
		AcceptLanguage: h.Peek("Accept-Language"),
		SecCHUA:        h.Peek("Sec-CH-UA"),
	}
}

// scorerConfig is the scorer a room's shield settings make.
func scorerConfig(s ShieldConfig) shield.ScorerConfig {
	return shield.ScorerConfig{
		JoinsPerMinute:       s.JoinsPerMinute,
		SubnetJoinsPerMinute: s.SubnetJoinsPerMinute,
		CookielessJoins:      s.CookielessJoins,
		PassNetworks:         s.PassNetworks,
		FailedChallenges:     s.FailedChallenges,
		MaxClients:           scorerMaxClients,
	}
}

// scorerMaxClients bounds each of a room's scorer tables. A table entry
// costs about 55 bytes, so a room's scorer takes at most about 80 MB under a
// flood of distinct addresses and visitors; past the bound it forgets the
// least recently seen, which errs on the side of the client.
const scorerMaxClients = 200_000

// decide counts a scored decision and logs a sample of those that are not
// plain.
func (g *Gateway) decide(rm *room, decision int, reasons shield.Reason, on string, cl client) {
	rm.decisions.decisions[decision].Inc()
	if reasons == 0 {
		return
	}
	for _, r := range shield.AllReasons {
		if reasons&r != 0 {
			rm.decisions.reason(decision, r).Inc()
		}
	}
	if s := rm.shield.LogSample; s > 0 && (s >= 1 || rand.Float64() < s) {
		g.log.Info("shield decision", "room", rm.id, "decision", decisionNames[decision], "score", reasons.Score(),
			"reasons", reasons.String(), "on", on, "client", cl.addr.String())
	}
}

// screenJoin scores a request about to take a new place in line. A score
// at the room's block_at is refused with 403, one at challenge_at gets a
// challenge to solve first; both answers are written here, and false
// returned. hadTicket says whether the request carried a ticket cookie at
// all.
func (g *Gateway) screenJoin(ctx *fasthttp.RequestCtx, rm *room, cl client, hadTicket bool) bool {
	if cl.trusted {
		rm.decisions.count(decideAllow, reasonAllowList)
		return true
	}
	reasons := rm.scorer.Join(shieldRequest(ctx, cl), hadTicket, g.now())
	score := reasons.Score()
	switch s := rm.shield; {
	case s.BlockAt > 0 && score >= s.BlockAt:
		g.decide(rm, decideBlock, reasons, "join", cl)
		refuseBot(ctx)
		return false
	case s.ChallengeAt > 0 && score >= s.ChallengeAt:
		g.decide(rm, decideChallenge, reasons, "join", cl)
		g.answerChallenge(ctx, rm, score, fasthttp.StatusOK)
		return false
	}
	g.decide(rm, decideAllow, reasons, "join", cl)
	return true
}

// screenPoll scores a status poll of a visitor in line (c is its ticket's
// claims), and refuses it with 403 at the room's block_at; pollAfter is the
// interval the visitor is told now, never more than the one it was told
// before, since places only move forward. A place that has not proved
// itself, polling with a score at challenge_at (from a crowded address,
// say), is asked to prove itself (see mustProve). A poll that comes sooner
// than the visitor was told (more often than three tabs would) is answered
// 429 with the interval to wait: the place is kept, and a fan's page,
// which waits as told, never meets it.
func (g *Gateway) screenPoll(ctx *fasthttp.RequestCtx, rm *room, cl client, c admission.Claims, pollAfter time.Duration) bool {
	if cl.trusted {
		return true
	}
	reasons := rm.scorer.Poll(shieldRequest(ctx, cl), c.Visitor, pollAfter, g.now())
	if c.Proved {
		// The address's record is about the places it took; this one
		// has paid for its own.
		reasons &^= shield.ReasonCrowdedAddress
	}
	if s := rm.shield; s.BlockAt > 0 && reasons.Score() >= s.BlockAt {
		g.decide(rm, decideBlock, reasons, "status", cl)
		refuseBot(ctx)
		return false
	}
	if g.mustProve(ctx, rm, cl, c, reasons, "status", fasthttp.StatusTooManyRequests, true) {
		return false
	}
	if reasons&shield.ReasonFastPoll != 0 {
		g.decide(rm, decideBlock, reasons, "status", cl)
		writeError(ctx, page.Error{
			Status:     fasthttp.StatusTooManyRequests,
			Title:      "Too early",
			Message:    "Your place is safe. Ask again when you were told to.",
			RetryAfter: max(pollAfter, time.Second),
		})
		return false
	}
	g.decide(rm, decideAllow, reasons, "status", cl)
	return true
}

// screenPlace scores a page load of a visitor in line (c is its ticket's
// claims), as screenPoll does a poll but without judging its pace: a page
// without JavaScript reloads itself. It answers the challenge page (or,
// to clients that ask for JSON, 429 with the challenge) and returns false
// when the place must prove itself.
func (g *Gateway) screenPlace(ctx *fasthttp.RequestCtx, rm *room, cl client, c admission.Claims) bool {
	if cl.trusted || c.Proved {
		return true
	}
	reasons := shield.HeaderReasons(shieldRequest(ctx, cl))
	if rm.scorer.Crowded(cl.addr, g.now()) {
		reasons |= shield.ReasonCrowdedAddress
	}
	return !g.mustProve(ctx, rm, cl, c, reasons, "page", fasthttp.StatusOK, wantsJSON(ctx))
}

// mustProve asks a place that has not proved itself, scored at the room's
// challenge_at without counting the pace of its polls, for a challenge
// bound to its visitor, and says whether it did: a place polling from a
// crowded address, above all (see [shield.Scorer.Crowded]). A fan behind
// a shared address solves one challenge, after which its ticket says it
// proved (see reprove); a bot that does not solve it gets no further, and
// its place lapses when its turn comes.
func (g *Gateway) mustProve(ctx *fasthttp.RequestCtx, rm *room, cl client, c admission.Claims, reasons shield.Reason, on string, status int, asJSON bool) bool {
	score := (reasons &^ shield.ReasonFastPoll).Score()
	if c.Proved || rm.shield.ChallengeAt <= 0 || score < rm.shield.ChallengeAt {
		return false
	}
	g.decide(rm, decideChallenge, reasons, on, cl)
	g.answerChallengeFor(ctx, rm, score, status, c.Visitor, asJSON)
	return true
}

// screenPass records where a pass is used from and refuses it with 403
// once it has been used from more networks than a fan's devices give
// (pass_networks): a pass handed around is blocked for every holder, as
// there is no telling the fan from the copies. Passes cannot be challenged
// mid-request, so the lower of the room's thresholds decides.
func (g *Gateway) screenPass(ctx *fasthttp.RequestCtx, rm *room, cl client, visitor string) bool {
	if cl.trusted {
		return true
	}
	reasons := rm.scorer.Pass(shieldRequest(ctx, cl), visitor, g.now())
	if reasons == 0 {
		return true
	}
	at := rm.shield.ChallengeAt
	if at == 0 || (rm.shield.BlockAt > 0 && rm.shield.BlockAt < at) {
		at = rm.shield.BlockAt
	}
	if at > 0 && reasons.Score() >= at {
		g.decide(rm, decideBlock, reasons, "pass", cl)
		writeError(ctx, page.Error{
			Status:  fasthttp.StatusForbidden,
			Title:   "This pass is in use elsewhere",
			Message: "This pass has been used from more places than one fan's devices. Passes are personal; if you think this is a mistake, contact the organiser.",
		})
		return false
	}
	g.decide(rm, decideAllow, reasons, "pass", cl)
	return true
}

// refuseBot answers a request whose bot score reached the room's block_at.
func refuseBot(ctx *fasthttp.RequestCtx) {
	writeError(ctx, page.Error{
		Status:  fasthttp.StatusForbidden,
		Title:   "Automated traffic refused",
		Message: "This request looks automated, so it cannot take a place in line. If you are a fan, open this page in an ordinary browser.",
	})
}

// challengeBits is the difficulty for a score at or past the room's
// challenge_at: challenge_bits there, rising evenly to challenge_bits_max
// at 100.
func challengeBits(s ShieldConfig, score int) int {
	span := 100 - s.ChallengeAt
	if span <= 0 || score <= s.ChallengeAt {
		return s.ChallengeBits
	}
	return s.ChallengeBits + (min(score, 100)-s.ChallengeAt)*(s.ChallengeBitsMax-s.ChallengeBits)/span
}

// powVisitor is the visitor a challenge is bound to: derived from a secret
// that only the browser's HttpOnly cookie holds, so that a third party who
// sees the challenge and its solution cannot present them as its own.
func powVisitor(secret []byte) string {
	sum := sha256.Sum256(secret)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// challengeJSON is a challenge as JSON clients and the challenge page read
// it.
type challengeJSON struct {
	Token     string `json:"token"`
	ID        string `json:"id"`
	Bits      int    `json:"bits"`
	Algorithm string `json:"algorithm"`
	Submit    string `json:"submit"`
	ExpiresIn int64  `json:"expires_in"`
}

// challengeAnswer is the JSON body that carries a challenge.
type challengeAnswer struct {
	Error     string        `json:"error"`
	Status    int           `json:"status"`
	Room      string        `json:"room"`
	Challenge challengeJSON `json:"challenge"`
}

// answerChallenge gives a visitor about to join a new challenge for a
// score: the challenge page (with status, 200 for a join), or to clients
// that ask for JSON 429 with the challenge in the body. It sets the cookie
// that binds the challenge to this browser.
func (g *Gateway) answerChallenge(ctx *fasthttp.RequestCtx, rm *room, score, status int) {
	g.answerChallengeFor(ctx, rm, score, status, "", wantsJSON(ctx))
}

// answerChallengeFor is answerChallenge for a visitor who holds a ticket
// (visitor is its id), which the challenge is bound to instead of a cookie,
// or "" for a visitor about to join; asJSON answers JSON whatever the
// request accepts, as usher's own JSON endpoints do.
func (g *Gateway) answerChallengeFor(ctx *fasthttp.RequestCtx, rm *room, score, status int, visitor string, asJSON bool) {
	ttl := time.Duration(rm.shield.ChallengeTTL)
	secret := ""
	if visitor == "" {
		secret = admission.NewVisitorID()
		visitor = powVisitor([]byte(secret))
	}
	ch := shield.NewChallenge(rm.id, visitor, challengeBits(rm.shield, score), g.now().Add(ttl))
	token := g.challenger.Token(ch)
	rm.challenges["issued"].Inc()

	if secret != "" {
		g.setPowCookie(ctx, ch.ID, secret, int(ttl/time.Second))
	}

	h := &ctx.Response.Header
	h.Set("Cache-Control", "no-store")
	if asJSON {
		if status == fasthttp.StatusOK {
			status = fasthttp.StatusTooManyRequests
		}
		h.Set("Retry-After", "1")
		ctx.SetStatusCode(status)
		ctx.SetContentType("application/json")
		b, _ := json.Marshal(challengeAnswer{
			Error: "solve the challenge first", Status: status, Room: rm.id,
			Challenge: challengeJSON{Token: token, ID: ch.ID, Bits: ch.Bits, Algorithm: "sha256-leading-zero-bits",
				Submit: rm.challengeURL, ExpiresIn: int64(ttl / time.Second)},
		})
		ctx.SetBody(append(b, '\n'))
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/html; charset=utf-8")
	h.Set("Content-Security-Policy", page.ChallengeCSP())
	err := page.RenderChallenge(ctx, page.Challenge{
		Room: rm.id, Title: rm.adm.Name(), Token: token, ID: ch.ID, Bits: ch.Bits, SubmitURL: rm.challengeURL,
	})
	if err != nil {
		g.internalError(ctx, "render challenge page", err)
	}
}

// setPowCookie sets the cookie that binds challenge id to this browser for
// maxAge seconds, or, with a negative maxAge, removes it: on the path it was
// set on, which is what a browser matches a removal by.
func (g *Gateway) setPowCookie(ctx *fasthttp.RequestCtx, id, secret string, maxAge int) {
	g.putCookie(ctx, cookie{name: powCookiePrefix + id, value: secret, path: "/_usher/challenge", maxAge: maxAge, strict: true})
}

// serveChallenge takes a solved challenge: POST /_usher/challenge?room=R
// with the form fields token and nonce. A good solution, presented by the
// browser the challenge was given to, for the first time and before it
// expires, gives the browser its place in line (the ticket cookie) and
// answers the status JSON. Anything else is 403 with a fresh challenge in
// the body, and counts against the client as a failed challenge.
func (g *Gateway) serveChallenge(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if !ctx.IsPost() {
		ctx.Response.Header.Set("Allow", "POST")
		writeError(ctx, page.Error{Status: fasthttp.StatusMethodNotAllowed, Title: "Method not allowed", Message: "Solutions are sent with POST."})
		return
	}
	rm, cl, ok := g.roomOf(ctx)
	if !ok {
		return
	}
	args := ctx.PostArgs()
	token, nonce := string(args.Peek("token")), string(args.Peek("nonce"))
	now := g.now()
	if t := ctx.Request.Header.Cookie(rm.ticketName); len(t) > 0 {
		if c, err := g.tokens.Verify(t, admission.KindTicket, rm.id); err == nil {
			if rm.revoked.Load().has(c) {
				g.refuseRevoked(ctx, rm)
				return
			}
			// A challenge bound to this ticket's visitor proves the fan
			// again after a copy was seen; any other (a tab that joined
			// while another solved) spends nothing: the page reloads into
			// the queue.
			ch, err := g.challenger.Verify(token, nonce, rm.id, c.Visitor, now)
			switch {
			case err == nil:
				if g.spend(ctx, rm, cl, ch, c.Visitor) {
					g.reprove(ctx, rm, c)
				}
			case errors.Is(err, shield.ErrChallengeMismatch):
				ctx.SetContentType("application/json")
				g.writeStatus(ctx, rm, rm.adm.Wait(c.Seq), true, false)
			default:
				g.challengeFailed(ctx, rm, cl, c.Visitor, err)
			}
			return
		}
	}
	ch, err := g.challenger.Parse(token, now)
	if err == nil {
		secret := ctx.Request.Header.Cookie(powCookiePrefix + ch.ID)
		visitor := ""
		if len(secret) > 0 {
			visitor = powVisitor(secret)
		}
		ch, err = g.challenger.Verify(token, nonce, rm.id, visitor, now)
	}
	if err != nil {
		g.challengeFailed(ctx, rm, cl, "", err)
		return
	}
	if !g.spend(ctx, rm, cl, ch, "") {
		return
	}
	// The solution is spent: its cookie goes, whatever happens next.
	g.setPowCookie(ctx, ch.ID, "", -1)
	if !g.allowGlobalJoin(ctx, rm) {
		return
	}
	var v visitor
	if rm.requireLogin {
		account, in := g.account(ctx)
		if !in {
			ctx.Request.Header.Set("Accept", "application/json")
			g.askLogin(ctx, rm)
			return
		}
		v, ok = g.joinAccount(ctx, rm, ch.Visitor, account, true)
	} else {
		v, ok = g.joinAs(ctx, rm, ch.Visitor, true)
	}
	if !ok {
		return
	}
	g.setCookies(ctx, rm, v)
	ctx.SetContentType("application/json")
	g.writeStatus(ctx, rm, v.wait, true, v.pass != "")
}

// spend marks a verified challenge used, in the queue store so that it
// works once across every instance. It answers itself, and returns false,
// when the challenge was used already or the store does not answer.
func (g *Gateway) spend(ctx *fasthttp.RequestCtx, rm *room, cl client, ch shield.Challenge, visitor string) bool {
	sctx, cancel := context.WithTimeout(g.ctx, time.Duration(g.cfg.Redis.Timeout))
	first, err := g.store.Mark(sctx, rm.id, spentSet, ch.ID, ch.Expires.Sub(g.now())+time.Minute)
	cancel()
	if err != nil {
		g.storeFailed(ctx, err)
		return false
	}
	if !first {
		g.challengeFailed(ctx, rm, cl, visitor, errChallengeReused)
		return false
	}
	rm.challenges["solved"].Inc()
	return true
}

// errChallengeReused is a solution presented a second time.
var errChallengeReused = errors.New("challenge already used")

// challengeFailed answers a bad solution with 403 and a fresh challenge,
// bound like the one that failed (to the visitor of a ticket, or "" for a
// newcomer), counting it against the client.
func (g *Gateway) challengeFailed(ctx *fasthttp.RequestCtx, rm *room, cl client, visitor string, err error) {
	result := "invalid"
	switch {
	case errors.Is(err, shield.ErrChallengeExpired):
		result = "expired"
	case errors.Is(err, errChallengeReused):
		result = "reused"
	case errors.Is(err, shield.ErrChallengeMismatch):
		result = "mismatch"
	case errors.Is(err, shield.ErrChallengeUnsolved):
		result = "unsolved"
	}
	rm.challenges[result].Inc()
	if result != "expired" {
		rm.scorer.FailedChallenge(cl.addr, g.now())
	}
	// A fresh challenge lets the page start again. Its difficulty follows
	// the client's score now, failures included.
	now := shield.HeaderReasons(shieldRequest(ctx, cl))
	if rm.scorer.Failures(cl.addr, g.now()) {
		now |= shield.ReasonFailedChallenges
	}
	score := max(rm.shield.ChallengeAt, now.Score())
	g.answerChallengeFor(ctx, rm, score, fasthttp.StatusForbidden, visitor, true)
	g.log.Debug("challenge refused", "room", rm.id, "result", result, "err", err)
}
