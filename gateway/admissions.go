package gateway

import (
	"bytes"
	"encoding/json"

	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/admissionlog"
)

// admissionsJSON is GET /_usher/admissions?room=R: the head of the room's
// admission log, for anyone to keep and check the log against later.
type admissionsJSON struct {
	Room string `json:"room"`
	// Entries is how many records the chain has, Through the last place
	// they cover, Gaps the places before it offered without a record.
	Entries int   `json:"entries"`
	Through int64 `json:"through"`
	Gaps    int64 `json:"gaps"`
	// Genesis is the head of the empty log, Head the head after the last
	// record, both hex.
	Genesis string `json:"genesis"`
	Head    string `json:"head"`
	LogURL  string `json:"log_url"`
}

// serveAdmissions answers GET /_usher/admissions?room=R from this
// instance's last reading of the log.
func (g *Gateway) serveAdmissions(ctx *fasthttp.RequestCtx) {
	rm, chain, ok := g.admissionLogOf(ctx)
	if !ok {
		return
	}
	genesis := admissionlog.Chain{Head: admissionlog.Genesis(rm.id)}
	b, _ := json.Marshal(admissionsJSON{
		Room: rm.id, Entries: len(chain.Records), Through: chain.Through, Gaps: chain.Gaps,
		Genesis: genesis.HeadHex(), Head: chain.HeadHex(), LogURL: "/_usher/admissions/log?room=" + rm.id,
	}) // plain fields: never fails
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// serveAdmissionLog answers GET /_usher/admissions/log?room=R: the records
// of the chain that /_usher/admissions heads, one line each, in order.
func (g *Gateway) serveAdmissionLog(ctx *fasthttp.RequestCtx) {
	_, chain, ok := g.admissionLogOf(ctx)
	if !ok {
		return
	}
	var buf bytes.Buffer
	_ = admissionlog.Write(&buf, chain.Records) // a buffer never fails to write
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBody(buf.Bytes())
}

// admissionLogOf finds the room a request names and the chain of its
// admission log as this instance last built it; it answers itself, with ok
// false, for an unknown room and before the first reading of the log.
func (g *Gateway) admissionLogOf(ctx *fasthttp.RequestCtx) (*room, *admissionlog.Chain, bool) {
	rm, _, ok := g.roomOf(ctx)
	if !ok {
		return nil, nil, false
	}
	chain := rm.adm.AdmissionLog()
	if chain == nil {
		ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		ctx.Response.Header.Set("Retry-After", "10")
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"error":"the admission log has not been read yet"}` + "\n")
		return nil, nil, false
	}
	return rm, chain, true
}
