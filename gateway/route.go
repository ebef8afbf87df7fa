package gateway

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/usherhq/usher/gateway/cache"
)

// A pattern is a room's path pattern: "/events/*" covers /events, /events/
// and everything below it; "/*" covers every path; a pattern without a
// trailing "/*" covers exactly that path.
type pattern struct {
	path   string // "/events" for "/events/*", "" for "/*", "/checkout" for an exact pattern
	prefix bool
}

func parsePattern(s string) (pattern, error) {
	if !strings.HasPrefix(s, "/") {
		return pattern{}, fmt.Errorf("path pattern %q must start with /", s)
	}
	p := pattern{path: s}
	if rest, ok := strings.CutSuffix(s, "/*"); ok {
		p = pattern{path: rest, prefix: true}
	}
	if strings.Contains(p.path, "*") {
		return pattern{}, fmt.Errorf("path pattern %q: * is allowed only as a final /*", s)
	}
	if canon := string(canonicalPath(nil, []byte(s))); canon != s && canon+"*" != s {
		return pattern{}, fmt.Errorf("path pattern %q is not in canonical form (no //, ., .., %%-escapes or ;): did you mean %q?", s, canon)
	}
	return p, nil
}

func (p pattern) String() string {
	if p.prefix {
		return p.path + "/*"
	}
	return p.path
}

func (p pattern) match(path []byte) bool {
	if !p.prefix {
		return string(path) == p.path
	}
	if !bytes.HasPrefix(path, []byte(p.path)) {
		return false
	}
	rest := path[len(p.path):]
	return len(rest) == 0 || rest[0] == '/'
}

// route ties one host and pattern to a room, or to no room for a room's
// exceptions; or, in the edge cache's router, to a cache rule.
type route struct {
	host    string // lower case without port; "" matches any host
	pattern pattern
	room    *room // nil: not protected
	cache   *cache.Cache
}

// router finds the room that protects a request. Routes are kept in order of
// specificity, so the first match wins: a route for the request's host beats
// one for any host, a longer pattern beats a shorter one, and an exact
// pattern beats a prefix of the same length.
type router struct {
	routes []route
}

func newRouter(routes []route) *router {
	sort.SliceStable(routes, func(i, j int) bool {
		a, b := routes[i], routes[j]
		if (a.host != "") != (b.host != "") {
			return a.host != ""
		}
		if len(a.pattern.path) != len(b.pattern.path) {
			return len(a.pattern.path) > len(b.pattern.path)
		}
		return !a.pattern.prefix && b.pattern.prefix
	})
	return &router{routes: routes}
}

// match returns the room protecting path on host, or nil. host is the Host
// header as sent; path must be canonical (see canonicalPath).
func (r *router) match(host, path []byte) *room {
	if rt := r.find(hostWithoutPort(host), path); rt != nil {
		return rt.room
	}
	return nil
}

// find returns the most specific route for path on host (without its
// port), or nil.
func (r *router) find(host, path []byte) *route {
	for i := range r.routes {
		rt := &r.routes[i]
		if rt.host != "" && !bytes.EqualFold(host, []byte(rt.host)) {
			continue
		}
		if rt.pattern.match(path) {
			return rt
		}
	}
	return nil
}

func hostWithoutPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' { // [::1]:8080
		if i := bytes.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := bytes.LastIndexByte(h, ':'); i >= 0 {
		return h[:i]
	}
	return h
}

// needsCanonicalizing reports whether a raw request path may be spelled
// differently from the path an origin would resolve it to.
func needsCanonicalizing(p []byte) bool {
	if len(p) == 0 || p[0] != '/' {
		return true
	}
	for i, c := range p {
		switch c {
		case '%', '\\', ';':
			return true
		case '/':
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				return true
			}
		}
	}
	return false
}

// canonicalPath appends to dst the path that raw resolves to under the most
// generous reading any origin might apply: every %XX escape decoded
// (including %2F and %5C), backslashes read as slashes, ";params" dropped
// from each segment, "." and ".." segments resolved and runs of slashes
// merged. The gateway forwards the raw path untouched and decides which room
// protects it on this form, so no spelling of a protected path can reach the
// origin without the room's check. A spelling that only looks protected
// under this reading is merely queued, which is harmless.
func canonicalPath(dst, raw []byte) []byte {
	if !needsCanonicalizing(raw) {
		return append(dst, raw...)
	}
	start := len(dst)
	dst = append(dst, '/')
	// Decode into segments as we go: seg holds the start of the current
	// segment in dst.
	seg := len(dst)
	param := false // inside ";params" of the current segment
	flush := func() {
		s := dst[seg:]
		switch {
		case len(s) == 0:
			// an empty segment ("//") is merged away
		case string(s) == ".":
			dst = dst[:seg]
		case string(s) == "..":
			dst = dst[:seg]
			// drop the previous segment, but never climb above the root
			if seg-1 > start {
				prev := bytes.LastIndexByte(dst[start:seg-1], '/')
				dst = dst[:start+prev+1]
			}
		default:
			dst = append(dst, '/')
		}
		seg = len(dst)
		param = false
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		switch {
		case c == '/' || c == '\\':
			flush()
		case c == ';':
			param = true
		case param:
			// dropped: path parameters are not part of the resource name
		default:
			dst = append(dst, c)
		}
	}
	// A final "." or ".." names a directory: "/a/b/.." is "/a/". A final
	// empty segment keeps its slash already; a final name has none.
	if s := dst[seg:]; string(s) == "." || string(s) == ".." {
		flush()
	}
	return dst
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
