package gateway

import (
	"path"
	"strings"
	"testing"
)

func TestCanonicalPath(t *testing.T) {
	tests := map[string]string{
		"/events/":                    "/events/",
		"/events":                     "/events",
		"/":                           "/",
		"":                            "/",
		"events/x":                    "/events/x",
		"//events//x":                 "/events/x",
		"/a/../events/x":              "/events/x",
		"/../../events":               "/events",
		"/events/./x":                 "/events/x",
		"/events/.":                   "/events/",
		"/events/x/..":                "/events/",
		"/%65vents/x":                 "/events/x",
		"/%2e%2e/events/x":            "/events/x",
		"/public%2F..%2Fevents/x":     "/events/x",
		"/public%2f..%2fevents%2f":    "/events/",
		"/public\\..\\events\\x":      "/events/x",
		"/events;jsessionid=1/x":      "/events/x",
		"/events;x":                   "/events",
		"/events/x;v=1":               "/events/x",
		"/a/..;x/events":              "/events",
		"/a/;x":                       "/a/",
		"/%":                          "/%",
		"/%4":                         "/%4",
		"/%zz/x":                      "/%zz/x",
		"/%2541":                      "/%41",
		"/a/b/c/../../..":             "/",
		"/a/b/c/../../../..":          "/",
		"/events/%2e":                 "/events/",
		"/events/%2e%2e/%2e%2e/admin": "/admin",
	}
	for raw, want := range tests {
		if got := string(canonicalPath(nil, []byte(raw))); got != want {
			t.Errorf("canonicalPath(%q) = %q, want %q", raw, got, want)
		}
	}
}

func TestCanonicalPathAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	for _, raw := range []string{"/events/123", "/a/../events/%65"} {
		b := []byte(raw)
		if n := testing.AllocsPerRun(100, func() { buf = canonicalPath(buf[:0], b) }); n != 0 {
			t.Errorf("canonicalPath(%q) allocates %v times", raw, n)
		}
	}
}

func TestParsePattern(t *testing.T) {
	for _, good := range []string{"/*", "/events/*", "/events", "/api/v1/*", "/checkout/"} {
		p, err := parsePattern(good)
		if err != nil {
			t.Errorf("parsePattern(%q): %v", good, err)
		} else if p.String() != good {
			t.Errorf("parsePattern(%q).String() = %q", good, p.String())
		}
	}
	for _, bad := range []string{"", "events/*", "/ev*nts", "/events/**", "/events//*", "/a/../b", "/%65vents", "/events;x"} {
		if _, err := parsePattern(bad); err == nil {
			t.Errorf("parsePattern(%q) accepted", bad)
		}
	}
}

func testRouter(t testing.TB) (*router, map[string]*room) {
	t.Helper()
	rooms := map[string]*room{"events": {id: "events"}, "api": {id: "api"}, "vip": {id: "vip"}, "exact": {id: "exact"}, "all": {id: "all"}}
	var routes []route
	add := func(host, pat, id string) {
		p, err := parsePattern(pat)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, route{host: host, pattern: p, room: rooms[id]})
	}
	add("", "/events/*", "events")
	add("", "/api/*", "api")
	add("", "/events/vip/*", "vip")
	add("", "/checkout", "exact")
	add("other.example", "/*", "all")
	return newRouter(routes), rooms
}

func TestRouterMatch(t *testing.T) {
	r, _ := testRouter(t)
	tests := []struct {
		host, path, want string
	}{
		{"tickets.example", "/events", "events"},
		{"tickets.example", "/events/", "events"},
		{"tickets.example", "/events/42", "events"},
		{"tickets.example", "/eventsx", ""},
		{"tickets.example", "/events/vip", "vip"},
		{"tickets.example", "/events/vip/1", "vip"},
		{"tickets.example", "/events/vipx", "events"},
		{"tickets.example", "/api/holds", "api"},
		{"tickets.example", "/checkout", "exact"},
		{"tickets.example", "/checkout/x", ""},
		{"tickets.example", "/", ""},
		{"other.example", "/", "all"},
		{"OTHER.example:8080", "/events/1", "all"},
		{"[::1]:8080", "/api/x", "api"},
	}
	for _, tt := range tests {
		got := ""
		if rm := r.match([]byte(tt.host), []byte(tt.path)); rm != nil {
			got = rm.id
		}
		if got != tt.want {
			t.Errorf("match(%q, %q) = %q, want %q", tt.host, tt.path, got, tt.want)
		}
	}
}

// resolveLikeAnOrigin is an independent reading of a raw path, built from the
// standard library: decode every escape, read backslashes as slashes, drop
// ";params" and clean the dots. canonicalPath must agree with it.
func resolveLikeAnOrigin(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '%' && i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2]) {
			c = unhex(raw[i+1])<<4 | unhex(raw[i+2])
			i += 2
		}
		if c == '\\' {
			c = '/'
		}
		b.WriteByte(c)
	}
	segs := strings.Split(b.String(), "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ";")
	}
	return path.Clean("/" + strings.Join(segs, "/"))
}

func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{"/events/1", "/a/../events", "/%2e%2e/events", "/x%2F..%2Fevents", "\\events", "/events;a/b", "//events//", "/%", "/%%2e%2e/"} {
		f.Add(s)
	}
	r, rooms := testRouter(f)
	f.Fuzz(func(t *testing.T, raw string) {
		got := string(canonicalPath(nil, []byte(raw)))
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("canonicalPath(%q) = %q does not start with /", raw, got)
		}
		for _, bad := range []string{"//", "/./", "/../", "\\", ";"} {
			if strings.Contains(got, bad) {
				t.Fatalf("canonicalPath(%q) = %q still contains %q", raw, got, bad)
			}
		}
		if want := resolveLikeAnOrigin(raw); strings.TrimSuffix(got, "/") != strings.TrimSuffix(want, "/") {
			t.Fatalf("canonicalPath(%q) = %q, but an origin resolves it to %q", raw, got, want)
		}
		// Whatever the spelling, a path an origin resolves under /events
		// must be held by a room.
		if want := resolveLikeAnOrigin(raw); want == "/events" || strings.HasPrefix(want, "/events/") {
			if rm := r.match([]byte("tickets.example"), []byte(got)); rm != rooms["events"] && rm != rooms["vip"] {
				t.Fatalf("%q resolves to %q but matched room %v", raw, want, rm)
			}
		}
	})
}

func TestRouterExcept(t *testing.T) {
	rm := &room{id: "sale"}
	var routes []route
	for _, s := range []string{"/events/*", "/api/*"} {
		p, _ := parsePattern(s)
		routes = append(routes, route{pattern: p, room: rm})
	}
	for _, s := range []string{"/api/events", "/api/public/*"} {
		p, _ := parsePattern(s)
		routes = append(routes, route{pattern: p})
	}
	r := newRouter(routes)
	for path, protected := range map[string]bool{
		"/api/events": false, "/api/events/1": true, "/api/holds": true,
		"/api/public": false, "/api/public/x": false, "/api/publicx": true, "/events/1": true,
	} {
		if got := r.match([]byte("h"), []byte(path)) != nil; got != protected {
			t.Errorf("%s protected = %v, want %v", path, got, protected)
		}
	}
}
