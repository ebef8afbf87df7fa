package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/queue/memory"
)

// cacheSite is an origin for the edge cache's tests: each path counts its
// requests, and the landing page says which version of it the site is on.
type cacheSite struct {
	*origin
	version atomic.Int32
	hold    chan struct{} // when not nil, the landing page waits on it
	mu      sync.Mutex
	counts  map[string]int
}

func newCacheSite(t *testing.T) *cacheSite {
	s := &cacheSite{counts: map[string]int{}}
	s.version.Store(1)
	count := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.counts[r.URL.Path]++
			hold := s.hold
			s.mu.Unlock()
			if hold != nil && r.URL.Path == "/" {
				<-hold
			}
			next(w, r)
		}
	}
	s.origin = newOrigin(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/{$}", count(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, "landing v%d", s.version.Load())
		}))
		// A body sent in pieces, with no length ahead.
		mux.HandleFunc("/static/chunked.js", count(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			for i := range 3 {
				fmt.Fprintf(w, "piece %d %s\n", i, strings.Repeat("j", 1000))
				w.(http.Flusher).Flush()
			}
		}))
		// Three megabytes in pieces: more than a rule keeps.
		mux.HandleFunc("/static/big.bin", count(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "max-age=60")
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			for range 48 {
				_, _ = w.Write(chunk)
				w.(http.Flusher).Flush()
			}
		}))
		mux.HandleFunc("/static/personal", count(func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "seen", Value: "1"})
			fmt.Fprint(w, "for you")
		}))
	})
	return s
}

func (s *cacheSite) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// withCache adds a cache rule on the landing page and /static/*.
func withCache(more func(*CacheRuleConfig)) func(*Config) {
	return func(cfg *Config) {
		r := DefaultCacheRule()
		r.Name, r.Paths = "landing", []string{"/", "/static/*"}
		if more != nil {
			more(&r)
		}
		cfg.Cache.Rules = []CacheRuleConfig{r}
	}
}

// TestEdgeCache: through the gateway, the landing page and static files are
// kept and served from memory; rooms and other paths are untouched.
func TestEdgeCache(t *testing.T) {
	site := newCacheSite(t)
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), store: memory.New(memory.Options{}), origin: site.URL, cfg: withCache(nil)})
	fan := newBrowser(t)

	for i, want := range []string{"miss", "hit", "hit"} {
		resp, body := fan.get(g.URL + "/")
		if resp.StatusCode != 200 || body != "landing v1" || resp.Header.Get("X-Usher-Cache") != want {
			t.Errorf("landing page %d: %d %q %s, want %s", i, resp.StatusCode, body, resp.Header.Get("X-Usher-Cache"), want)
		}
		if i > 0 && resp.Header.Get("Age") == "" {
			t.Error("a hit without Age")
		}
	}
	if n := site.count("/"); n != 1 {
		t.Errorf("the origin saw the landing page %d times, want 1", n)
	}

	// A fan in the room carries usher's cookies; they do not make the
	// landing page personal.
	if resp, _ := fan.get(g.URL + "/events/1"); resp.StatusCode != 200 || resp.Header.Get("X-Usher-Cache") != "" {
		t.Errorf("a room path: %d, X-Usher-Cache %q", resp.StatusCode, resp.Header.Get("X-Usher-Cache"))
	}
	if fan.cookie(g.URL, "usher_pass_sale") == "" {
		t.Fatal("the fan got no pass")
	}
	if resp, _ := fan.get(g.URL + "/"); resp.Header.Get("X-Usher-Cache") != "hit" {
		t.Errorf("with usher's cookies: %s, want hit", resp.Header.Get("X-Usher-Cache"))
	}
	if resp, _ := fan.get(g.URL+"/", "Cookie", "session=1"); resp.Header.Get("X-Usher-Cache") != "bypass" {
		t.Errorf("with the site's own cookie: %s, want bypass", resp.Header.Get("X-Usher-Cache"))
	}
	if resp, body := fan.get(g.URL + "/elsewhere"); resp.Header.Get("X-Usher-Cache") != "" || body != "origin /elsewhere" {
		t.Errorf("a path no rule names: %q, X-Usher-Cache %q", body, resp.Header.Get("X-Usher-Cache"))
	}

	// A body that came in pieces is kept whole.
	var first string
	for i, want := range []string{"miss", "hit"} {
		resp, body := fan.get(g.URL + "/static/chunked.js")
		if resp.Header.Get("X-Usher-Cache") != want || len(body) != 3*(1000+9) {
			t.Errorf("chunked %d: %s, %d bytes", i, resp.Header.Get("X-Usher-Cache"), len(body))
		}
		if i == 0 {
			first = body
		} else if body != first {
			t.Error("the kept body differs from the origin's")
		}
	}
	// One larger than the rule keeps passes through whole, every time.
	want := strings.Repeat(strings.Repeat("0123456789abcdef", 4096), 48)
	for i, result := range []string{"miss", "bypass"} {
		resp, body := fan.get(g.URL + "/static/big.bin")
		if resp.Header.Get("X-Usher-Cache") != result || body != want {
			t.Errorf("big %d: %s, %d bytes of %d, intact %v", i, resp.Header.Get("X-Usher-Cache"), len(body), len(want), body == want)
		}
	}
	// An answer that sets a cookie is never kept, nor shared.
	for range 2 {
		if resp, body := fan.get(g.URL + "/static/personal"); resp.Header.Get("X-Usher-Cache") == "hit" || body != "for you" || !strings.Contains(resp.Header.Get("Set-Cookie"), "seen=1") {
			t.Errorf("personal: %s %q %q", resp.Header.Get("X-Usher-Cache"), body, resp.Header.Get("Set-Cookie"))
		}
	}
	if n := site.count("/static/personal"); n != 2 {
		t.Errorf("the origin saw the personal page %d times, want 2", n)
	}

	// The metrics count what the cache did.
	rec := scrape(t, g.Gateway)
	for _, line := range []string{
		`usher_cache_requests_total{result="hit",rule="landing"} 4`,
		`usher_cache_requests_total{result="bypass",rule="landing"} 3`,
		`usher_cache_entries{rule="landing"} 4`, // two pages, and two kept as not kept
	} {
		if !strings.Contains(rec, line+"\n") {
			t.Errorf("metrics lack %s", line)
		}
	}
	if !strings.Contains(rec, `usher_cache_bytes{rule="landing"}`) {
		t.Error("metrics lack usher_cache_bytes")
	}
}

// scrape reads the gateway's metrics exposition.
func scrape(t *testing.T, g *Gateway) string {
	t.Helper()
	rec := httptest.NewRecorder()
	g.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestEdgeCacheCoalescing: a thousand visitors, each from an address of its
// own, ask for the cold landing page at once; the origin sees one request
// and every visitor gets the page.
func TestEdgeCacheCoalescing(t *testing.T) {
	const n = 1000
	site := newCacheSite(t)
	site.hold = make(chan struct{})
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), store: memory.New(memory.Options{}), origin: site.URL, cfg: withCache(func(r *CacheRuleConfig) {
		r.LockTimeout = config.Duration(time.Minute)
	})})
	c := g.caching.Load().caches[0]
	var wg sync.WaitGroup
	var ok, coalesced atomic.Int32
	for range n {
		b := newBrowser(t)
		wg.Go(func() {
			resp, body := b.get(g.URL + "/")
			if resp.StatusCode == 200 && body == "landing v1" {
				ok.Add(1)
			}
			if resp.Header.Get("X-Usher-Cache") == "coalesced" {
				coalesced.Add(1)
			}
		})
	}
	waitFor(t, "every other visitor to wait for the first one's answer", func() bool {
		return c.Stats().Waiting == n-1
	})
	close(site.hold)
	wg.Wait()
	if got := site.count("/"); got != 1 {
		t.Errorf("the origin saw %d requests, want 1", got)
	}
	if ok.Load() != n || coalesced.Load() != n-1 {
		t.Errorf("%d visitors got the page, %d of them from another's request; want %d and %d", ok.Load(), coalesced.Load(), n, n-1)
	}
}

// TestEdgeCacheStaleIfError: with the origin gone, an expired landing page
// stands in for it within the rule's window, on the gateway's clock.
func TestEdgeCacheStaleIfError(t *testing.T) {
	site := newCacheSite(t)
	clk := newClock()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), store: memory.New(memory.Options{}), clock: clk, origin: site.URL, cfg: withCache(func(r *CacheRuleConfig) {
		r.StaleIfError = config.Duration(10 * time.Minute)
	})})
	fan := newBrowser(t)
	fan.get(g.URL + "/")
	site.Close()
	clk.Add(2 * time.Minute)
	resp, body := fan.get(g.URL + "/")
	if resp.StatusCode != 200 || body != "landing v1" || resp.Header.Get("X-Usher-Cache") != "stale" {
		t.Errorf("origin down: %d %q %s, want the stale page", resp.StatusCode, body, resp.Header.Get("X-Usher-Cache"))
	}
	clk.Add(10 * time.Minute)
	if resp, _ := fan.get(g.URL + "/"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("origin down past the window: %d, want 502", resp.StatusCode)
	}
}

// TestCachePurgeAcrossInstances: an operator purges the landing page
// through one instance; it is fetched anew there at once, and on the other
// instance within five seconds.
func TestCachePurgeAcrossInstances(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			site := newCacheSite(t)
			keys := newKeys(t)
			type instance struct{ url, admin string }
			var gws []instance
			for range 2 {
				u, a, _, _ := runGatewayWith(t, func(cfg *Config) {
					cfg.Origin.URL = site.URL
					withCache(nil)(cfg)
				}, kind.open(t, nil), keys)
				gws = append(gws, instance{u, a})
			}
			fan := newBrowser(t)
			for _, gw := range gws {
				fan.get(gw.url + "/")
				if resp, body := fan.get(gw.url + "/"); body != "landing v1" || resp.Header.Get("X-Usher-Cache") != "hit" {
					t.Fatalf("before: %q %s", body, resp.Header.Get("X-Usher-Cache"))
				}
			}
			site.version.Store(2)

			code, body := adminCall(t, "POST", gws[0].admin, "/api/cache/purge", `{"path":"/"}`)
			if code != 200 || body != `{"purged":1}`+"\n" {
				t.Fatalf("purge: %d %s", code, body)
			}
			start := time.Now()
			if _, body := fan.get(gws[0].url + "/"); body != "landing v2" {
				t.Errorf("the instance that took the purge: %q", body)
			}
			waitFor(t, "the other instance to forget the page", func() bool {
				_, body := fan.get(gws[1].url + "/")
				return body == "landing v2"
			})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("the purge took %v to reach the other instance, more than 5s", d)
			}
			// Applied once: the other instance keeps the new page.
			time.Sleep(2 * revocationRefresh)
			before := site.count("/")
			fan.get(gws[1].url + "/")
			if site.count("/") != before {
				t.Error("the other instance purged the page again")
			}

			for _, tc := range []struct {
				body string
				code int
			}{
				{`{"prefix":"/static/"}`, 200},
				{`{"path":"/","rule":"landing"}`, 200},
				{`{"path":"/","rule":"nope"}`, 404},
				{`{"path":"/","prefix":"/x"}`, 400},
				{`{}`, 400},
				{`{"path":"no-slash"}`, 400},
				{`{"path":"/a b"}`, 400},
				{`{"path":"/","host":"Bad Host"}`, 400},
				{`{"path":"/","extra":1}`, 400},
				{`not json`, 400},
			} {
				if code, body := adminCall(t, "POST", gws[1].admin, "/api/cache/purge", tc.body); code != tc.code {
					t.Errorf("purge %s: %d %s, want %d", tc.body, code, body, tc.code)
				}
			}
			code, body = adminCall(t, "GET", gws[1].admin, "/api/cache", "")
			if code != 200 || !strings.Contains(body, `"name":"landing"`) || !strings.Contains(body, `"hit":`) {
				t.Errorf("GET /api/cache: %d %s", code, body)
			}
		})
	}
}

// TestCacheReload: a reload keeps the pages of a rule that did not change
// and starts afresh for one that did.
func TestCacheReload(t *testing.T) {
	site := newCacheSite(t)
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), store: memory.New(memory.Options{}), origin: site.URL, cfg: withCache(nil)})
	fan := newBrowser(t)
	fan.get(g.URL + "/")
	cfg := *g.cfg
	g.Reload(&cfg)
	if resp, _ := fan.get(g.URL + "/"); resp.Header.Get("X-Usher-Cache") != "hit" {
		t.Errorf("after a reload that changed nothing: %s", resp.Header.Get("X-Usher-Cache"))
	}
	next := *g.cfg
	withCache(func(r *CacheRuleConfig) { r.TTL = config.Duration(5 * time.Second) })(&next)
	checked, err := CheckConfig(next, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g.Reload(checked)
	if resp, _ := fan.get(g.URL + "/"); resp.Header.Get("X-Usher-Cache") != "miss" {
		t.Errorf("after a reload that changed the rule: %s", resp.Header.Get("X-Usher-Cache"))
	}
}
