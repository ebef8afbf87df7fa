package gateway

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/usherhq/usher/gateway/admin"
	"github.com/usherhq/usher/gateway/cache"
)

// caching is the edge cache as the request path sees it: the rules' routes
// and their caches. A reload swaps it whole.
type caching struct {
	router *router
	caches []*cache.Cache // by rule
	rules  []CacheRuleConfig
}

// setCaches builds the caches of the configured rules. A rule that did not
// change keeps its cache and what it holds.
func (g *Gateway) setCaches(rules []CacheRuleConfig) {
	prev := g.caching.Load()
	cc := &caching{rules: rules}
	var routes []route
	for i := range rules {
		r := &rules[i]
		var c *cache.Cache
		if prev != nil {
			for j, old := range prev.rules {
				if reflect.DeepEqual(old, *r) {
					c = prev.caches[j]
				}
			}
		}
		if c == nil {
			c = cache.New(r.rule(), cacheOrigin{g.proxy}, g.now)
		}
		cc.caches = append(cc.caches, c)
		for _, p := range r.patterns {
			routes = append(routes, route{host: r.Host, pattern: p, cache: c})
		}
	}
	cc.router = newRouter(routes)
	g.caching.Store(cc)
}

// serveCached answers a path outside every room through its cache rule, if
// it has one.
func (g *Gateway) serveCached(ctx *fasthttp.RequestCtx, path []byte) bool {
	host := hostWithoutPort(ctx.Request.Header.Host())
	rt := g.caching.Load().router.find(host, path)
	if rt == nil || ctx.Request.Header.ConnectionUpgrade() {
		return false
	}
	g.proxy.prepare(ctx, nil)
	rt.cache.Serve(ctx, host, path)
	return true
}

// cacheOrigin is the origin as the cache sees it: the proxy, with usher's
// command header taken out of every answer before it can be kept.
type cacheOrigin struct{ p *proxy }

func (o cacheOrigin) Fetch(req *fasthttp.Request, resp *fasthttp.Response) error {
	err := o.p.Fetch(req, resp)
	resp.Header.Del(commandHeader)
	return err
}

func (o cacheOrigin) Fail(ctx *fasthttp.RequestCtx, err error) { o.p.Fail(ctx, err) }

// purgeRoom and purgeSet are where purges are recorded in the queue store,
// so that every instance applies one made through any: a name no room can
// have.
const (
	purgeRoom = ".cache"
	purgeSet  = "purges"
	// purgeLife is how long a purge stays recorded: long enough for every
	// instance to read it, several times over.
	purgeLife = time.Minute
)

// purges are the purges recorded in the store that this instance has
// applied, each with the expiry it had then: a purge made again gets a
// later one and is applied again.
type purges struct {
	mu      sync.Mutex
	applied map[string]time.Time
}

// watchPurges applies the purges made through other instances, read from
// the store every revocationRefresh.
func (g *Gateway) watchPurges(ctx context.Context) {
	every(ctx, revocationRefresh, func() {
		if len(g.caching.Load().caches) == 0 {
			return
		}
		if err := g.loadPurges(ctx); err != nil && ctx.Err() == nil {
			g.logStoreErrors.Do(func() { g.log.Error("queue store call failed", "err", err) })
		}
	})
}

// loadPurges applies the recorded purges this instance has not applied.
func (g *Gateway) loadPurges(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(g.cfg.Redis.Timeout))
	defer cancel()
	marks, err := g.store.Marked(ctx, purgeRoom, purgeSet)
	if err != nil {
		return fmt.Errorf("read cache purges: %w", err)
	}
	g.purges.mu.Lock()
	defer g.purges.mu.Unlock()
	if g.purges.applied == nil {
		g.purges.applied = map[string]time.Time{}
	}
	for k, exp := range marks {
		if g.purges.applied[k].Equal(exp) {
			continue
		}
		if pg, ok := parsePurgeKey(k); ok {
			g.purgeHere(pg)
		}
	}
	// Forget the purges that expired; keep exactly what the store holds.
	g.purges.applied = marks
	return nil
}

// purger serves the admin API's edge cache routes.
type purger struct{ g *Gateway }

var _ admin.Cache = purger{}

// Purge forgets the matching pages on this instance at once and records the
// purge in the store; the other instances forget them within
// revocationRefresh.
func (p purger) Purge(ctx context.Context, pg admin.Purge) (int, error) {
	n := p.g.purgeHere(pg)
	sctx, cancel := context.WithTimeout(ctx, time.Duration(p.g.cfg.Redis.Timeout))
	defer cancel()
	if _, err := p.g.store.Mark(sctx, purgeRoom, purgeSet, purgeKey(pg), purgeLife); err != nil {
		return n, fmt.Errorf("record the purge for the other instances: %w", err)
	}
	// This instance has applied it: reading it back marks it so.
	if err := p.g.loadPurges(ctx); err != nil {
		return n, err
	}
	return n, nil
}

// CacheRules reports each rule's pages and counters on this instance.
func (p purger) CacheRules() []admin.CacheRule {
	cc := p.g.caching.Load()
	out := make([]admin.CacheRule, 0, len(cc.caches))
	for i, c := range cc.caches {
		st := c.Stats()
		r := admin.CacheRule{Name: cc.rules[i].Name, Host: cc.rules[i].Host, Paths: cc.rules[i].Paths,
			Entries: st.Entries, Bytes: st.Bytes, MaxBytes: int64(cc.rules[i].MaxBytes), Requests: map[string]uint64{}}
		for j, n := range st.Requests {
			r.Requests[cache.ResultNames[j]] = n
		}
		out = append(out, r)
	}
	return out
}

// HasRule reports whether the gateway has a cache rule of that name, so
// that a purge naming one it does not have can be refused.
func (p purger) HasRule(name string) bool {
	for _, r := range p.g.caching.Load().rules {
		if r.Name == name {
			return true
		}
	}
	return false
}

// purgeHere applies a purge to this instance's caches.
func (g *Gateway) purgeHere(pg admin.Purge) int {
	cc := g.caching.Load()
	n := 0
	for i, c := range cc.caches {
		if pg.Rule != "" && cc.rules[i].Name != pg.Rule {
			continue
		}
		n += c.Purge(pg.Host, pg.Path, pg.Prefix)
	}
	return n
}

// purgeKey is a purge as the store records it.
func purgeKey(pg admin.Purge) string {
	kind := "path"
	if pg.Prefix {
		kind = "prefix"
	}
	return kind + " " + pg.Rule + " " + pg.Host + " " + pg.Path
}

func parsePurgeKey(k string) (admin.Purge, bool) {
	f := strings.SplitN(k, " ", 4)
	if len(f) != 4 || (f[0] != "path" && f[0] != "prefix") {
		return admin.Purge{}, false
	}
	return admin.Purge{Prefix: f[0] == "prefix", Rule: f[1], Host: f[2], Path: f[3]}, true
}

var (
	descCacheRequests = prometheus.NewDesc("usher_cache_requests_total", "Requests to the edge cache's rules, by what the cache did: hit, miss, stale, bypass, coalesced.", []string{"rule", "result"}, nil)
	descCacheBytes    = prometheus.NewDesc("usher_cache_bytes", "Memory the rule's kept answers take.", []string{"rule"}, nil)
	descCacheEntries  = prometheus.NewDesc("usher_cache_entries", "Answers the rule keeps.", []string{"rule"}, nil)
	descCacheWaiting  = prometheus.NewDesc("usher_cache_waiting", "Requests waiting for another request's trip to the origin for the same page.", []string{"rule"}, nil)
)

// cacheCollector reads the edge cache's counters when scraped, so rules a
// reload adds appear and removed ones go.
type cacheCollector struct{ g *Gateway }

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descCacheRequests
	ch <- descCacheBytes
	ch <- descCacheEntries
	ch <- descCacheWaiting
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	cc := c.g.caching.Load()
	for i, ca := range cc.caches {
		name := cc.rules[i].Name
		st := ca.Stats()
		for r, n := range st.Requests {
			ch <- prometheus.MustNewConstMetric(descCacheRequests, prometheus.CounterValue, float64(n), name, cache.ResultNames[r])
		}
		ch <- prometheus.MustNewConstMetric(descCacheBytes, prometheus.GaugeValue, float64(st.Bytes), name)
		ch <- prometheus.MustNewConstMetric(descCacheEntries, prometheus.GaugeValue, float64(st.Entries), name)
		ch <- prometheus.MustNewConstMetric(descCacheWaiting, prometheus.GaugeValue, float64(st.Waiting), name)
	}
}
