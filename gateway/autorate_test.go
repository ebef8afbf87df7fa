package gateway

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/queue/memory"
)

// TestAutoRate: a room's rate follows an origin that the test slows down,
// breaks and speeds up again: it climbs by the step while the origin is
// healthy, halves while the p95 is over the target or too many answers
// fail, stays within its bounds, is decided once per interval across
// instances, and says why in the audit trail.
func TestAutoRate(t *testing.T) {
	var delay, failing atomic.Int64 // milliseconds; every failing-th answer is a 502
	o := newOrigin(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Duration(delay.Load()) * time.Millisecond)
			if n := failing.Load(); n > 0 && strings.HasSuffix(r.URL.Path, "/0") {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			_, _ = w.Write([]byte("ok"))
		})
	})
	clk := newClock()
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) {
			r.RatePerMinute, r.RateRamp = 300, 0
			r.AutoRate = AutoRateConfig{MinPerMinute: 60, MaxPerMinute: 600, P95Target: config.Duration(400 * time.Millisecond),
				MaxErrorRate: 0.1, Every: config.Duration(10 * time.Second), Backoff: 0.5, StepPerMinute: 60, MinRequests: 20}
		}})
	rm := g.routing.Load().rooms["sale"]
	fans := make([]*browser, 6)
	for i := range fans {
		fans[i] = newBrowser(t)
		if resp, _ := fans[i].get(g.URL + "/events/1"); resp.StatusCode != 200 {
			t.Fatalf("fan %d not let in: %d", i, resp.StatusCode)
		}
	}
	// traffic sends 30 requests through the gateway, all at once, five per
	// fan; 8 of them (paths ending in /0) fail while failing is set. The
	// target is far above what a loaded test machine takes to answer, and
	// the slow origin far above the target, so no timing decides.
	traffic := func() {
		var wg sync.WaitGroup
		for i, f := range fans {
			for j := range 5 {
				path := "/api/x/1"
				if (i*5+j)%4 == 0 {
					path = "/api/x/0"
				}
				wg.Go(func() { f.get(g.URL + path) })
			}
		}
		wg.Wait()
	}
	step := func(want float64, reason string) {
		t.Helper()
		clk.Add(10 * time.Second)
		traffic()
		d, err := g.adjustRate(t.Context(), rm)
		if err != nil {
			t.Fatal(err)
		}
		if got := rm.adm.Policy().RatePerMinute; got != want || !d.decided || !strings.Contains(d.reason, reason) {
			t.Fatalf("rate %g (decision %+v), want %g because %q", got, d, want, reason)
		}
	}
	step(360, "origin healthy")
	step(420, "origin healthy")
	delay.Store(700)
	step(210, "p95")
	step(105, "p95")
	step(60, "p95") // not below the floor
	step(60, "p95")
	delay.Store(0)
	step(120, "origin healthy")
	failing.Store(1)
	step(60, "origin errors 26.7 % over 10.0 %")
	failing.Store(0)
	step(120, "origin healthy")
	for range 10 {
		step(min(600, rm.adm.Policy().RatePerMinute+60), "origin healthy")
	}
	if got := rm.adm.Policy().RatePerMinute; got != 600 {
		t.Errorf("rate %g after a long healthy run, want the ceiling 600", got)
	}
	// Within one interval the turn has been taken: no second decision.
	if d, err := g.adjustRate(t.Context(), rm); err != nil || d.decided {
		t.Errorf("a second decision within the interval: %+v, %v", d, err)
	}
	// Too few requests: the rate stays.
	clk.Add(10 * time.Second)
	if d, _ := g.adjustRate(t.Context(), rm); d.to != 600 || !strings.Contains(d.reason, "too few") {
		t.Errorf("with no traffic: %+v", d)
	}
	audit, err := rm.adm.Audit(t.Context(), 50)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range audit {
		if e.Who == "auto_rate" && e.Action == "auto_rate" && strings.Contains(e.Via, "over the 400ms target") {
			found = true
		}
	}
	if !found {
		t.Errorf("no audit entry says the rate backed off for the p95: %+v", audit)
	}
}
