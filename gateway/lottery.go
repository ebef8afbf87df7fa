package gateway

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/lottery"
)

// lotteryJSON is GET /_usher/lottery?room=R: a lottery room's draw as
// anyone may check it. Before the draw it holds the commitment; after it,
// the seed and what the order was drawn from.
type lotteryJSON struct {
	Room         string    `json:"room"`
	OpensAt      time.Time `json:"opens_at,omitzero"`
	SaleStartsAt time.Time `json:"sale_starts_at"`
	// Commitment is the hex SHA-256 of the seed, published before anyone
	// joins.
	Commitment string `json:"commitment"`
	Drawn      bool   `json:"drawn"`
	// The draw, once made: the seed, the last arrival number it covers,
	// how many entrants it drew, the digest of their list and where the
	// list is.
	Seed        string `json:"seed,omitempty"`
	LastSeq     int64  `json:"last_seq,omitempty"`
	Entrants    int    `json:"entrants,omitempty"`
	Digest      string `json:"digest,omitempty"`
	EntrantsURL string `json:"entrants_url,omitempty"`
}

// serveLottery answers GET /_usher/lottery?room=R.
func (g *Gateway) serveLottery(ctx *fasthttp.RequestCtx) {
	rm, _, ok := g.roomOf(ctx)
	if !ok {
		return
	}
	if !rm.adm.Lottery() {
		lotteryMissing(ctx, "this room has no lottery")
		return
	}
	commitment, err := rm.adm.Commitment(g.ctx)
	if err != nil {
		g.logStoreErrors.Do(func() { g.log.Error("lottery commitment", "room", rm.id, "err", err) })
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.Response.Header.Set("Retry-After", "5")
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":"the queue store is not answering"}` + "\n")
		return
	}
	p := rm.adm.Policy()
	out := lotteryJSON{Room: rm.id, OpensAt: p.OpensAt, SaleStartsAt: p.SaleStartsAt, Commitment: commitment}
	if d := rm.adm.Drawn(); d != nil && d.Commitment == commitment {
		out.Drawn = true
		out.Seed = hex.EncodeToString(d.Seed)
		out.LastSeq, out.Entrants = d.Last, d.Entrants
		out.Digest = hex.EncodeToString(d.Digest[:])
		out.EntrantsURL = "/_usher/lottery/entrants?room=" + rm.id
	}
	b, _ := json.Marshal(out) // plain fields: never fails
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// serveLotteryEntrants answers GET /_usher/lottery/entrants?room=R once the
// room has drawn: the entrants as the draw used them, one "seq id" line
// each in arrival order, whose SHA-256 is the draw's digest.
func (g *Gateway) serveLotteryEntrants(ctx *fasthttp.RequestCtx) {
	rm, _, ok := g.roomOf(ctx)
	if !ok {
		return
	}
	d := rm.adm.Drawn()
	if !rm.adm.Lottery() || d == nil {
		lotteryMissing(ctx, "this room has not drawn a lottery (yet)")
		return
	}
	list := rm.drawnList.Load()
	if list == nil || list.drawn != d {
		var buf bytes.Buffer
		_ = lottery.Write(&buf, d.List) // a buffer never fails to write
		list = &drawnList{drawn: d, text: buf.Bytes()}
		rm.drawnList.Store(list)
	}
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(list.text)
}

// drawnList is a draw's published list of entrants, written once.
type drawnList struct {
	drawn *admission.Drawn
	text  []byte
}

// lotteryURL is where a lottery room publishes its draw; "" for other
// rooms.
func (rm *room) lotteryURL() string {
	if !rm.adm.Lottery() {
		return ""
	}
	return "/_usher/lottery?room=" + rm.id
}

func lotteryMissing(ctx *fasthttp.RequestCtx, why string) {
	ctx.SetStatusCode(fasthttp.StatusNotFound)
	ctx.SetContentType("application/json")
	b, _ := json.Marshal(map[string]string{"error": why})
	ctx.SetBody(append(b, '\n'))
}
