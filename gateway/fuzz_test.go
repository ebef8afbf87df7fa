package gateway

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/queue/memory"
)

// FuzzCookies sends arbitrary Cookie headers (and paths) to a paused room:
// whatever the bytes, the gateway never fails, never answers 5xx, and lets a
// request reach the origin only with the one real pass.
func FuzzCookies(f *testing.F) {
	clk := newClock()
	keys := newKeys(f)
	cfg := testConfig("http://127.0.0.1:1", func(r *RoomConfig) { r.State = "paused" })
	checked, err := CheckConfig(*cfg, func(string) string { return "" })
	if err != nil {
		f.Fatal(err)
	}
	g, err := New(checked, Options{Store: memory.New(memory.Options{Now: clk.Now}), Keys: keys, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	forwarded := 0
	g.proxy.client = upstreamFunc(func(req *fasthttp.Request, resp *fasthttp.Response) error {
		forwarded++
		resp.SetStatusCode(fasthttp.StatusOK)
		return nil
	})
	tokens := admission.NewTokens(keys, keys, admission.TokenOptions{Now: clk.Now})
	pass, err := tokens.Sign(admission.Claims{Kind: admission.KindPass, Room: "sale", Visitor: "v", Seq: 1, IssuedAt: clk.Now(), Expires: clk.Now().Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	ticket, err := tokens.Sign(admission.Claims{Kind: admission.KindTicket, Room: "sale", Visitor: "v", Seq: 1, IssuedAt: clk.Now(), Expires: clk.Now().Add(time.Hour)})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		"usher_pass_sale=" + pass,
		"usher_ticket_sale=" + ticket,
		"usher_pass_sale=" + pass[:len(pass)-2],
		"usher_pass_sale=" + ticket,
		"usher_ticket_sale=" + pass + "; usher_pass_sale=x",
		"usher_pass_sale=; usher_pass_sale=" + pass,
		`usher_pass_sale="` + pass + `"`,
		"a=b; c", "=;=;", "usher_pass_sale=e30.e30.", "\x00\xff",
	} {
		f.Add(s, "/events/1")
	}
	f.Add("", "/events/%2e%2e/events/1")
	f.Fuzz(func(t *testing.T, cookie, path string) {
		var ctx fasthttp.RequestCtx
		ctx.Request.Header.SetMethod(fasthttp.MethodGet)
		ctx.Request.SetRequestURI("/")
		ctx.Request.URI().SetPath(path)
		ctx.Request.Header.SetHost("tickets.example")
		ctx.Request.Header.Set("Cookie", cookie)
		before := forwarded
		g.handle(&ctx)
		if code := ctx.Response.StatusCode(); code >= 500 {
			t.Fatalf("cookie %q path %q: status %d", cookie, path, code)
		}
		if forwarded == before {
			return
		}
		canon := string(canonicalPath(nil, ctx.Request.URI().PathOriginal()))
		if g.routing.Load().router.match([]byte("tickets.example"), []byte(canon)) == nil {
			return // not in the room: passes through, as it should
		}
		got := string(ctx.Request.Header.Peek(admission.PassHeader))
		if got != pass {
			t.Fatalf("cookie %q path %q reached the origin with pass %q", cookie, path, got)
		}
	})
}

type upstreamFunc func(req *fasthttp.Request, resp *fasthttp.Response) error

func (f upstreamFunc) Do(req *fasthttp.Request, resp *fasthttp.Response) error { return f(req, resp) }
