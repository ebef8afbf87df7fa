// Package demo is what `usher demo` puts behind the gateway: a small site
// with a landing page outside every room and event pages inside one, and a
// crowd of simulated fans who queue ahead of you, so the queue can be seen.
package demo

import (
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/usherhq/usher/admission"
)

// Event is one on-sale of the demo site.
type Event struct {
	ID, Name, Venue string
	Date            time.Time
}

// Events are the demo site's on-sales.
var Events = []Event{
	{"1", "The Wandering Stars — Summer Tour", "Riverside Arena", time.Date(2027, 7, 3, 20, 0, 0, 0, time.UTC)},
	{"2", "Midnight Orchestra", "Old Town Hall", time.Date(2027, 7, 10, 19, 30, 0, 0, time.UTC)},
	{"3", "Harbour Lights Festival", "Harbour Park", time.Date(2027, 8, 21, 14, 0, 0, 0, time.UTC)},
}

// Origin is the demo site. Its pages under /events/ and /api/ sit in room,
// and it checks the pass the gateway forwards on every one of them, as any
// origin behind usher should, so a request that bypasses the gateway gets
// nothing.
func Origin(tokens *admission.Tokens, room string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", landing)
	protected := http.NewServeMux()
	protected.HandleFunc("GET /events/{$}", eventList)
	protected.HandleFunc("GET /events/{id}", eventPage)
	protected.HandleFunc("GET /api/events", apiEvents)
	guard := admission.RequirePass(tokens, room, protected)
	mux.Handle("/events/", guard)
	mux.Handle("/api/", guard)
	return mux
}

var pages = template.Must(template.New("").Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{.}} — usher demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:0 auto;padding:1rem;color:#1b1b1f}
a{color:#3046c5}.card{border:1px solid #ccd;border-radius:.5rem;padding:1rem;margin:.75rem 0}
.pass{background:#eef7ee;border-color:#9c9}small{color:#555}</style></head><body>{{end}}
{{define "landing"}}{{template "head" "Tickets"}}
<h1>Demo Tickets</h1>
<p>This page is outside every room: it is served straight from the site. The event pages below are
protected by the waiting room <code>demo</code>; the first time you open one you join the line.</p>
{{range .}}<div class="card"><h2><a href="/events/{{.ID}}">{{.Name}}</a></h2>
<p>{{.Venue}} · {{.Date.Format "Mon 2 Jan 2006, 15:04"}}</p></div>{{end}}
<p><a href="/events/">All events</a></p></body></html>{{end}}
{{define "list"}}{{template "head" "Events"}}
<h1>Events on sale</h1><p class="card pass">You are through the waiting room.</p>
{{range .}}<div class="card"><a href="/events/{{.ID}}">{{.Name}}</a> <small>{{.Venue}}</small></div>{{end}}
</body></html>{{end}}
{{define "event"}}{{template "head" .Event.Name}}
<h1>{{.Event.Name}}</h1><p>{{.Event.Venue}} · {{.Event.Date.Format "Mon 2 Jan 2006, 15:04"}}</p>
<div class="card pass"><h2>You are in</h2>
<p>Your pass for room <code>{{.Pass.Room}}</code> was checked by this site itself.
You were number {{.Pass.Seq}} in line; your session ends at {{.Pass.Expires.Format "15:04:05 MST"}}.</p></div>
<p><a href="/events/">All events</a> · <a href="/">Home</a></p></body></html>{{end}}
`))

func render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pages.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, "render failed", http.StatusInternalServerError)
	}
}

func landing(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=10")
	render(w, "landing", Events)
}

func eventList(w http.ResponseWriter, _ *http.Request) { render(w, "list", Events) }

func eventPage(w http.ResponseWriter, r *http.Request) {
	pass, _ := admission.PassFromContext(r.Context())
	for _, e := range Events {
		if e.ID == r.PathValue("id") {
			render(w, "event", struct {
				Event Event
				Pass  admission.Claims
			}{e, pass})
			return
		}
	}
	http.NotFound(w, r)
}

func apiEvents(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, "[")
	for i, e := range Events {
		if i > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, `{"id":%q,"name":%q,"venue":%q,"date":%q}`, e.ID, e.Name, e.Venue, e.Date.Format(time.RFC3339))
	}
	fmt.Fprintln(w, "]")
}
