// Command slowpage is the origin of bench/cache.sh: a slow site whose landing
// page is worth caching. Every path answers with the same fixed page of about
// 8 KiB of HTML, after sleeping -delay (200ms by default, a page a busy
// backend renders slowly), with "Cache-Control: public, max-age=N" where N is
// -max-age (1 second by default), so a shared cache in front of it may serve
// the page for that long.
//
// It counts the page requests it receives: GET /_count answers with that
// count as plain text, neither delayed nor counted, so a benchmark can read
// how many requests reached the origin through a cache during a run.
//
// Usage: slowpage [-listen 127.0.0.1:18091] [-delay 200ms] [-max-age 1]
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18091", "address to serve on")
	delay := flag.Duration("delay", 200*time.Millisecond, "how long each page request sleeps before the answer")
	maxAge := flag.Int("max-age", 1, "max-age of the page's Cache-Control header, in seconds")
	flag.Parse()

	page := landingPage()
	cacheControl := "public, max-age=" + strconv.Itoa(*maxAge)
	contentLength := strconv.Itoa(len(page))
	var count atomic.Int64

	mux := http.NewServeMux()
	mux.HandleFunc("/_count", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintln(w, count.Load())
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		count.Add(1)
		t := time.NewTimer(*delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Length", contentLength)
		h.Set("Cache-Control", cacheControl)
		if r.Method != http.MethodHead {
			w.Write(page)
		}
	})

	srv := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
	}
	log.Printf("slowpage: serving on %s, delay %s, %s", *listen, *delay, cacheControl)
	log.Fatal(srv.ListenAndServe())
}

// landingPage is a fixed event landing page of about 8 KiB.
func landingPage() []byte {
	const footer = `</ul>
</main>
<footer><p>Prices include fees. Limit of four tickets per order.</p></footer>
</body>
</html>
`
	var b strings.Builder
	b.WriteString(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Summer Tour - Tickets</title>
<style>body{font-family:sans-serif;margin:0 auto;max-width:48rem;padding:1rem}li{margin:.5rem 0}</style>
</head>
<body>
<header><h1>Summer Tour</h1><p>Tickets go on sale Friday at 10:00. Pick a date below.</p></header>
<main>
<ul class="dates">
`)
	for i := 1; b.Len()+len(footer) < 8<<10; i++ {
		fmt.Fprintf(&b, "<li><a href=\"/tickets/show-%03d\">Show %d, Arena %d: doors 18:30, support act at 19:30, main set at 20:45</a></li>\n", i, i, i%12+1)
	}
	b.WriteString(footer)
	return []byte(b.String())
}
