package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/usherhq/usher/admission"
)

// adminHandler serves operators: Prometheus metrics without a token, and the
// rooms API behind the admin bearer token.
func (g *Gateway) adminHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g.registerMetrics(reg)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("GET /api/rooms", g.requireToken(http.HandlerFunc(g.listRooms)))
	mux.Handle("GET /api/rooms/{id}", g.requireToken(http.HandlerFunc(g.getRoom)))
	mux.Handle("GET /api/rooms/{id}/stats", g.requireToken(http.HandlerFunc(g.roomStats)))
	return mux
}

// requireToken lets through requests that carry the admin token as a bearer
// token. The digests are compared, in constant time, so that neither the
// token nor its length leaks through timing. With no token configured nobody
// passes.
func (g *Gateway) requireToken(next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(g.cfg.Admin.Token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		digest := sha256.Sum256([]byte(got))
		if !ok || g.cfg.Admin.Token == "" || subtle.ConstantTimeCompare(digest[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="usher"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// roomJSON is a room's policy and state with the field names of the config.
type roomJSON struct {
	ID            string  `json:"id"`
	Name          string  `json:"name"`
	RatePerMinute float64 `json:"rate_per_minute"`
	MaxActive     int     `json:"max_active"`
	Session       string  `json:"session"`
	ClaimWindow   string  `json:"claim_window"`
	Mode          string  `json:"mode"`
	State         string  `json:"state"`
	PollMin       string  `json:"poll_min"`
	PollMax       string  `json:"poll_max"`
}

func toRoomJSON(r *admission.Room) roomJSON {
	p := r.Policy()
	return roomJSON{
		ID: r.ID(), Name: r.Name(),
		RatePerMinute: p.RatePerMinute, MaxActive: p.MaxActive,
		Session: p.Session.String(), ClaimWindow: p.ClaimWindow.String(),
		Mode: string(p.Mode), State: string(p.State),
		PollMin: p.PollMin.String(), PollMax: p.PollMax.String(),
	}
}

func (g *Gateway) listRooms(w http.ResponseWriter, _ *http.Request) {
	out := []roomJSON{}
	for _, r := range g.ctrl.Rooms() {
		out = append(out, toRoomJSON(r))
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) getRoom(w http.ResponseWriter, r *http.Request) {
	rm := g.ctrl.Room(r.PathValue("id"))
	if rm == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown room"})
		return
	}
	writeJSON(w, http.StatusOK, toRoomJSON(rm))
}

// statsJSON is a room's counters as this instance last read them.
type statsJSON struct {
	Waiting       int64     `json:"waiting"`
	Active        int       `json:"active"`
	Offered       int       `json:"offered"`
	AdmittedTotal int64     `json:"admitted_total"`
	Joined        int64     `json:"joined"`
	Served        int64     `json:"served"`
	EtaLast       *int64    `json:"eta_last_seconds"`
	At            time.Time `json:"at"`
	Fresh         bool      `json:"fresh"`
}

func (g *Gateway) roomStats(w http.ResponseWriter, r *http.Request) {
	rm := g.ctrl.Room(r.PathValue("id"))
	if rm == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown room"})
		return
	}
	v := rm.View()
	s := statsJSON{
		Waiting: v.Joined - v.Served, Active: v.Active, Offered: v.Pending,
		AdmittedTotal: v.AdmittedTotal, Joined: v.Joined, Served: v.Served,
		At: v.At, Fresh: v.Fresh,
	}
	if wait := rm.Wait(v.Joined); !wait.Offered && wait.ETAKnown {
		eta := int64(wait.ETA / time.Second)
		s.EtaLast = &eta
	}
	writeJSON(w, http.StatusOK, s)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// registerMetrics registers the gateway's gauges and counters. They read the
// rooms' views when scraped, so the request path pays nothing for them.
func (g *Gateway) registerMetrics(reg prometheus.Registerer) {
	version := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "usher_build_info", Help: "Always 1; the labels say which usher is running.",
		ConstLabels: prometheus.Labels{"version": version},
	}, func() float64 { return 1 }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "usher_store_up", Help: "1 while the queue store answers, 0 otherwise.",
	}, func() float64 {
		if g.storeOK.Load() {
			return 1
		}
		return 0
	}))
	for _, r := range g.ctrl.Rooms() {
		labels := prometheus.Labels{"room": r.ID()}
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "usher_room_waiting", Help: "Visitors in line who have not been offered admission.", ConstLabels: labels,
		}, func() float64 { v := r.View(); return float64(v.Joined - v.Served) }))
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "usher_room_active", Help: "Visitors holding a live pass.", ConstLabels: labels,
		}, func() float64 { return float64(r.View().Active) }))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "usher_admissions_total", Help: "Visitors admitted through this instance.", ConstLabels: labels,
		}, func() float64 { return float64(r.Admitted()) }))
	}
}
