// Package cache is the gateway's edge cache for the pages outside every
// room: the landing page, the event list, images and scripts that the crowd
// of an announcement reads all at once. It keeps anonymous GET answers in
// memory as a shared cache under RFC 9111, lets one request per missing or
// expired page reach the origin while the others wait for its answer,
// serves an expired page while it is refreshed or while the origin fails,
// answers conditional requests with 304, and stays within a size by
// forgetting the least recently used pages.
package cache

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Rule is one cache rule: how the pages of some paths are kept. The paths
// themselves are matched by the gateway.
type Rule struct {
	// Name labels the rule's metrics.
	Name string
	// TTL is how long a response that gives no freshness of its own stays
	// fresh, if its status may be kept without one (200, 301, 404...).
	TTL time.Duration
	// StaleWhileRevalidate is how long after it expires a page is still
	// served while one request refreshes it, unless the response gives its
	// own window or forbids stale answers (must-revalidate,
	// proxy-revalidate, s-maxage).
	StaleWhileRevalidate time.Duration
	// StaleIfError is how long after it expires a page is served in place
	// of an origin that fails (no answer, 500, 502, 503, 504), with the
	// same exceptions.
	StaleIfError time.Duration
	// LockTimeout is the longest a request waits for another's trip to the
	// origin for the same page before going there itself.
	LockTimeout time.Duration
	// MaxBytes bounds the memory the rule's pages take.
	MaxBytes int64
	// MaxEntryBytes is the largest body kept; larger ones pass through.
	MaxEntryBytes int64
	// IgnoreCookies are the cookies that do not make a request personal
	// (analytics, consent): a request with any other cookie bypasses the
	// cache. "*" ignores every cookie.
	IgnoreCookies []string
	// IgnoreCookiePrefix, when set, ignores every cookie whose name starts
	// with it too: the gateway's own cookies, which the origin does not
	// read.
	IgnoreCookiePrefix string
	// IgnoreAuthorization lets requests with an Authorization header use
	// the cache; their answers are kept only when they say public,
	// s-maxage or must-revalidate (RFC 9111 section 3.5).
	IgnoreAuthorization bool
	// Vary are the request headers a response may vary on and still be
	// kept; a response that varies on any other header is not.
	Vary []string
}

// Result is what the cache did with a request.
type Result int

// What the cache did with a request.
const (
	Hit       Result = iota // answered from a fresh page
	Miss                    // went to the origin
	Stale                   // answered from an expired page (refreshing, or the origin failed)
	Bypass                  // not for the cache: passed through
	Coalesced               // answered by another request's trip to the origin
	resultCount
)

// ResultNames name the results as the metrics label them.
var ResultNames = [resultCount]string{"hit", "miss", "stale", "bypass", "coalesced"}

func (r Result) String() string { return ResultNames[r] }

// Origin is where the cache sends what it cannot answer.
type Origin interface {
	// Fetch sends req to the origin and leaves the answer in resp, whose
	// body may be a stream. It returns an error when the origin did not
	// answer.
	Fetch(req *fasthttp.Request, resp *fasthttp.Response) error
	// Fail answers ctx for an origin that did not answer.
	Fail(ctx *fasthttp.RequestCtx, err error)
}

// Cache keeps one rule's pages.
type Cache struct {
	rule         Rule
	origin       Origin
	now          func() time.Time
	ignore       map[string]bool // cookie names
	cookiePrefix []byte
	vary         map[string]bool // lower-case header names

	mu       sync.Mutex
	entries  map[string]*entry
	variants map[string]*variants // by primary key
	flights  map[string]*flight
	lru      entry // sentinel: lru.next is the most recently used
	bytes    int64
	purges   uint64 // a fill that saw a purge start after it does not keep its answer

	counts  [resultCount]atomic.Uint64
	waiting atomic.Int64 // requests waiting for another's trip to the origin
}

// entry is one kept answer, never changed once made: a revalidation makes
// a new one. A pass entry keeps no answer but says that the page's answers
// are not kept, so requests for it go straight through (not one at a time)
// until it expires.
type entry struct {
	key, primary string
	host, path   string // for purges
	header       fasthttp.ResponseHeader
	body         []byte
	born         time.Time // when the origin made the answer
	fresh        time.Duration
	swr, sie     time.Duration // stale windows
	vary         []string      // the headers the answer varies on
	etag         []byte
	lastModified time.Time
	size         int64
	pass         bool
	passUntil    time.Time

	prev, next *entry
}

// variants is what the kept answers of one URL vary on.
type variants struct {
	names []string // canonical header names, sorted
	n     int      // entries kept under it
}

// flight is one trip to the origin for a page that others may wait on.
type flight struct {
	key, primary string
	host, path   string
	done         chan struct{}
	e            *entry // the answer, when it was kept
	err          error  // the origin did not answer
	failed       bool   // the origin answered with a server error
	stale        *entry // what was there before, for stale-if-error
	gen          uint64
	// waiting counts the requests waiting for it.
	waiting atomic.Int32
}

// New makes a cache for rule, sending what it cannot answer to origin. now
// is its clock (time.Now when nil).
func New(rule Rule, origin Origin, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	c := &Cache{
		rule: rule, origin: origin, now: now,
		ignore:   map[string]bool{},
		vary:     map[string]bool{},
		entries:  map[string]*entry{},
		variants: map[string]*variants{},
		flights:  map[string]*flight{},
	}
	c.cookiePrefix = []byte(rule.IgnoreCookiePrefix)
	for _, name := range rule.IgnoreCookies {
		c.ignore[name] = true
	}
	for _, name := range rule.Vary {
		c.vary[strings.ToLower(name)] = true
	}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// Rule is the cache's rule.
func (c *Cache) Rule() Rule { return c.rule }

// Stats are a cache's counters.
type Stats struct {
	Requests [resultCount]uint64 // by Result
	Bytes    int64
	Entries  int
	// Waiting is how many requests wait for another's trip to the origin.
	Waiting int
}

// Stats reads the cache's counters.
func (c *Cache) Stats() Stats {
	var s Stats
	for i := range s.Requests {
		s.Requests[i] = c.counts[i].Load()
	}
	c.mu.Lock()
	s.Bytes, s.Entries = c.bytes, len(c.entries)
	c.mu.Unlock()
	s.Waiting = int(c.waiting.Load())
	return s
}

var (
	headerCacheControl = []byte("Cache-Control")
	headerResult       = "X-Usher-Cache"
)

// Serve answers ctx from the cache or through it. host is the request's
// host without its port and path its canonical path, as the gateway
// matched the rule on them; ctx.Request must be ready to go to the origin.
func (c *Cache) Serve(ctx *fasthttp.RequestCtx, host, path []byte) Result {
	r := c.serve(ctx, host, path)
	c.counts[r].Add(1)
	ctx.Response.Header.Set(headerResult, ResultNames[r])
	return r
}

func (c *Cache) serve(ctx *fasthttp.RequestCtx, host, path []byte) Result {
	if !c.eligible(&ctx.Request) {
		c.forward(ctx)
		return Bypass
	}
	var kb [512]byte
	k := appendPrimary(kb[:0], ctx, host)
	primaryLen := len(k)
	now := c.now()

	c.mu.Lock()
	if v := c.variants[string(k)]; v != nil {
		k = appendVary(k, v.names, &ctx.Request.Header)
	}
	e := c.entries[string(k)]
	if e != nil && e.pass {
		if now.Before(e.passUntil) {
			c.touch(e)
			c.mu.Unlock()
			c.forward(ctx)
			return Bypass
		}
		c.remove(e)
		e = nil
	}
	if e != nil {
		age := now.Sub(e.born)
		if age < e.fresh {
			c.touch(e)
			c.mu.Unlock()
			c.answer(ctx, e, now)
			return Hit
		}
		if age < e.fresh+e.swr {
			c.touch(e)
			if c.flights[string(k)] == nil {
				f := c.fly(string(k), e.primary, e.host, e.path, e)
				req := fasthttp.AcquireRequest()
				ctx.Request.CopyTo(req)
				go c.refresh(req, f)
			}
			c.mu.Unlock()
			c.answer(ctx, e, now)
			return Stale
		}
	}
	if f := c.flights[string(k)]; f != nil {
		c.mu.Unlock()
		return c.wait(ctx, f, now)
	}
	key := string(k)
	f := c.fly(key, key[:primaryLen], strings.ToLower(string(host)), string(path), e)
	c.mu.Unlock()
	return c.fill(ctx, f)
}

// eligible reports whether a request may be answered from the cache: an
// anonymous GET or HEAD for a whole page.
func (c *Cache) eligible(req *fasthttp.Request) bool {
	h := &req.Header
	if !h.IsGet() && !h.IsHead() {
		return false
	}
	if len(req.Body()) > 0 || len(h.Peek("Range")) > 0 || h.ConnectionUpgrade() {
		return false
	}
	if !c.rule.IgnoreAuthorization && len(h.Peek("Authorization")) > 0 {
		return false
	}
	if len(h.Peek("Cookie")) > 0 && !c.ignore["*"] {
		prefix := c.cookiePrefix
		for name := range h.Cookies() {
			if !c.ignore[string(name)] && (len(prefix) == 0 || !bytes.HasPrefix(name, prefix)) {
				return false
			}
		}
	}
	return true
}

// appendPrimary appends the key of the request's URL: scheme, host and the
// request target as sent.
func appendPrimary(k []byte, ctx *fasthttp.RequestCtx, host []byte) []byte {
	if ctx.IsTLS() {
		k = append(k, "https://"...)
	} else {
		k = append(k, "http://"...)
	}
	for _, b := range host {
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		k = append(k, b)
	}
	return append(k, ctx.Request.Header.RequestURI()...)
}

// appendVary appends the values of the headers a URL's answers vary on.
func appendVary(k []byte, names []string, h *fasthttp.RequestHeader) []byte {
	for _, name := range names {
		k = append(k, 0)
		k = append(k, name...)
		k = append(k, ':')
		k = append(k, bytes.TrimSpace(h.Peek(name))...)
	}
	return k
}

// fly starts a trip to the origin for key, the page of primary (its URL)
// on host and path. stale is the expired page there, if any. c.mu is held.
func (c *Cache) fly(key, primary, host, path string, stale *entry) *flight {
	f := &flight{key: key, primary: primary, host: host, path: path, done: make(chan struct{}), stale: stale, gen: c.purges}
	c.flights[key] = f
	return f
}

// wait answers a request for a page another request is fetching: with its
// answer when it was kept, with the same failure when the origin did not
// answer, and otherwise by going to the origin itself.
func (c *Cache) wait(ctx *fasthttp.RequestCtx, f *flight, now time.Time) Result {
	f.waiting.Add(1)
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	t := time.NewTimer(c.rule.LockTimeout)
	select {
	case <-f.done:
		t.Stop()
	case <-t.C:
		c.forward(ctx)
		return Miss
	}
	switch {
	case f.e != nil && !sameVariant(&ctx.Request.Header, f.e):
		// The first answer for a URL told what it varies on, and this
		// request asks for another variant of it.
		c.forward(ctx)
		return Miss
	case f.e != nil:
		c.answer(ctx, f.e, c.now())
		return Coalesced
	case (f.err != nil || f.failed) && usableIfError(f.stale, now):
		c.answer(ctx, f.stale, now)
		return Stale
	case f.err != nil:
		c.origin.Fail(ctx, f.err)
		return Coalesced
	}
	c.forward(ctx)
	return Bypass
}

// sameVariant reports whether a request asks for the variant e holds.
func sameVariant(h *fasthttp.RequestHeader, e *entry) bool {
	if len(e.vary) == 0 {
		return true
	}
	var kb [256]byte
	return string(appendVary(kb[:0], e.vary, h)) == e.key[len(e.primary):]
}

// fill is a request's own trip to the origin for a page, on behalf of all
// who wait for it.
func (c *Cache) fill(ctx *fasthttp.RequestCtx, f *flight) Result {
	req := fasthttp.AcquireRequest()
	ctx.Request.CopyTo(req)
	resp, e, head, received, err := c.trip(req, f)
	switch {
	case e != nil:
		fasthttp.ReleaseResponse(resp)
		c.answer(ctx, e, received)
		return Miss
	case (err != nil || serverError(resp.StatusCode())) && usableIfError(f.stale, received):
		fasthttp.ReleaseResponse(resp)
		c.answer(ctx, f.stale, received)
		return Stale
	case err != nil:
		fasthttp.ReleaseResponse(resp)
		c.origin.Fail(ctx, err)
		return Miss
	}
	passOn(ctx, resp, head)
	return Miss
}

// refresh fetches an expired page in the background while it is served
// stale.
func (c *Cache) refresh(req *fasthttp.Request, f *flight) {
	resp, _, _, _, _ := c.trip(req, f)
	fasthttp.ReleaseResponse(resp)
}

// trip sends the cache's own request for a flight, made from a visitor's
// req, to the origin and settles the flight with the answer (see settle).
// It releases req; the caller releases resp.
func (c *Cache) trip(req *fasthttp.Request, f *flight) (resp *fasthttp.Response, e *entry, head []byte, received time.Time, err error) {
	noStore := requestNoStore(&req.Header)
	authorized := len(req.Header.Peek("Authorization")) > 0
	prepare(req, f.stale)
	resp = fasthttp.AcquireResponse()
	requested := c.now()
	err = c.origin.Fetch(req, resp)
	received = c.now()
	e, head, err = c.settle(f, &req.Header, resp, err, noStore, authorized, requested, received)
	fasthttp.ReleaseRequest(req)
	return resp, e, head, received, err
}

// prepare turns a visitor's request into the cache's own: a GET for the
// whole page, conditional on the validators of the page it has, if any.
func prepare(req *fasthttp.Request, stale *entry) {
	h := &req.Header
	h.SetMethod(fasthttp.MethodGet)
	for _, name := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
		h.Del(name)
	}
	if stale == nil {
		return
	}
	if len(stale.etag) > 0 {
		h.SetBytesV("If-None-Match", stale.etag)
	}
	if !stale.lastModified.IsZero() {
		h.Set("If-Modified-Since", stale.lastModified.UTC().Format(http.TimeFormat))
	}
}

// settle takes the origin's answer for a flight: keeps it when it may be
// kept (or, for a 304, renews the page it revalidated), marks the page as
// one whose answers are not kept when the answer says so, and lets the
// waiting requests go. When the body turned out too large to keep, head is
// what was read of it. err is the origin's failure, or the body's.
func (c *Cache) settle(f *flight, req *fasthttp.RequestHeader, resp *fasthttp.Response, err error, noStore, authorized bool, requested, received time.Time) (e *entry, head []byte, _ error) {
	pass, failed := false, false
	if err == nil {
		code := resp.StatusCode()
		failed = serverError(code)
		switch {
		case code == fasthttp.StatusNotModified && f.stale != nil:
			e = c.renew(f.stale, &resp.Header, requested, received)
		case noStore || failed || code == fasthttp.StatusNotModified:
			// Not kept, but nothing says the next answer will not be.
		default:
			e, pass = c.build(f, req, &resp.Header, authorized, requested, received)
			if e != nil {
				var complete bool
				head, complete, err = readBody(resp, c.rule.MaxEntryBytes)
				switch {
				case err != nil:
					e = nil
				case !complete:
					e, pass = nil, true
				default:
					e.body = head
					e.size += int64(len(head))
					head = nil
				}
			}
		}
	}

	c.mu.Lock()
	if c.flights[f.key] == f {
		delete(c.flights, f.key)
	}
	switch {
	case e != nil && f.gen == c.purges:
		c.insert(e)
	case pass && f.gen == c.purges:
		c.insert(&entry{key: f.key, primary: f.primary, host: f.host, path: f.path, pass: true,
			passUntil: received.Add(max(c.rule.TTL, time.Second)), size: int64(len(f.key)) + entryOverhead})
	}
	f.e, f.err, f.failed = e, err, failed
	close(f.done)
	c.mu.Unlock()
	return e, head, err
}

// entryOverhead is what an entry costs besides its key, header and body.
const entryOverhead = 256

// build makes the entry for an answer to req, without its body, when a
// shared cache may keep it (RFC 9111 section 3). When it may not, pass
// says whether that is the page's doing, so that its next requests need
// not wait for one another, or only this request's.
func (c *Cache) build(f *flight, req *fasthttp.RequestHeader, h *fasthttp.ResponseHeader, authorized bool, requested, received time.Time) (e *entry, pass bool) {
	cc := parseControl(h)
	if authorized && !cc.public && !cc.mustRevalidate && cc.sMaxAge < 0 {
		return nil, false
	}
	if cc.noStore || cc.private || cc.noCache || h.StatusCode() == fasthttp.StatusPartialContent || h.StatusCode() < 200 {
		return nil, true
	}
	if len(h.Peek("Set-Cookie")) > 0 || int64(h.ContentLength()) > c.rule.MaxEntryBytes {
		return nil, true
	}
	names, ok := c.varyNames(h)
	if !ok {
		return nil, true
	}
	fresh, ok := lifetime(h, cc, c.rule.TTL, received)
	if !ok || fresh <= 0 {
		return nil, true
	}
	// The flight's key was made before anyone knew what the URL varies
	// on; the entry's own key holds the values.
	e = &entry{key: f.primary + string(appendVary(nil, names, req)), primary: f.primary, host: f.host, path: f.path, fresh: fresh, vary: names}
	c.setWindows(e, cc)
	h.CopyTo(&e.header)
	e.header.Del("Age")
	e.header.Del(headerResult)
	e.born = received.Add(-initialAge(h, requested, received))
	e.etag = bytes.Clone(h.Peek("ETag"))
	e.lastModified, _ = httpTime(h.Peek("Last-Modified"))
	e.size = int64(len(e.key)) + entryOverhead
	for k, v := range e.header.All() {
		e.size += int64(len(k) + len(v) + 4)
	}
	return e, false
}

// setWindows sets how long an entry may be served stale: the answer's own
// stale-while-revalidate and stale-if-error, or the rule's, unless the
// answer forbids stale answers.
func (c *Cache) setWindows(e *entry, cc control) {
	forbid := cc.mustRevalidate || cc.sMaxAge >= 0
	e.swr, e.sie = c.rule.StaleWhileRevalidate, c.rule.StaleIfError
	if forbid {
		e.swr, e.sie = 0, 0
	}
	if cc.staleWhileRevalidate >= 0 {
		e.swr = cc.staleWhileRevalidate
	}
	if cc.staleIfError >= 0 {
		e.sie = cc.staleIfError
	}
}

// varyNames reads an answer's Vary: the header names it lists, canonical
// and sorted, or ok false when it varies on something the rule does not
// allow (or on everything, "*").
func (c *Cache) varyNames(h *fasthttp.ResponseHeader) (names []string, ok bool) {
	for k, v := range h.All() {
		if !bytes.EqualFold(k, []byte("Vary")) {
			continue
		}
		for tok := range bytes.SplitSeq(v, []byte{','}) {
			tok = bytes.TrimSpace(tok)
			if len(tok) == 0 {
				continue
			}
			name := strings.ToLower(string(tok))
			if !c.vary[name] {
				return nil, false
			}
			canon := http.CanonicalHeaderKey(name)
			if !slices.Contains(names, canon) {
				names = append(names, canon)
			}
		}
	}
	slices.Sort(names)
	return names, true
}

// renew makes a new entry from a kept one that the origin confirmed with a
// 304: the 304's headers replace the kept ones (RFC 9111 section 4.3.4),
// and the page is fresh again.
func (c *Cache) renew(old *entry, h *fasthttp.ResponseHeader, requested, received time.Time) *entry {
	e := &entry{key: old.key, primary: old.primary, host: old.host, path: old.path, body: old.body, size: old.size, vary: old.vary}
	old.header.CopyTo(&e.header)
	for k, v := range h.All() {
		switch strings.ToLower(string(k)) {
		case "content-length", "content-type", "content-encoding", "transfer-encoding", "set-cookie", "age", "connection":
			continue
		}
		e.header.SetBytesKV(k, v)
	}
	cc := parseControl(&e.header)
	fresh, _ := lifetime(&e.header, cc, c.rule.TTL, received)
	e.fresh = fresh
	c.setWindows(e, cc)
	e.born = received.Add(-initialAge(h, requested, received))
	e.etag = bytes.Clone(e.header.Peek("ETag"))
	e.lastModified, _ = httpTime(e.header.Peek("Last-Modified"))
	return e
}

// readBody reads an answer's body, up to limit bytes; complete is false when
// there was more.
func readBody(resp *fasthttp.Response, limit int64) (body []byte, complete bool, err error) {
	s := resp.BodyStream()
	if s == nil {
		b := resp.Body()
		return bytes.Clone(b), int64(len(b)) <= limit, nil
	}
	size := resp.Header.ContentLength()
	buf := make([]byte, 0, min(max(size, 512), int(limit)+1))
	for int64(len(buf)) <= limit {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(len(buf), int(limit)+1-len(buf)))
		}
		n, rerr := s.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if rerr == io.EOF {
			return buf, true, nil
		}
		if rerr != nil {
			return buf, false, rerr
		}
	}
	return buf, false, nil
}

// passOn gives the visitor an answer the cache does not keep, as the
// origin sent it; head is what the cache already read of its body.
func passOn(ctx *fasthttp.RequestCtx, resp *fasthttp.Response, head []byte) {
	resp.Header.CopyTo(&ctx.Response.Header)
	if resp.BodyStream() == nil {
		ctx.Response.SetBody(resp.Body())
		fasthttp.ReleaseResponse(resp)
		return
	}
	size := resp.Header.ContentLength()
	if size < 0 {
		size = -1
	}
	ctx.Response.SetBodyStream(&spliced{head: head, resp: resp}, size)
}

// spliced is an answer's body whose start the cache has read already.
// Closing it releases the answer.
type spliced struct {
	head []byte
	resp *fasthttp.Response
}

func (s *spliced) Read(p []byte) (int, error) {
	if len(s.head) > 0 {
		n := copy(p, s.head)
		s.head = s.head[n:]
		return n, nil
	}
	return s.resp.BodyStream().Read(p)
}

func (s *spliced) Close() error {
	err := s.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(s.resp)
	return err
}

// serverError is an answer that stale-if-error may stand in for.
func serverError(code int) bool {
	switch code {
	case 500, 502, 503, 504:
		return true
	}
	return false
}

// usableIfError reports whether a page may stand in for a failing origin.
func usableIfError(e *entry, now time.Time) bool {
	return e != nil && now.Sub(e.born) < e.fresh+e.sie
}

// answer answers a request from a kept page: a 304 when the visitor's
// conditional request shows it has the page already.
func (c *Cache) answer(ctx *fasthttp.RequestCtx, e *entry, now time.Time) {
	var abuf [20]byte
	age := strconv.AppendInt(abuf[:0], int64(max(0, now.Sub(e.born))/time.Second), 10)
	if notModified(&ctx.Request.Header, e) {
		r := &ctx.Response
		r.Reset()
		r.SetStatusCode(fasthttp.StatusNotModified)
		for _, name := range []string{"Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Last-Modified", "Vary"} {
			if v := e.header.Peek(name); len(v) > 0 {
				r.Header.SetBytesV(name, v)
			}
		}
		r.Header.SetBytesV("Age", age)
		return
	}
	e.header.CopyTo(&ctx.Response.Header)
	ctx.Response.SetBodyRaw(e.body)
	ctx.Response.Header.SetBytesV("Age", age)
}

// notModified evaluates a request's If-None-Match, or else its
// If-Modified-Since, against a kept page (RFC 9110 section 13.2.2).
func notModified(h *fasthttp.RequestHeader, e *entry) bool {
	if e.header.StatusCode() != fasthttp.StatusOK {
		return false
	}
	if inm := h.Peek("If-None-Match"); len(inm) > 0 {
		return etagMatch(inm, e.etag)
	}
	if e.lastModified.IsZero() {
		return false
	}
	since, ok := httpTime(h.Peek("If-Modified-Since"))
	return ok && !e.lastModified.After(since)
}

// forward sends a request the cache does not answer straight to the
// origin.
func (c *Cache) forward(ctx *fasthttp.RequestCtx) {
	if err := c.origin.Fetch(&ctx.Request, &ctx.Response); err != nil {
		c.origin.Fail(ctx, err)
	}
}

// insert keeps an entry, in place of any with its key, and forgets the
// least recently used ones beyond the rule's size. c.mu is held.
func (c *Cache) insert(e *entry) {
	if e.size > c.rule.MaxBytes {
		return
	}
	if old := c.entries[e.key]; old != nil {
		c.remove(old)
	}
	c.entries[e.key] = e
	e.next, e.prev = c.lru.next, &c.lru
	e.next.prev, c.lru.next = e, e
	c.bytes += e.size
	if !e.pass {
		v := c.variants[e.primary]
		if v == nil {
			v = &variants{}
			c.variants[e.primary] = v
		}
		v.names = e.vary
		v.n++
	}
	for c.bytes > c.rule.MaxBytes && c.lru.prev != &c.lru {
		c.remove(c.lru.prev)
	}
}

// remove forgets an entry. c.mu is held.
func (c *Cache) remove(e *entry) {
	delete(c.entries, e.key)
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
	c.bytes -= e.size
	if e.pass {
		return
	}
	if v := c.variants[e.primary]; v != nil {
		if v.n--; v.n <= 0 {
			delete(c.variants, e.primary)
		}
	}
}

// touch marks an entry as just used. c.mu is held.
func (c *Cache) touch(e *entry) {
	if c.lru.next == e {
		return
	}
	e.prev.next, e.next.prev = e.next, e.prev
	e.next, e.prev = c.lru.next, &c.lru
	e.next.prev, c.lru.next = e, e
}

// Purge forgets the pages of a path, or of every path that starts with it
// when prefix is set, on host ("" for every host), with every query
// string. A trip to the origin under way when the purge comes does not
// keep its answer. It returns how many pages were forgotten.
func (c *Cache) Purge(host, path string, prefix bool) int {
	host = strings.ToLower(host)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.purges++
	n := 0
	for _, e := range c.entries {
		if host != "" && e.host != host {
			continue
		}
		if e.path == path || prefix && strings.HasPrefix(e.path, path) {
			c.remove(e)
			if !e.pass {
				n++
			}
		}
	}
	return n
}
