package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/queue"
)

// flakyStore is a store whose Ping fails while down is set.
type flakyStore struct {
	queue.Store
	mu   sync.Mutex
	down bool
}

func (s *flakyStore) Ping(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return queue.ErrUnavailable
	}
	return s.Store.Ping(ctx)
}

func (s *flakyStore) setDown(v bool) {
	s.mu.Lock()
	s.down = v
	s.mu.Unlock()
}

// runGateway runs a whole gateway with Run, as usher gateway does.
func runGateway(t *testing.T, cfgFn func(*Config), store queue.Store) (url, admin string, cancel context.CancelFunc, wait func() error) {
	t.Helper()
	return runGatewayWith(t, cfgFn, store, newKeys(t))
}

// runGatewayWith is runGateway with the given keys, which instances that
// honour each other's tokens share.
func runGatewayWith(t *testing.T, cfgFn func(*Config), store queue.Store, keys *admission.KeySet) (url, admin string, cancel context.CancelFunc, wait func() error) {
	t.Helper()
	o := newOrigin(t, nil)
	cfg := testConfig(o.URL, nil)
	if cfgFn != nil {
		cfgFn(cfg)
	}
	checked, err := CheckConfig(*cfg, func(k string) string {
		if k == "USHER_ADMIN_TOKEN" {
			return "s3cret-token"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(checked, Options{Store: store, Keys: keys, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	aln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- g.Run(ctx, ln, aln) }()
	wait = sync.OnceValue(func() error { return <-errc })
	t.Cleanup(func() {
		cancel()
		_ = wait()
	})
	return "http://" + ln.Addr().String(), "http://" + aln.Addr().String(), cancel, wait
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitEvery(t, what, 10*time.Millisecond, 20*time.Second, cond)
}

// waitEvery checks cond every interval until it holds, and fails the test
// after limit.
func waitEvery(t *testing.T, what string, interval, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(interval)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestHealthAndReadiness(t *testing.T) {
	clk := newClock()
	store := &flakyStore{Store: storeKinds(t)[0].open(t, clk.Now)}
	url, _, _, _ := runGateway(t, nil, store)
	if code := getStatus(t, url+"/_usher/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	waitFor(t, "ready", func() bool { return getStatus(t, url+"/_usher/readyz") == 200 })
	store.setDown(true)
	waitFor(t, "not ready while the store is down", func() bool { return getStatus(t, url+"/_usher/readyz") == 503 })
	if code := getStatus(t, url+"/_usher/healthz"); code != 200 {
		t.Errorf("healthz %d while the store is down: the process is alive", code)
	}
	store.setDown(false)
	waitFor(t, "ready again", func() bool { return getStatus(t, url+"/_usher/readyz") == 200 })

	resp, err := http.Get(url + "/_usher/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if _, err := admission.ParseJWKS(body); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("jwks.json: %v, %s", err, body)
	}
	if code := getStatus(t, url+"/_usher/nothing"); code != 404 {
		t.Errorf("unknown /_usher path: %d", code)
	}
}

// TestShutdownDrains: after the stop signal readiness fails at once, the
// request in flight finishes, and Run returns.
func TestShutdownDrains(t *testing.T) {
	clk := newClock()
	release := make(chan struct{})
	arrived := make(chan struct{})
	o := newOrigin(t, func(mux *http.ServeMux) {
		mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
			close(arrived)
			<-release
			_, _ = io.WriteString(w, "finished")
		})
	})
	url, _, cancel, wait := runGateway(t, func(c *Config) {
		c.Origin.URL = o.URL
		c.Server.DrainDelay = config.Duration(3 * time.Second)
	}, storeKinds(t)[0].open(t, clk.Now))
	waitFor(t, "ready", func() bool { return getStatus(t, url+"/_usher/readyz") == 200 })

	type result struct {
		body string
		err  error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{string(b), err}
	}()
	<-arrived
	cancel()
	// During the drain delay the gateway still answers, but not ready.
	waitFor(t, "readyz to fail after the stop signal", func() bool { return getStatus(t, url+"/_usher/readyz") == 503 })
	close(release)
	if r := <-inflight; r.err != nil || r.body != "finished" {
		t.Errorf("request in flight: %q, %v", r.body, r.err)
	}
	if err := wait(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestAdminAPI(t *testing.T) {
	clk := newClock()
	_, admin, _, _ := runGateway(t, nil, storeKinds(t)[0].open(t, clk.Now))
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, admin+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/api/rooms", "/api/rooms/sale", "/api/rooms/sale/stats"} {
		if code, _ := get(path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", path, code)
		}
		if code, _ := get(path, "wrong"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", path, code)
		}
	}
	code, body := get("/api/rooms/sale", "s3cret-token")
	var room map[string]any
	if err := json.Unmarshal([]byte(body), &room); code != 200 || err != nil {
		t.Fatalf("room: %d %s", code, body)
	}
	if room["rate_per_minute"] != 60.0 || room["max_active"] != 1000.0 || room["session"] != "10m0s" || room["mode"] != "fifo" || room["state"] != "open" {
		t.Errorf("room: %v", room)
	}
	if code, _ := get("/api/rooms/nope", "s3cret-token"); code != 404 {
		t.Errorf("unknown room: %d", code)
	}
	code, body = get("/api/rooms/sale/stats", "s3cret-token")
	if code != 200 || !strings.Contains(body, `"waiting"`) {
		t.Errorf("stats: %d %s", code, body)
	}
	code, body = get("/metrics", "")
	if code != 200 || !strings.Contains(body, `usher_room_waiting{room="sale"}`) || !strings.Contains(body, "usher_build_info") {
		t.Errorf("metrics: %d %.300s", code, body)
	}
}

func TestAccessLog(t *testing.T) {
	clk := newClock()
	o := newOrigin(t, nil)
	cfg := testConfig(o.URL, nil)
	cfg.Log.Access = true
	cfg.TrustedProxies = []string{"127.0.0.0/8"}
	checked, err := CheckConfig(*cfg, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	logw := &lockedWriter{w: &buf}
	g, err := New(checked, Options{Store: storeKinds(t)[0].open(t, clk.Now), Keys: newKeys(t), Now: clk.Now, Logger: slog.New(slog.NewJSONHandler(logw, nil))})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := serveFans(t, g)
	newBrowser(t).get(url+"/events/9?q=1", "X-Forwarded-For", "203.0.113.7")
	logw.mu.Lock()
	defer logw.mu.Unlock()
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["log"] == "access" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no access log line in %s", buf.String())
	}
	for k, want := range map[string]any{"method": "GET", "path": "/events/9", "status": 200.0, "route": "room", "room": "sale", "client": "203.0.113.7"} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v (%v)", k, line[k], want, line)
		}
	}
	if strings.Contains(buf.String(), "usher_pass") || strings.Contains(buf.String(), "eyJ") {
		t.Error("the access log holds a token")
	}
}

// lockedWriter serialises writes from the server's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
