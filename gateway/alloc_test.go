package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/queue/memory"
)

// cannedUpstream answers every request at once with a fixed response, so the
// gateway's own work on a request can be measured alone.
type cannedUpstream struct{}

func (cannedUpstream) Do(req *fasthttp.Request, resp *fasthttp.Response) error {
	resp.SetStatusCode(fasthttp.StatusOK)
	resp.SetBodyString("ok")
	return nil
}

// admittedRequest sets up a gateway and a request from an admitted visitor.
func admittedRequest(tb testing.TB) (*Gateway, *fasthttp.Request) {
	tb.Helper()
	g, req, _ := admittedRequestAt(tb)
	return g, req
}

// admittedRequestAt is admittedRequest with the gateway's clock.
func admittedRequestAt(tb testing.TB) (*Gateway, *fasthttp.Request, *clock) {
	tb.Helper()
	clk := newClock()
	keys := newKeys(tb)
	// The limit on admitted requests stays in the path, with room for every
	// request of the measurement: the fake clock stands still.
	cfg := testConfig("http://127.0.0.1:1", func(rc *RoomConfig) {
		rc.Limits.Admitted = LimitConfig{PerMinute: 60, Burst: 1 << 30}
	})
	checked, err := CheckConfig(*cfg, func(string) string { return "" })
	if err != nil {
		tb.Fatal(err)
	}
	g, err := New(checked, Options{Store: memory.New(memory.Options{Now: clk.Now}), Keys: keys, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		tb.Fatal(err)
	}
	g.proxy.client = cannedUpstream{}
	pass, err := g.tokens.Sign(admission.Claims{Kind: admission.KindPass, Room: "sale", Visitor: admission.NewVisitorID(), Seq: 1, IssuedAt: clk.Now(), Expires: clk.Now().Add(time.Hour)})
	if err != nil {
		tb.Fatal(err)
	}
	req := fasthttp.AcquireRequest()
	req.SetRequestURI("/events/42?seat=A12")
	req.Header.SetHost("tickets.example")
	req.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X)")
	req.Header.Set("Accept", "text/html")
	req.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	req.Header.SetCookie("session", "site-session-value")
	req.Header.SetCookie("usher_pass_sale", pass)
	return g, req, clk
}

func serveOnce(g *Gateway, ctx *fasthttp.RequestCtx, req *fasthttp.Request) {
	req.CopyTo(&ctx.Request)
	ctx.Response.Reset()
	g.handle(ctx)
}

// TestAdmittedRequestAllocations holds the admitted-request path (room
// match, pass check from the cache, header rewriting) to at most two
// allocations per request.
func TestAdmittedRequestAllocations(t *testing.T) {
	g, req := admittedRequest(t)
	var ctx fasthttp.RequestCtx
	ctx.Init(req, nil, nil)
	serveOnce(g, &ctx, req)
	if ctx.Response.StatusCode() != fasthttp.StatusOK || string(ctx.Response.Body()) != "ok" {
		t.Fatalf("the admitted request was not forwarded: %d %q", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	if got := string(ctx.Request.Header.Peek(admission.PassHeader)); got != string(req.Header.Cookie("usher_pass_sale")) {
		t.Fatalf("X-Usher-Pass = %q", got)
	}
	allocs := testing.AllocsPerRun(1000, func() { serveOnce(g, &ctx, req) })
	if allocs > 2 {
		t.Errorf("an admitted request allocates %v times, want at most 2", allocs)
	}
}

func BenchmarkAdmittedRequest(b *testing.B) {
	g, req := admittedRequest(b)
	var ctx fasthttp.RequestCtx
	ctx.Init(req, nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(g, &ctx, req)
	}
}

// fanRequest is a request from a fan's browser to the gateway.
func fanRequest(uri, accept string) *fasthttp.Request {
	req := fasthttp.AcquireRequest()
	req.SetRequestURI(uri)
	req.Header.SetHost("tickets.example")
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	req.Header.Set("Accept", accept)
	return req
}

// BenchmarkJoin measures a join through the handler: the bot score, a place
// from the store, a signed ticket and the queue answer (JSON, as load tools
// ask). The per-client limits are off: every iteration comes from one
// address on a clock that stands still.
func BenchmarkJoin(b *testing.B) {
	g, _ := admittedRequest(b)
	setState(b, g, "sale", admission.StatePaused)
	rc := g.cfg.Rooms[0]
	rc.Limits = LimitsConfig{}
	rc.Shield.JoinsPerMinute, rc.Shield.SubnetJoinsPerMinute, rc.Shield.CookielessJoins = 1e12, 1e12, 1<<30
	g.setRooms([]RoomConfig{rc})
	req := fanRequest("/events/42", "application/json")
	var ctx fasthttp.RequestCtx
	ctx.Init(req, nil, nil)
	b.ReportAllocs()
	for b.Loop() {
		serveOnce(g, &ctx, req)
	}
	if ctx.Response.StatusCode() != fasthttp.StatusTooManyRequests || !bytes.Contains(ctx.Response.Body(), []byte(`"position":`)) {
		b.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}

// BenchmarkStatus measures a status poll of a waiting visitor, answered
// from the view: with rotate_tickets off, no store call; on, one Rotate in
// the (in-memory) store and a ticket signed again, the visitor sending back
// the ticket each answer gives it, as a browser does. The clock moves a
// second between polls, no sooner than the visitor is told to ask again
// (a sooner poll is refused), and tickets outlive the run.
func BenchmarkStatus(b *testing.B) {
	for _, rotate := range []bool{false, true} {
		name := map[bool]string{false: "rotate=off", true: "rotate=on"}[rotate]
		b.Run(name, func(b *testing.B) {
			g, _, clk := admittedRequestAt(b)
			g.cfg.Tokens.TicketTTL = config.Duration(10 * 365 * 24 * time.Hour)
			rc := g.cfg.Rooms[0]
			rc.Limits, rc.Shield.RotateTickets = LimitsConfig{}, rotate
			rc.PollMin, rc.PollMax = config.Duration(500*time.Millisecond), config.Duration(time.Second)
			g.setRooms([]RoomConfig{rc})
			_ = g.ctrl.Tick(context.Background())
			setState(b, g, "sale", admission.StatePaused)
			join := fanRequest("/events/42", "text/html")
			var ctx fasthttp.RequestCtx
			ctx.Init(join, nil, nil)
			serveOnce(g, &ctx, join)
			var c fasthttp.Cookie
			if err := c.ParseBytes(ctx.Response.Header.PeekCookie("usher_ticket_sale")); err != nil {
				b.Fatal(err)
			}
			req := fanRequest("/_usher/status?room=sale", "application/json")
			req.Header.SetCookieBytesKV(c.Key(), c.Value())
			_ = g.ctrl.Tick(context.Background())
			b.ReportAllocs()
			for b.Loop() {
				clk.Add(time.Second)
				serveOnce(g, &ctx, req)
				if t := ctx.Response.Header.PeekCookie("usher_ticket_sale"); t != nil {
					if err := c.ParseBytes(t); err == nil {
						req.Header.SetCookieBytesKV(c.Key(), c.Value())
					}
				}
			}
			if !bytes.Contains(ctx.Response.Body(), []byte(`"position":1`)) {
				b.Fatalf("status %s", ctx.Response.Body())
			}
		})
	}
}
