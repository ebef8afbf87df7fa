package cache

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/queue/queuetest"
)

type clock = queuetest.Clock

func newClock() *clock { return queuetest.NewClock(queuetest.Start) }

// origin is a test origin: answer makes each answer; it counts the
// requests and keeps the last one's headers.
type origin struct {
	mu     sync.Mutex
	calls  int
	last   fasthttp.RequestHeader
	answer func(req *fasthttp.Request, resp *fasthttp.Response) error
}

func (o *origin) Fetch(req *fasthttp.Request, resp *fasthttp.Response) error {
	o.mu.Lock()
	o.calls++
	req.Header.CopyTo(&o.last)
	answer := o.answer
	o.mu.Unlock()
	return answer(req, resp)
}

func (o *origin) Fail(ctx *fasthttp.RequestCtx, err error) {
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusBadGateway)
	ctx.SetBodyString("origin failed: " + err.Error())
}

func (o *origin) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.calls
}

func (o *origin) lastHeader(name string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.last.Peek(name))
}

// page answers with body and the headers given, in pairs; ":status" sets
// the status. The header is read as from the wire, as an origin's is.
func page(body string, header ...string) func(*fasthttp.Request, *fasthttp.Response) error {
	status := "200"
	raw := ""
	for i := 0; i+1 < len(header); i += 2 {
		if header[i] == ":status" {
			status = header[i+1]
			continue
		}
		raw += header[i] + ": " + header[i+1] + "\r\n"
	}
	raw = "HTTP/1.1 " + status + " X\r\n" + raw + "Content-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n"
	return func(req *fasthttp.Request, resp *fasthttp.Response) error {
		if err := resp.Header.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
			return err
		}
		resp.SetBodyString(body)
		return nil
	}
}

func testRule() Rule {
	return Rule{
		Name: "test", TTL: 10 * time.Second, StaleWhileRevalidate: 0, StaleIfError: 0,
		LockTimeout: time.Minute, MaxBytes: 1 << 20, MaxEntryBytes: 64 << 10,
	}
}

// request is a request for the cache: method, URI (path and query) on
// host example.test, then header pairs.
func request(c *Cache, method, uri string, header ...string) (*fasthttp.Response, Result) {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.Header.SetHost("example.test")
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	r := c.Serve(&ctx, []byte("example.test"), ctx.Request.URI().Path())
	var resp fasthttp.Response
	ctx.Response.CopyTo(&resp)
	if s := ctx.Response.BodyStream(); s != nil {
		b := new(strings.Builder)
		buf := make([]byte, 4096)
		for {
			n, err := s.Read(buf)
			b.WriteString(string(buf[:n]))
			if err != nil {
				break
			}
		}
		resp.SetBodyString(b.String())
		_ = ctx.Response.CloseBodyStream()
	}
	if got := string(resp.Header.Peek("X-Usher-Cache")); got != r.String() {
		panic(fmt.Sprintf("X-Usher-Cache %q, result %s", got, r))
	}
	return &resp, r
}

func get(c *Cache, uri string, header ...string) (*fasthttp.Response, Result) {
	return request(c, fasthttp.MethodGet, uri, header...)
}

// TestWhatIsKept: only anonymous GETs and HEADs for whole pages use the
// cache, and only answers a shared cache may keep are kept.
func TestWhatIsKept(t *testing.T) {
	cases := []struct {
		name    string
		rule    func(*Rule)
		method  string
		request []string // header pairs
		answer  []string // header pairs; ":status" sets the status
		second  Result   // what the second identical request gets
	}{
		{name: "a plain page", second: Hit},
		{name: "a HEAD", method: "HEAD", second: Hit},
		{name: "a POST", method: "POST", second: Bypass},
		{name: "a cookie", request: []string{"Cookie", "session=abc"}, second: Bypass},
		{name: "an ignored cookie", rule: func(r *Rule) { r.IgnoreCookies = []string{"_ga"} }, request: []string{"Cookie", "_ga=GA1.2"}, second: Hit},
		{name: "an ignored and another cookie", rule: func(r *Rule) { r.IgnoreCookies = []string{"_ga"} }, request: []string{"Cookie", "_ga=GA1.2; session=abc"}, second: Bypass},
		{name: "usher's cookies", rule: func(r *Rule) { r.IgnoreCookiePrefix = "usher_" }, request: []string{"Cookie", "usher_pass_sale=x; usher_ticket_sale=y"}, second: Hit},
		{name: "every cookie ignored", rule: func(r *Rule) { r.IgnoreCookies = []string{"*"} }, request: []string{"Cookie", "session=abc"}, second: Hit},
		{name: "Authorization", request: []string{"Authorization", "Bearer x"}, answer: []string{"Cache-Control", "public, max-age=60"}, second: Bypass},
		{name: "Authorization ignored, answer public", rule: func(r *Rule) { r.IgnoreAuthorization = true }, request: []string{"Authorization", "Bearer x"}, answer: []string{"Cache-Control", "public, max-age=60"}, second: Hit},
		{name: "Authorization ignored, answer says nothing", rule: func(r *Rule) { r.IgnoreAuthorization = true }, request: []string{"Authorization", "Bearer x"}, second: Miss},
		{name: "a Range", request: []string{"Range", "bytes=0-10"}, second: Bypass},
		{name: "request no-store", request: []string{"Cache-Control", "no-store"}, second: Miss},
		{name: "request no-cache (a reload) is not honoured", request: []string{"Cache-Control", "no-cache", "Pragma", "no-cache"}, second: Hit},
		{name: "Set-Cookie", answer: []string{"Set-Cookie", "id=1"}, second: Bypass},
		{name: "private", answer: []string{"Cache-Control", "private, max-age=60"}, second: Bypass},
		{name: "no-store", answer: []string{"Cache-Control", "no-store"}, second: Bypass},
		{name: "no-cache", answer: []string{"Cache-Control", "no-cache"}, second: Bypass},
		{name: "max-age=0", answer: []string{"Cache-Control", "max-age=0"}, second: Bypass},
		{name: "Vary: *", answer: []string{"Vary", "*"}, second: Bypass},
		{name: "Vary on a header the rule does not list", answer: []string{"Vary", "Accept-Language"}, second: Bypass},
		{name: "Vary on a header the rule lists", rule: func(r *Rule) { r.Vary = []string{"accept-encoding"} }, answer: []string{"Vary", "Accept-Encoding"}, second: Hit},
		{name: "a 404", answer: []string{":status", "404"}, second: Hit},
		{name: "a 302 that says nothing", answer: []string{":status", "302", "Location", "/x"}, second: Bypass},
		{name: "a 302 with max-age", answer: []string{":status", "302", "Location", "/x", "Cache-Control", "max-age=60"}, second: Hit},
		{name: "a 500", answer: []string{":status", "500"}, second: Miss},
		{name: "a 206", answer: []string{":status", "206"}, second: Bypass},
		{name: "too large", rule: func(r *Rule) { r.MaxEntryBytes = 4 }, second: Bypass},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rule := testRule()
			if tc.rule != nil {
				tc.rule(&rule)
			}
			o := &origin{answer: page("the page", tc.answer...)}
			c := New(rule, o, newClock().Now)
			method := tc.method
			if method == "" {
				method = "GET"
			}
			request(c, method, "/page", tc.request...)
			resp, r := request(c, method, "/page", tc.request...)
			if r != tc.second {
				t.Errorf("second request: %s, want %s", r, tc.second)
			}
			wantCalls := 2
			if tc.second == Hit {
				wantCalls = 1
			}
			if got := o.count(); got != wantCalls {
				t.Errorf("origin saw %d requests, want %d", got, wantCalls)
			}
			if method != "HEAD" && string(resp.Body()) != "the page" {
				t.Errorf("body %q", resp.Body())
			}
		})
	}
}

// TestFreshness: how long an answer stays fresh, on an injected clock.
func TestFreshness(t *testing.T) {
	clk := newClock()
	date := func(d time.Duration) string { return clk.Now().Add(d).Format(http.TimeFormat) }
	cases := []struct {
		name   string
		answer []string
		fresh  time.Duration // still a hit just before, a miss at
	}{
		{"the rule's TTL", nil, 10 * time.Second},
		{"max-age", []string{"Cache-Control", "max-age=30"}, 30 * time.Second},
		{"s-maxage over max-age", []string{"Cache-Control", "max-age=30, s-maxage=5"}, 5 * time.Second},
		{"Expires", []string{"Date", date(0), "Expires", date(20 * time.Second)}, 20 * time.Second},
		{"max-age over Expires", []string{"Date", date(0), "Expires", date(20 * time.Second), "Cache-Control", "max-age=3"}, 3 * time.Second},
		{"Age counts", []string{"Cache-Control", "max-age=30", "Age", "25"}, 5 * time.Second},
		{"a Date from another clock does not count", []string{"Cache-Control", "max-age=30", "Date", date(-10 * time.Minute)}, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := clk.Now()
			o := &origin{answer: page("p", tc.answer...)}
			c := New(testRule(), o, clk.Now)
			if _, r := get(c, "/p"); r != Miss {
				t.Fatalf("first: %s", r)
			}
			clk.Add(tc.fresh - time.Second)
			resp, r := get(c, "/p")
			if r != Hit {
				t.Fatalf("a second before it expires: %s", r)
			}
			if age := string(resp.Header.Peek("Age")); age == "" {
				t.Error("no Age header on a hit")
			}
			clk.Add(time.Second)
			if _, r := get(c, "/p"); r != Miss {
				t.Fatalf("when it expires: %s", r)
			}
			clk.Add(-clk.Now().Sub(start)) // back to the start for the next case
		})
	}
}

// TestVary: an answer that varies on a header the rule lists is kept once
// per value of it.
func TestVary(t *testing.T) {
	o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
		resp.Header.Set("Vary", "Accept-Encoding")
		resp.SetBodyString("for " + string(req.Header.Peek("Accept-Encoding")))
		return nil
	}}
	rule := testRule()
	rule.Vary = []string{"Accept-Encoding"}
	c := New(rule, o, newClock().Now)
	for _, step := range []struct {
		enc  string
		want Result
	}{{"gzip", Miss}, {"br", Miss}, {"gzip", Hit}, {"br", Hit}, {"", Miss}, {"", Hit}} {
		resp, r := get(c, "/v", "Accept-Encoding", step.enc)
		if r != step.want {
			t.Errorf("Accept-Encoding %q: %s, want %s", step.enc, r, step.want)
		}
		if want := "for " + step.enc; string(resp.Body()) != want {
			t.Errorf("Accept-Encoding %q: body %q, want %q", step.enc, resp.Body(), want)
		}
	}
	if got := o.count(); got != 3 {
		t.Errorf("origin saw %d requests, want 3", got)
	}
	if st := c.Stats(); st.Entries != 3 {
		t.Errorf("%d entries, want 3", st.Entries)
	}
}

// TestCoalescing: a thousand concurrent requests for one cold page reach
// the origin once; the others wait for that answer.
func TestCoalescing(t *testing.T) {
	const n = 1000
	release := make(chan struct{})
	o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
		<-release
		resp.SetBodyString("landing")
		return nil
	}}
	c := New(testRule(), o, newClock().Now)
	results := make(chan Result, n)
	bodies := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, r := get(c, "/")
			results <- r
			bodies <- string(resp.Body())
		})
	}
	// Let the origin answer once every other request waits for it.
	deadline := time.Now().Add(time.Minute)
	for c.waitingFor("http://example.test/") < n-1 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d requests wait after a minute", c.waitingFor("http://example.test/"))
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(results)
	close(bodies)
	count := map[Result]int{}
	for r := range results {
		count[r]++
	}
	for b := range bodies {
		if b != "landing" {
			t.Fatalf("a body %q", b)
		}
	}
	if got := o.count(); got != 1 {
		t.Errorf("the origin saw %d requests, want 1", got)
	}
	if count[Miss] != 1 || count[Coalesced] != n-1 {
		t.Errorf("results %v, want 1 miss and %d coalesced", count, n-1)
	}
	if st := c.Stats(); st.Requests[Coalesced] != n-1 || st.Requests[Miss] != 1 {
		t.Errorf("counters %v", st.Requests)
	}
}

// waitingFor is how many requests wait for the trip to the origin for key.
func (c *Cache) waitingFor(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.flights[key]; f != nil {
		return int(f.waiting.Load())
	}
	return 0
}

// TestLockTimeout: a request that waited the rule's lock timeout for
// another's trip to the origin goes there itself.
func TestLockTimeout(t *testing.T) {
	release := make(chan struct{})
	first := true
	var mu sync.Mutex
	o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
		mu.Lock()
		wait := first
		first = false
		mu.Unlock()
		if wait {
			<-release
		}
		resp.SetBodyString("page")
		return nil
	}}
	rule := testRule()
	rule.LockTimeout = time.Millisecond
	c := New(rule, o, newClock().Now)
	done := make(chan Result)
	go func() {
		_, r := get(c, "/slow")
		done <- r
	}()
	for o.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	resp, r := get(c, "/slow")
	if r != Miss || string(resp.Body()) != "page" {
		t.Errorf("after the lock timeout: %s %q, want a miss with the page", r, resp.Body())
	}
	close(release)
	if r := <-done; r != Miss {
		t.Errorf("the first request: %s", r)
	}
	if got := o.count(); got != 2 {
		t.Errorf("origin saw %d requests, want 2", got)
	}
}

// TestStaleWhileRevalidate: an expired page within its window is served at
// once while one background request refreshes it.
func TestStaleWhileRevalidate(t *testing.T) {
	clk := newClock()
	version := 1
	var mu sync.Mutex
	gate := make(chan struct{}, 1)
	gate <- struct{}{}
	o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
		<-gate
		mu.Lock()
		v := version
		mu.Unlock()
		resp.Header.Set("Cache-Control", "max-age=5, stale-while-revalidate=30")
		resp.SetBodyString(fmt.Sprintf("v%d", v))
		return nil
	}}
	c := New(testRule(), o, clk.Now)
	get(c, "/s")
	mu.Lock()
	version = 2
	mu.Unlock()
	clk.Add(10 * time.Second)
	for range 5 {
		resp, r := get(c, "/s")
		if r != Stale || string(resp.Body()) != "v1" {
			t.Fatalf("within the window: %s %q, want stale v1", r, resp.Body())
		}
	}
	gate <- struct{}{} // the one background refresh may go
	deadline := time.Now().Add(time.Minute)
	for {
		resp, r := get(c, "/s")
		if r == Hit && string(resp.Body()) == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never refreshed: %s %q", r, resp.Body())
		}
		time.Sleep(time.Millisecond)
	}
	if got := o.count(); got != 2 {
		t.Errorf("origin saw %d requests, want 2 (one refresh for five stale answers)", got)
	}
	// Past the window, a request waits for the origin.
	gate <- struct{}{}
	clk.Add(40 * time.Second)
	if _, r := get(c, "/s"); r != Miss {
		t.Errorf("past the window: %s, want a miss", r)
	}
}

// TestStaleIfError: while the origin is down, an expired page stands in for
// it within its window; past the window the visitor sees the failure.
func TestStaleIfError(t *testing.T) {
	for _, down := range []struct {
		name   string
		answer func(*fasthttp.Request, *fasthttp.Response) error
	}{
		{"no answer", func(*fasthttp.Request, *fasthttp.Response) error { return errors.New("connection refused") }},
		{"503", page("down", ":status", "503")},
	} {
		t.Run(down.name, func(t *testing.T) {
			clk := newClock()
			rule := testRule()
			rule.StaleIfError = time.Minute
			o := &origin{answer: page("good", "Cache-Control", "max-age=10")}
			c := New(rule, o, clk.Now)
			get(c, "/e")
			o.mu.Lock()
			o.answer = down.answer
			o.mu.Unlock()
			clk.Add(30 * time.Second)
			resp, r := get(c, "/e")
			if r != Stale || resp.StatusCode() != 200 || string(resp.Body()) != "good" {
				t.Errorf("origin down within the window: %s %d %q", r, resp.StatusCode(), resp.Body())
			}
			clk.Add(time.Minute)
			resp, r = get(c, "/e")
			if r != Miss || resp.StatusCode() < 500 {
				t.Errorf("past the window: %s %d %q, want the failure", r, resp.StatusCode(), resp.Body())
			}
		})
	}
	t.Run("must-revalidate forbids it", func(t *testing.T) {
		clk := newClock()
		rule := testRule()
		rule.StaleIfError = time.Minute
		o := &origin{answer: page("good", "Cache-Control", "max-age=10, must-revalidate")}
		c := New(rule, o, clk.Now)
		get(c, "/e")
		o.mu.Lock()
		o.answer = func(*fasthttp.Request, *fasthttp.Response) error { return errors.New("down") }
		o.mu.Unlock()
		clk.Add(30 * time.Second)
		if resp, r := get(c, "/e"); resp.StatusCode() != fasthttp.StatusBadGateway {
			t.Errorf("must-revalidate: %s %d, want 502", r, resp.StatusCode())
		}
	})
	t.Run("the answer's own window", func(t *testing.T) {
		clk := newClock()
		o := &origin{answer: page("good", "Cache-Control", "max-age=10, stale-if-error=600")}
		c := New(testRule(), o, clk.Now) // the rule's window is 0
		get(c, "/e")
		o.mu.Lock()
		o.answer = func(*fasthttp.Request, *fasthttp.Response) error { return errors.New("down") }
		o.mu.Unlock()
		clk.Add(5 * time.Minute)
		if resp, r := get(c, "/e"); r != Stale || string(resp.Body()) != "good" {
			t.Errorf("stale-if-error=600 after 5m: %s %q", r, resp.Body())
		}
	})
}

// TestConditional: a visitor's conditional request is answered with 304
// from the cache; an expired page is revalidated with the origin.
func TestConditional(t *testing.T) {
	clk := newClock()
	lastModified := clk.Now().Add(-time.Hour).Format(http.TimeFormat)
	o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
		resp.Header.Set("ETag", `"v1"`)
		resp.Header.Set("Last-Modified", lastModified)
		resp.Header.Set("Cache-Control", "max-age=10")
		if string(req.Header.Peek("If-None-Match")) == `"v1"` {
			resp.SetStatusCode(fasthttp.StatusNotModified)
			return nil
		}
		resp.SetBodyString("body v1")
		return nil
	}}
	c := New(testRule(), o, clk.Now)
	if resp, r := get(c, "/c", "If-None-Match", `"v1"`); r != Miss || resp.StatusCode() != 304 {
		t.Errorf("a miss with a matching If-None-Match: %s %d, want 304", r, resp.StatusCode())
	}
	if got := o.lastHeader("If-None-Match"); got != "" {
		t.Errorf("the visitor's If-None-Match reached the origin: %q", got)
	}
	for _, tc := range []struct {
		header []string
		status int
	}{
		{[]string{"If-None-Match", `"v1"`}, 304},
		{[]string{"If-None-Match", `W/"v1"`}, 304},
		{[]string{"If-None-Match", `"v0", "v1"`}, 304},
		{[]string{"If-None-Match", "*"}, 304},
		{[]string{"If-None-Match", `"v2"`}, 200},
		{[]string{"If-Modified-Since", lastModified}, 304},
		{[]string{"If-Modified-Since", clk.Now().Add(-2 * time.Hour).Format(http.TimeFormat)}, 200},
		{[]string{"If-None-Match", `"v2"`, "If-Modified-Since", lastModified}, 200}, // If-None-Match decides
		{nil, 200},
	} {
		resp, r := get(c, "/c", tc.header...)
		if r != Hit || resp.StatusCode() != tc.status {
			t.Errorf("%v: %s %d, want a hit with %d", tc.header, r, resp.StatusCode(), tc.status)
		}
		if tc.status == 304 && (len(resp.Body()) != 0 || string(resp.Header.Peek("ETag")) != `"v1"`) {
			t.Errorf("%v: 304 with body %q and ETag %q", tc.header, resp.Body(), resp.Header.Peek("ETag"))
		}
		if tc.status == 200 && string(resp.Body()) != "body v1" {
			t.Errorf("%v: body %q", tc.header, resp.Body())
		}
	}
	// Expired: the cache asks the origin whether its copy still holds.
	clk.Add(time.Minute)
	resp, r := get(c, "/c")
	if r != Miss || resp.StatusCode() != 200 || string(resp.Body()) != "body v1" {
		t.Fatalf("revalidated: %s %d %q", r, resp.StatusCode(), resp.Body())
	}
	if got := o.lastHeader("If-None-Match"); got != `"v1"` {
		t.Errorf("revalidation sent If-None-Match %q", got)
	}
	if _, r := get(c, "/c"); r != Hit {
		t.Errorf("after a 304 from the origin the page is fresh again: %s", r)
	}
}

// TestMemoryBound: the rule's pages stay within its size, the least
// recently used going first.
func TestMemoryBound(t *testing.T) {
	rule := testRule()
	rule.MaxBytes = 64 << 10
	o := &origin{answer: page(strings.Repeat("x", 4000))}
	c := New(rule, o, newClock().Now)
	get(c, "/keep")
	for i := range 200 {
		get(c, fmt.Sprintf("/p%d", i))
		if st := c.Stats(); st.Bytes > rule.MaxBytes {
			t.Fatalf("after %d pages: %d bytes, more than %d", i+1, st.Bytes, rule.MaxBytes)
		}
		get(c, "/keep") // used all along: never the least recently used
	}
	st := c.Stats()
	if st.Entries < 10 || st.Bytes < rule.MaxBytes/2 {
		t.Errorf("%d entries in %d bytes: the cache should be nearly full", st.Entries, st.Bytes)
	}
	if _, r := get(c, "/keep"); r != Hit {
		t.Errorf("the page used all along was evicted: %s", r)
	}
	if _, r := get(c, "/p0"); r != Miss {
		t.Errorf("the oldest page is still there: %s", r)
	}
}

// TestPurge: an operator's purge of a path takes every query string of it;
// a prefix takes every path below; a host limits it.
func TestPurge(t *testing.T) {
	o := &origin{answer: page("p")}
	c := New(testRule(), o, newClock().Now)
	for _, u := range []string{"/a", "/a?x=1", "/ab", "/static/1.css", "/static/2.js"} {
		get(c, u)
	}
	if n := c.Purge("other.test", "/a", false); n != 0 {
		t.Errorf("purged %d on another host", n)
	}
	if n := c.Purge("", "/a", false); n != 2 {
		t.Errorf("purge /a: %d, want 2", n)
	}
	if n := c.Purge("EXAMPLE.test", "/static/", true); n != 2 {
		t.Errorf("purge /static/ prefix: %d, want 2", n)
	}
	for u, want := range map[string]Result{"/a": Miss, "/a?x=1": Miss, "/ab": Hit, "/static/1.css": Miss} {
		if _, r := get(c, u); r != want {
			t.Errorf("%s after the purges: %s, want %s", u, r, want)
		}
	}
}

// TestPurgeDuringFill: an answer on its way from the origin when a purge
// comes is given to its visitor but not kept.
func TestPurgeDuringFill(t *testing.T) {
	release := make(chan struct{})
	o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
		<-release
		resp.SetBodyString("old")
		return nil
	}}
	c := New(testRule(), o, newClock().Now)
	done := make(chan string)
	go func() {
		resp, _ := get(c, "/f")
		done <- string(resp.Body())
	}()
	for o.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	c.Purge("", "/f", false)
	close(release)
	if b := <-done; b != "old" {
		t.Errorf("body %q", b)
	}
	if _, r := get(c, "/f"); r != Miss {
		t.Errorf("after the purge: %s, want a miss", r)
	}
}

// TestHead: a HEAD is answered from the page a GET brought, and a HEAD that
// misses brings the page for the GETs.
func TestHead(t *testing.T) {
	o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
		if !req.Header.IsGet() {
			return fmt.Errorf("the cache sent %s", req.Header.Method())
		}
		resp.SetBodyString("the page")
		return nil
	}}
	c := New(testRule(), o, newClock().Now)
	if _, r := request(c, "HEAD", "/h"); r != Miss {
		t.Errorf("HEAD: %s", r)
	}
	if resp, r := get(c, "/h"); r != Hit || string(resp.Body()) != "the page" {
		t.Errorf("GET after HEAD: %s %q", r, resp.Body())
	}
	if _, r := request(c, "HEAD", "/h"); r != Hit {
		t.Errorf("HEAD after GET: %s", r)
	}
}

// TestControlParsing reads Cache-Control as a shared cache must.
func TestControlParsing(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  control
	}{
		{`max-age=60`, control{maxAge: 60 * time.Second, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{`Max-Age="60", public`, control{maxAge: 60 * time.Second, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1, public: true}},
		{`no-cache="Set-Cookie, X-Foo", max-age=5`, control{maxAge: 5 * time.Second, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1, noCache: true}},
		{`max-age=abc`, control{maxAge: 0, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{`max-age=99999999999999999999999`, control{maxAge: 2147483647 * time.Second, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}},
		{`s-maxage=1, proxy-revalidate, stale-while-revalidate=2, stale-if-error=3`, control{maxAge: -1, sMaxAge: time.Second, staleWhileRevalidate: 2 * time.Second, staleIfError: 3 * time.Second, mustRevalidate: true}},
		{`,, private ,no-store`, control{maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1, private: true, noStore: true}},
	} {
		var h fasthttp.ResponseHeader
		h.Set("Cache-Control", tc.value)
		if got := parseControl(&h); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.value, got, tc.want)
		}
	}
}

// FuzzControl: no Cache-Control value takes the parser down.
func FuzzControl(f *testing.F) {
	for _, s := range []string{`max-age=60`, `no-cache="a,b"`, `"`, `=,=`, `a="`, `max-age=-1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		var h fasthttp.ResponseHeader
		h.Set("Cache-Control", v)
		c := parseControl(&h)
		if c.maxAge < -1 || c.sMaxAge < -1 {
			t.Errorf("%q: negative age %+v", v, c)
		}
	})
}

// BenchmarkHit is the cost of answering from a fresh page, the path every
// visitor of an announcement's crowd takes.
func BenchmarkHit(b *testing.B) {
	o := &origin{answer: page(strings.Repeat("x", 8<<10), "Cache-Control", "max-age=3600", "ETag", `"v1"`)}
	c := New(testRule(), o, time.Now)
	var req fasthttp.Request
	req.Header.SetMethod("GET")
	req.Header.SetHost("example.test")
	req.SetRequestURI("/")
	req.Header.Set("Accept-Encoding", "gzip")
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
	host, path := []byte("example.test"), []byte("/")
	c.Serve(&ctx, host, path)
	b.ReportAllocs()
	for b.Loop() {
		ctx.Response.Reset()
		if c.Serve(&ctx, host, path) != Hit {
			b.Fatal("not a hit")
		}
	}
}

// TestVaryCoalesced: requests that waited for the first answer of a URL
// that turned out to vary get it only when they ask for the same variant.
func TestVaryCoalesced(t *testing.T) {
	release := make(chan struct{})
	o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
		if string(req.Header.Peek("Accept-Encoding")) == "gzip" {
			<-release
		}
		resp.Header.Set("Vary", "Accept-Encoding")
		resp.SetBodyString("for " + string(req.Header.Peek("Accept-Encoding")))
		return nil
	}}
	rule := testRule()
	rule.Vary = []string{"Accept-Encoding"}
	c := New(rule, o, newClock().Now)
	type answer struct {
		enc, body string
		r         Result
	}
	answers := make(chan answer, 3)
	ask := func(enc string) {
		resp, r := get(c, "/v", "Accept-Encoding", enc)
		answers <- answer{enc, string(resp.Body()), r}
	}
	go ask("gzip")
	for o.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	go ask("gzip")
	go ask("br")
	for c.waitingFor("http://example.test/v") < 2 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range 3 {
		a := <-answers
		if a.body != "for "+a.enc {
			t.Errorf("Accept-Encoding %s got %q (%s)", a.enc, a.body, a.r)
		}
	}
}

// FuzzServe: no request header and no origin answer takes the cache down,
// and a kept page is always served whole.
func FuzzServe(f *testing.F) {
	f.Add("no-cache", `"v1"`, "Mon, 02 Jan 2006 15:04:05 GMT", "max-age=60, stale-while-revalidate=5", "Accept-Encoding", "0", "3", "gzip")
	f.Add("", "*", "", `no-cache="a,b"`, "*", "Thu, 01 Jan 1970 00:00:00 GMT", "x", "")
	f.Add("no-store", "", "garbage", "s-maxage=99999999999999999999", "accept-encoding, Accept-Encoding", "", "-1", "br")
	f.Fuzz(func(t *testing.T, reqCC, inm, ims, respCC, vary, expires, age, enc string) {
		o := &origin{answer: func(req *fasthttp.Request, resp *fasthttp.Response) error {
			resp.Header.Set("Cache-Control", respCC)
			resp.Header.Set("Vary", vary)
			resp.Header.Set("Expires", expires)
			resp.Header.Set("Age", age)
			resp.Header.Set("ETag", `"v1"`)
			resp.SetBodyString("page")
			return nil
		}}
		rule := testRule()
		rule.Vary = []string{"Accept-Encoding"}
		clk := newClock()
		c := New(rule, o, clk.Now)
		for range 3 {
			resp, _ := get(c, "/f", "Cache-Control", reqCC, "If-None-Match", inm, "If-Modified-Since", ims, "Accept-Encoding", enc)
			if resp.StatusCode() == 200 && string(resp.Body()) != "page" {
				t.Fatalf("body %q", resp.Body())
			}
			clk.Add(30 * time.Second)
		}
	})
}
