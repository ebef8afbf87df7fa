package cache

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// control is what a response's Cache-Control says to a shared cache
// (RFC 9111 section 5.2.2, RFC 5861). A duration of -1 means the directive
// is absent.
type control struct {
	maxAge, sMaxAge                    time.Duration
	staleWhileRevalidate, staleIfError time.Duration
	noStore, noCache, private, public  bool
	mustRevalidate                     bool // must-revalidate or proxy-revalidate
}

// parseControl reads every Cache-Control header of h. A delta-seconds that
// does not parse counts as 0, which makes the response stale at once: the
// safe reading of a directive the cache cannot understand.
func parseControl(h *fasthttp.ResponseHeader) control {
	c := control{maxAge: -1, sMaxAge: -1, staleWhileRevalidate: -1, staleIfError: -1}
	for k, v := range h.All() {
		if !bytes.EqualFold(k, headerCacheControl) {
			continue
		}
		forEachDirective(v, func(name, arg []byte) {
			switch string(bytes.ToLower(name)) {
			case "max-age":
				c.maxAge = deltaSeconds(arg)
			case "s-maxage":
				c.sMaxAge = deltaSeconds(arg)
			case "stale-while-revalidate":
				c.staleWhileRevalidate = deltaSeconds(arg)
			case "stale-if-error":
				c.staleIfError = deltaSeconds(arg)
			case "no-store":
				c.noStore = true
			case "no-cache":
				// With field names it still forbids reusing those fields
				// unvalidated; the cache keeps whole responses only.
				c.noCache = true
			case "private":
				c.private = true
			case "public":
				c.public = true
			case "must-revalidate", "proxy-revalidate":
				c.mustRevalidate = true
			}
		})
	}
	return c
}

// requestNoStore reports whether a request's Cache-Control says no-store:
// the response to it must not be kept. The request's other directives
// (no-cache, max-age=0: what a browser sends when its user presses reload)
// are not honoured, as in nginx; a crowd pressing reload must not reach the
// origin.
func requestNoStore(h *fasthttp.RequestHeader) bool {
	found := false
	for k, v := range h.All() {
		if !bytes.EqualFold(k, headerCacheControl) {
			continue
		}
		forEachDirective(v, func(name, _ []byte) {
			if bytes.EqualFold(name, []byte("no-store")) {
				found = true
			}
		})
	}
	return found
}

// forEachDirective calls f with each directive of a Cache-Control value and
// its argument, unquoted ("" when it has none).
func forEachDirective(v []byte, f func(name, arg []byte)) {
	for len(v) > 0 {
		var d []byte
		// A quoted argument may hold a comma.
		if i := bytes.IndexAny(v, ",\""); i >= 0 && v[i] == '"' {
			end := bytes.IndexByte(v[i+1:], '"')
			if end < 0 {
				end = len(v) - i - 1
			}
			j := i + 1 + end
			if k := bytes.IndexByte(v[min(j, len(v)):], ','); k >= 0 {
				d, v = v[:j+k], v[j+k+1:]
			} else {
				d, v = v, nil
			}
		} else {
			d, v, _ = bytes.Cut(v, []byte{','})
		}
		name, arg, _ := bytes.Cut(d, []byte{'='})
		name = bytes.TrimSpace(name)
		arg = bytes.Trim(bytes.TrimSpace(arg), `"`)
		if len(name) > 0 {
			f(name, arg)
		}
	}
}

// deltaSeconds reads a delta-seconds argument; one too large for the cache
// to keep counts as the largest it can (RFC 9111 section 1.2.2).
func deltaSeconds(arg []byte) time.Duration {
	n, err := strconv.ParseUint(string(arg), 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return math.MaxInt32 * time.Second
	}
	if err != nil {
		return 0
	}
	return time.Duration(min(n, math.MaxInt32)) * time.Second
}

// httpTime parses an HTTP date; ok is false for a missing or invalid one.
func httpTime(v []byte) (time.Time, bool) {
	if len(v) == 0 {
		return time.Time{}, false
	}
	t, err := http.ParseTime(string(v))
	return t, err == nil
}

// heuristic are the status codes a cache may keep without explicit
// freshness (RFC 9110 section 15.1), less 206: the cache keeps whole
// responses only.
func heuristic(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// lifetime is how long a response stays fresh from when it was made (RFC
// 9111 section 4.2.1); ok is false when it may not be kept at all. A
// response that says nothing gets the rule's TTL, if its status allows a
// heuristic; one without a Date was made when it was received.
func lifetime(h *fasthttp.ResponseHeader, c control, ttl time.Duration, received time.Time) (d time.Duration, ok bool) {
	switch {
	case c.sMaxAge >= 0:
		return c.sMaxAge, true
	case c.maxAge >= 0:
		return c.maxAge, true
	}
	if exp := h.Peek("Expires"); len(exp) > 0 {
		t, valid := httpTime(exp)
		if !valid {
			return 0, true // "0" or garbage: already expired
		}
		date, ok := httpTime(h.Peek("Date"))
		if !ok {
			date = received
		}
		return max(0, t.Sub(date)), true
	}
	if heuristic(h.StatusCode()) || c.public {
		return ttl, true
	}
	return 0, false
}

// initialAge is how old a response already was when it arrived: its Age
// header plus the time the request took (RFC 9111 section 4.2.3). Unlike
// the RFC's apparent age, the time since its Date does not count: an
// origin whose clock is off by minutes would otherwise make every answer
// stale on arrival, or fresh for too long. nginx and Varnish judge it the
// same way; Expires is still read against the answer's own Date.
func initialAge(h *fasthttp.ResponseHeader, requested, received time.Time) time.Duration {
	var age time.Duration
	if v := h.Peek("Age"); len(v) > 0 {
		age = deltaSeconds(v)
	}
	return max(0, age+received.Sub(requested))
}

// etagMatch reports whether an If-None-Match list names etag, by the weak
// comparison RFC 9110 section 13.1.2 asks for.
func etagMatch(list, etag []byte) bool {
	if len(etag) == 0 {
		return false
	}
	if bytes.Equal(bytes.TrimSpace(list), []byte("*")) {
		return true
	}
	want := bytes.TrimPrefix(etag, []byte("W/"))
	for len(list) > 0 {
		var tag []byte
		tag, list, _ = bytes.Cut(list, []byte{','})
		tag = bytes.TrimPrefix(bytes.TrimSpace(tag), []byte("W/"))
		if len(tag) > 0 && bytes.Equal(tag, want) {
			return true
		}
	}
	return false
}
