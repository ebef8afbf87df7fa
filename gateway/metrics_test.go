package gateway

import (
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestMetricsExposition holds the Prometheus exposition, after a known set
// of requests, to a golden file: names, help, labels and counts. Timings
// vary, so bucket counts and sums of durations are masked.
func TestMetricsExposition(t *testing.T) {
	clk := newClock()
	o := newOrigin(t, nil)
	cfg := testConfig(o.URL, func(r *RoomConfig) { r.State = "paused" })
	checked, err := CheckConfig(*cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(checked, Options{Store: storeKinds(t)[0].open(t, clk.Now), Keys: newKeys(t), Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), NoProcessMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveFans(t, g)
	tg := &testGateway{Gateway: g, URL: url}
	tg.tick(t)

	b := newBrowser(t)
	b.get(tg.URL + "/elsewhere")      // proxied: route proxy, 200
	b.get(tg.URL + "/events/1")       // joined and queued: route room, 200
	b.status(tg)                      // route status, 200
	b.get(tg.URL + "/_usher/nope")    // route usher, 404
	b.get(tg.URL + "/_usher/healthz") // route usher, 200
	tg.tick(t)

	admin := httptest.NewServer(g.AdminHandler())
	defer admin.Close()
	resp, err := http.Get(admin.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	got := maskTimings(string(body))

	const golden = "testdata/metrics.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./gateway -run TestMetricsExposition -update)", err)
	}
	if got != string(want) {
		t.Errorf("exposition differs from %s (rerun with -update if the change is meant):\n%s", golden, got)
	}
	for _, bad := range []string{"127.0.0.1", "usher_pass", "usher_ticket", "visitor"} {
		if strings.Contains(got, bad) {
			t.Errorf("the exposition names %q: labels must never hold an address, a visitor or a token", bad)
		}
	}
}

var timing = regexp.MustCompile(`(?m)^(usher_(?:http|upstream)_request_duration_seconds_(?:bucket|sum)\{?[^ ]*) \S+$`)

func maskTimings(s string) string { return timing.ReplaceAllString(s, "$1 <timing>") }
