package gateway

import (
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/usherhq/usher/admission"
)

// Routes of the fans' listener.
const (
	routeRoom   = iota // a path in a room: proxied with a pass, or queued
	routeProxy         // a path in no room: passed through
	routeStatus        // /_usher/status
	routeUsher         // the other /_usher/ paths
	routeCount
)

// routeNames are the routes as the route label names them.
var routeNames = [routeCount]string{"room", "proxy", "status", "usher"}

// durationBuckets suit a proxy: from half a millisecond to ten seconds.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// metrics are the gateway's Prometheus metrics. Labels are listener, route,
// room, code, state, result and op: never an address, a visitor or a token.
// The fans' request path touches only pre-resolved series, so counting
// allocates nothing.
type metrics struct {
	reg              *prometheus.Registry
	requests         *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	upstreamRequests *prometheus.CounterVec
	upstreamDuration prometheus.Histogram
	rateLimited      *prometheus.CounterVec
	shieldDecisions  *prometheus.CounterVec
	shieldReasons    *prometheus.CounterVec
	challenges       *prometheus.CounterVec

	fans     [routeCount]routeSeries
	upstream [600]atomic.Pointer[prometheus.Counter]
}

// routeSeries are one route's series, its counters by status code resolved
// on first use.
type routeSeries struct {
	duration prometheus.Observer
	codes    [600]atomic.Pointer[prometheus.Counter]
}

func newMetrics() *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_http_requests_total", Help: "Requests answered, by listener, route and status code.",
	}, []string{"listener", "route", "code"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "usher_http_request_duration_seconds", Help: "Time to answer a request, by listener and route.", Buckets: durationBuckets,
	}, []string{"listener", "route"})
	m.upstreamRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_upstream_requests_total", Help: `Requests sent to the origin, by its status code ("error" when it did not answer).`,
	}, []string{"code"})
	m.upstreamDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "usher_upstream_request_duration_seconds", Help: "Time the origin took to answer, headers only for streamed bodies.", Buckets: durationBuckets,
	})
	m.rateLimited = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_rate_limited_total", Help: "Requests refused with 429 by a per-client rate limit, by room and limit (join, status, admitted, join_global).",
	}, []string{"room", "limit"})
	m.shieldDecisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_shield_decisions_total", Help: "Shield decisions on requests in a room, by room and decision (allow, challenge, block).",
	}, []string{"room", "decision"})
	m.shieldReasons = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_shield_reasons_total", Help: "Reasons behind shield decisions, by room, decision and reason (a bot signal, deny_list, allow_list or revoked); a decision counts once for each of its reasons.",
	}, []string{"room", "decision", "reason"})
	m.challenges = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "usher_shield_challenges_total", Help: "Proof-of-work challenges, by room and result (issued, solved, invalid, expired, reused, mismatch, unsolved).",
	}, []string{"room", "result"})
	m.reg.MustRegister(m.requests, m.duration, m.upstreamRequests, m.upstreamDuration, m.rateLimited, m.shieldDecisions, m.shieldReasons, m.challenges)
	for i, name := range routeNames {
		m.fans[i].duration = m.duration.WithLabelValues("fans", name)
	}
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "usher_build_info", Help: "Always 1; the labels say which usher is running.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))
	return m
}

// observeFans counts one answered request of the fans' listener.
func (m *metrics) observeFans(route int, code int, d time.Duration) {
	rs := &m.fans[route]
	rs.duration.Observe(d.Seconds())
	counter(&rs.codes, code, func() prometheus.Counter {
		return m.requests.WithLabelValues("fans", routeNames[route], strconv.Itoa(code))
	}).Inc()
}

// observeUpstream counts one request to the origin; code 0 means it did not
// answer.
func (m *metrics) observeUpstream(code int, d time.Duration) {
	m.upstreamDuration.Observe(d.Seconds())
	counter(&m.upstream, code, func() prometheus.Counter {
		label := "error"
		if code > 0 {
			label = strconv.Itoa(code)
		}
		return m.upstreamRequests.WithLabelValues(label)
	}).Inc()
}

// counter returns the series for code, resolving it once.
func counter(cache *[600]atomic.Pointer[prometheus.Counter], code int, resolve func() prometheus.Counter) prometheus.Counter {
	if code < 0 || code >= len(cache) {
		return resolve()
	}
	if c := cache[code].Load(); c != nil {
		return *c
	}
	c := resolve()
	cache[code].Store(&c)
	return c
}

// instrumentAdmin counts the admin listener's requests by route pattern.
func (m *metrics) instrumentAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.requests.WithLabelValues("admin", route, strconv.Itoa(sw.code)).Inc()
		m.duration.WithLabelValues("admin", route).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the writer's Flush.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// registerGateway adds the series that read the gateway's state when
// scraped.
func (g *Gateway) registerMetrics(m *metrics, withProcess bool) {
	if withProcess {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m.reg.MustRegister(&roomCollector{g: g}, &gatewayCollector{g: g}, &cacheCollector{g: g})
}

// handler serves the exposition.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

var (
	descWaiting    = prometheus.NewDesc("usher_room_waiting", "Visitors in line who have not been offered admission.", []string{"room"}, nil)
	descActive     = prometheus.NewDesc("usher_room_active", "Visitors holding a live pass.", []string{"room"}, nil)
	descAdmissions = prometheus.NewDesc("usher_admissions_total", "Visitors admitted through this instance.", []string{"room"}, nil)
	descState      = prometheus.NewDesc("usher_room_state", "1 for the room's current state, 0 for the others.", []string{"room", "state"}, nil)
	descLeaseLeft  = prometheus.NewDesc("usher_lease_left", "Admissions this instance may still make on its own under its failover lease (rooms[].failover_lease).", []string{"room"}, nil)
	descLeaseOwn   = prometheus.NewDesc("usher_lease_admissions_total", "Admissions this instance made on its own under its failover lease while the queue store did not answer.", []string{"room"}, nil)
	descTokens     = prometheus.NewDesc("usher_token_checks_total", "Ticket and pass checks: accepted from the cache, accepted after a signature check, rejected.", []string{"result"}, nil)
	descStoreErr   = prometheus.NewDesc("usher_store_errors_total", "Failed calls to the queue store, by operation.", []string{"op"}, nil)
	descStoreUp    = prometheus.NewDesc("usher_store_up", "1 while the queue store answers, 0 otherwise.", nil, nil)
)

var roomStates = []admission.State{admission.StateOpen, admission.StatePaused, admission.StateSoldOut, admission.StateClosed}

// roomCollector reads every room's view when scraped, so rooms added by a
// reload appear and removed ones go.
type roomCollector struct{ g *Gateway }

func (c *roomCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWaiting
	ch <- descActive
	ch <- descAdmissions
	ch <- descState
	ch <- descLeaseLeft
	ch <- descLeaseOwn
}

func (c *roomCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.g.ctrl.Rooms() {
		v := r.View()
		ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(max(0, v.Joined-v.Served)), r.ID())
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(v.Active), r.ID())
		ch <- prometheus.MustNewConstMetric(descAdmissions, prometheus.CounterValue, float64(r.Admitted()), r.ID())
		left, own := r.Leased()
		ch <- prometheus.MustNewConstMetric(descLeaseLeft, prometheus.GaugeValue, float64(left), r.ID())
		ch <- prometheus.MustNewConstMetric(descLeaseOwn, prometheus.CounterValue, float64(own), r.ID())
		state := r.Policy().State
		for _, s := range roomStates {
			val := 0.0
			if s == state {
				val = 1
			}
			ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, val, r.ID(), string(s))
		}
	}
}

// gatewayCollector reads the token checks and the store's health.
type gatewayCollector struct{ g *Gateway }

func (c *gatewayCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descTokens
	ch <- descStoreErr
	ch <- descStoreUp
}

func (c *gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	cached, verified, rejected := c.g.tokens.Checks()
	ch <- prometheus.MustNewConstMetric(descTokens, prometheus.CounterValue, float64(cached), "cached")
	ch <- prometheus.MustNewConstMetric(descTokens, prometheus.CounterValue, float64(verified), "verified")
	ch <- prometheus.MustNewConstMetric(descTokens, prometheus.CounterValue, float64(rejected), "rejected")
	for _, op := range []string{"join", "claim", "advance", "policy", "ping"} {
		n := c.g.ctrl.StoreErrors().Counts()[op]
		if op == "ping" {
			n = c.g.pingErrors.Load()
		}
		ch <- prometheus.MustNewConstMetric(descStoreErr, prometheus.CounterValue, float64(n), op)
	}
	up := 0.0
	if c.g.storeOK.Load() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, up)
}
