package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	goredis "github.com/redis/go-redis/v9"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/gateway"
	"github.com/usherhq/usher/internal/browsertest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestRunCommands(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(t.Context(), nil, env(nil), &out, &errOut); err == nil || !strings.Contains(errOut.String(), "usage: usher") {
		t.Errorf("no command: %v, %q", err, errOut.String())
	}
	if err := run(t.Context(), []string{"nonsense"}, env(nil), &out, &errOut); err == nil || !strings.Contains(err.Error(), `unknown command "nonsense"`) {
		t.Errorf("unknown command: %v", err)
	}
	out.Reset()
	if err := run(t.Context(), []string{"version"}, env(nil), &out, &errOut); err != nil || !strings.HasPrefix(out.String(), "usher ") {
		t.Errorf("version: %v %q", err, out.String())
	}
}

func TestKeygenAndCheck(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	var out, errOut bytes.Buffer
	if err := run(t.Context(), []string{"keygen", "-out", key}, env(nil), &out, &errOut); err != nil {
		t.Fatalf("keygen: %v", err)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	if err := run(t.Context(), []string{"keygen", "-out", key}, env(nil), &out, &errOut); err == nil {
		t.Error("keygen overwrote an existing key")
	}

	cfg := filepath.Join("configs", "gateway.yaml")
	out.Reset()
	err := run(t.Context(), []string{"gateway", "-check", "-config", cfg}, env(map[string]string{"USHER_KEY_FILES": key}), &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "is valid: 1 room(s)") {
		t.Errorf("check of configs/gateway.yaml: %v %q", err, out.String())
	}
	err = run(t.Context(), []string{"gateway", "-check", "-config", cfg}, env(map[string]string{"USHER_KEY_FILES": filepath.Join(dir, "missing.pem")}), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("a missing key file must be named: %v", err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("origin: {url: 'http://o:1'}\nrooms:\n  - id: x\n    pathz: [/]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(t.Context(), []string{"gateway", "-check", "-config", bad}, env(map[string]string{"USHER_KEY_FILES": key}), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), `line 4: rooms[0].pathz: unknown key "pathz" (did you mean "paths"?)`) {
		t.Errorf("bad config: %v", err)
	}
}

// TestDemo runs `usher demo` and goes through its waiting room as a fan
// whose browser polls: queue page first, then the event page, by itself.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan demoAddrs, 1)
	done := make(chan error, 1)
	var out bytes.Buffer
	sw := &syncWriter{w: &out}
	go func() {
		done <- runDemo(ctx, []string{"-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-booking-admin-listen", "", "-crowd", "3"}, env(nil), sw, io.Discard, ready)
	}()
	var d demoAddrs
	select {
	case d = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v", err)
	}
	base := "http://" + d.addr
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	get := func(path string, accept string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept", accept)
		// A browser's headers: the shield challenges HTTP libraries.
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
		req.Header.Set("Accept-Language", "en-GB,en;q=0.9")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/", "text/html"); code != 200 || !strings.Contains(body, "Wandering Stars") {
		t.Fatalf("landing page: %d", code)
	}
	// The crowd joins as the demo starts; wait until it is in line.
	deadline := time.Now().Add(20 * time.Second)
	for d.g.Controller().Room("demo").View().Joined < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	code, body := get("/events/", "text/html")
	if code != 200 || !strings.Contains(body, "in line") {
		t.Fatalf("first visit: %d, want the queue page", code)
	}
	for {
		_, s := get("/_usher/status?room=demo", "application/json")
		var st struct {
			Admitted    bool  `json:"admitted"`
			PollAfterMS int64 `json:"poll_after_ms"`
		}
		if err := json.Unmarshal([]byte(s), &st); err != nil {
			t.Fatalf("status %q: %v", s, err)
		}
		if st.Admitted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not admitted in time: %s", s)
		}
		time.Sleep(time.Duration(st.PollAfterMS) * time.Millisecond)
	}
	if code, body := get("/events/wandering-stars", "text/html"); code != 200 || !strings.Contains(body, "stalls-A1") {
		t.Fatalf("after admission, the seat map: %d %.200s", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !strings.Contains(out.String(), "/events/") {
		t.Errorf("the demo did not print the URL to open: %q", out.String())
	}
}

// syncWriter lets the demo print while the test reads what it printed.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// String is what was written so far, when w is a bytes.Buffer.
func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.w.(*bytes.Buffer); ok {
		return b.String()
	}
	return ""
}

// testRedisURL is the Redis of the tests: USHER_TEST_REDIS_URL or the local
// one.
func testRedisURL() string {
	if u := os.Getenv("USHER_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// TestGatewayReloadsOnSIGHUP runs `usher gateway`, rewrites its file and
// sends SIGHUP: a good file adds a room, a bad one is refused and the rooms
// stay.
func TestGatewayReloadsOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key.pem")
	if err := run(t.Context(), []string{"keygen", "-out", key}, env(nil), io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	admin := freeAddr(t)
	file := filepath.Join(dir, "gateway.yaml")
	write := func(rooms string) {
		t.Helper()
		cfg := "listen: " + freeAddr(t) + "\nadmin_listen: " + admin + "\norigin: {url: 'http://127.0.0.1:1'}\ntokens: {key_files: [" + key + "]}\nrooms:\n" + rooms
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	room := func(id string) string {
		return "  - {id: " + id + ", paths: ['/" + id + "/*'], rate_per_minute: 10, max_active: 10}\n"
	}
	write(room("one"))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	var logs bytes.Buffer
	logw := &syncWriter{w: &logs}
	go func() {
		done <- run(ctx, []string{"gateway", "-config", file}, env(map[string]string{"USHER_ADMIN_TOKEN": "tok"}), io.Discard, logw)
	}()
	rooms := func() string {
		req, _ := http.NewRequest("GET", "http://"+admin+"/api/rooms", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		var rs []struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&rs)
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		return strings.Join(ids, ",")
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (rooms %q)", what, rooms())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitUntil("the gateway", func() bool { return rooms() == "one" })

	write(room("one") + room("two")) // listen changes too: needs a restart, the rooms do not
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitUntil("the reload", func() bool { return rooms() == "one,two" })

	if err := os.WriteFile(file, []byte("rooms: [oops\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// A refused file changes nothing, and the log says why.
	waitUntil("the refusal", func() bool {
		logw.mu.Lock()
		defer logw.mu.Unlock()
		return strings.Contains(logs.String(), "configuration not reloaded") && strings.Contains(logs.String(), "line 1")
	})
	if got := rooms(); got != "one,two" {
		t.Errorf("after a bad file the rooms are %q", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("gateway: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestDemoInBrowser buys two seats of the demo in a real browser on a
// phone-sized screen, the way a fan does: through the waiting room to the
// seat map, a hold, the provider's card form, and the order page with its
// tickets' QR codes.
func TestDemoInBrowser(t *testing.T) {
	d := startDemo(t, env(nil), "-crowd", "0")

	b := browsertest.New(t, 390, 844)
	bctx := b.Context()
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		for _, a := range actions {
			if _, err := chromedp.Run(bctx, a); err != nil {
				t.Errorf("%s: %v", what, err)
				b.Screenshot("demo-failed")
				t.FailNow()
			}
		}
	}
	// waitFor polls expr, through the page loads that clicks start.
	waitFor := func(what, expr string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](expr))
			if err == nil && ok {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: not seen in 30 s (last error: %v)", what, err)
				b.Screenshot("demo-failed")
				t.FailNow()
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	base := "http://" + d.addr
	step("open the landing page", chromedp.Navigate(base+"/"))
	waitFor("the event list", `document.body.innerText.includes('Wandering Stars')`)
	b.Screenshot("demo-1-events")

	// The seat map is in the room: the queue page first, which lets the fan
	// through by itself.
	step("open the event", chromedp.Navigate(base+"/events/wandering-stars"))
	waitFor("the seat map after the queue", `document.querySelectorAll('circle.a[data-seat]').length > 2`)
	b.Screenshot("demo-2-seatmap")
	step("pick two seats",
		chromedp.Click(chromedp.JSPath(`document.querySelectorAll('circle.a[data-seat]')[0]`)),
		chromedp.Click(chromedp.JSPath(`document.querySelectorAll('circle.a[data-seat]')[1]`)))
	waitFor("the hold button", `!document.getElementById('hold-seats').disabled`)
	step("hold them", chromedp.Click(chromedp.CSS("#hold-seats")))
	waitFor("the hold page", `document.querySelector('[data-page="hold"]') !== null && !document.getElementById('pay').hidden`)
	b.Screenshot("demo-3-hold")

	step("pay", chromedp.Click(chromedp.CSS("#pay-button")))
	waitFor("the card form", `document.getElementById('card') !== null`)
	step("enter the test card",
		chromedp.SendKeys(chromedp.CSS("#card"), "4242 4242 4242 4242"),
		chromedp.SendKeys(chromedp.CSS("#exp"), "12/34"),
		chromedp.SendKeys(chromedp.CSS("#cvc"), "123"),
		chromedp.SendKeys(chromedp.CSS("#name"), "Ann Fan"))
	b.Screenshot("demo-4-card")
	step("submit the card", chromedp.Click(chromedp.CSS("#pay-button")))
	waitFor("the tickets", `(() => {
		const qr = document.querySelectorAll('.tickets img.qr');
		return qr.length === 2 && Array.from(qr).every(i => i.complete && i.naturalWidth > 0);
	})()`)
	b.Screenshot("demo-5-tickets")
}

// TestBookingCommand checks configs/booking.yaml with `usher booking -check`,
// then runs the backend on a SQLite file and reads its catalogue and keys.
func TestBookingCommand(t *testing.T) {
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	passKey, ticketKey := filepath.Join(dir, "pass.pem"), filepath.Join(dir, "ticket.pem")
	for _, k := range []string{passKey, ticketKey} {
		if err := run(t.Context(), []string{"keygen", "-out", k}, env(nil), &out, &errOut); err != nil {
			t.Fatalf("keygen: %v", err)
		}
	}
	vars := map[string]string{
		"USHER_WEBHOOK_SECRET":   "a-secret-of-sixteen-or-more",
		"USHER_TICKET_KEY_FILES": ticketKey,
		"USHER_DATABASE_URL":     "sqlite:" + filepath.Join(dir, "booking.db"),
	}
	// The shipped file names the gateway's jwks_url.
	out.Reset()
	if err := run(t.Context(), []string{"booking", "-check", "-config", filepath.Join("configs", "booking.yaml")}, env(vars), &out, &errOut); err != nil || !strings.Contains(out.String(), "is valid") {
		t.Fatalf("check of configs/booking.yaml: %v %q", err, out.String())
	}
	missing := map[string]string{}
	for k, v := range vars {
		missing[k] = v
	}
	missing["USHER_TICKET_KEY_FILES"] = filepath.Join(dir, "nowhere.pem")
	if err := run(t.Context(), []string{"booking", "-check", "-config", filepath.Join("configs", "booking.yaml")}, env(missing), &out, &errOut); err == nil || !strings.Contains(err.Error(), "tickets.key_files") {
		t.Errorf("a missing ticket key: %v", err)
	}

	cfg := filepath.Join(dir, "booking.yaml")
	if err := os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nadmin_listen: \"\"\ndatabase: {url: \"sqlite:booking.db\"}\ntickets: {key_files: [x]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars["USHER_KEY_FILES"] = passKey
	ctx, cancel := context.WithCancel(t.Context())
	logs := &syncWriter{w: &bytes.Buffer{}}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"booking", "-config", cfg, "-log-format", "json"}, env(vars), io.Discard, logs)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("booking: %v", err)
		}
	}()
	// The address is in the log line that says the backend listens.
	var addr string
	deadline := time.Now().Add(20 * time.Second)
	for addr == "" {
		logs.mu.Lock()
		for line := range strings.SplitSeq(logs.w.(*bytes.Buffer).String(), "\n") {
			var l struct {
				Msg, Addr string
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "booking backend listening" {
				addr = l.Addr
			}
		}
		logs.mu.Unlock()
		if addr == "" {
			select {
			case err := <-done:
				t.Fatalf("booking stopped: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatal("the backend did not start")
			}
		}
	}
	for path, want := range map[string]string{"/api/events": `[]`, "/api/keys": `"keys"`} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
	}

}

// TestDemoOnRealStores: the demo runs on Redis and PostgreSQL when told
// to, seeds the database, and leaves no Redis key behind when it stops.
func TestDemoOnRealStores(t *testing.T) {
	redisURL, pgURL := testRedisURL(), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	rc, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(rc)
	defer client.Close()
	db, err := sql.Open("pgx", pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if client.Ping(t.Context()).Err() != nil || db.PingContext(t.Context()) != nil {
		if os.Getenv("USHER_REQUIRE_SERVICES") != "" {
			t.Fatal("Redis or PostgreSQL is not reachable")
		}
		t.Skip("Redis or PostgreSQL is not reachable; make test starts them")
	}
	schema := "demo_" + strings.ToLower(admission.NewVisitorID()[:10])
	schema = strings.Map(func(r rune) rune {
		if r == '-' {
			return '_'
		}
		return r
	}, schema)
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	ready := make(chan demoAddrs, 1)
	var logs bytes.Buffer
	sw := &syncWriter{w: &logs}
	go func() {
		done <- runDemo(ctx, []string{"-listen", "127.0.0.1:0", "-admin-listen", "127.0.0.1:0", "-booking-admin-listen", "", "-crowd", "2",
			"-redis", redisURL, "-database", pgURL + "&search_path=" + schema}, env(nil), io.Discard, sw, ready)
	}()
	var d demoAddrs
	select {
	case d = <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v\n%s", err, sw.String())
	}
	resp, err := http.Get("http://" + d.addr + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "wandering-stars") {
		t.Errorf("the catalogue from PostgreSQL: %.200s", body)
	}
	var events int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+schema+".events").Scan(&events); err != nil || events == 0 {
		t.Errorf("events in the schema: %d (%v)", events, err)
	}
	// A fan joins, so the queue has keys whatever the crowd has done yet.
	req, _ := http.NewRequest(http.MethodGet, "http://"+d.addr+"/events/", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	req.Header.Set("Accept-Language", "en-GB")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	prefix := regexp.MustCompile(`key_prefix=(usher-demo:[A-Za-z0-9_-]+:)`).FindStringSubmatch(sw.String())
	if prefix == nil {
		t.Fatalf("the demo did not say its Redis key prefix:\n%s", sw.String())
	}
	if n, _ := client.Keys(t.Context(), prefix[1]+"*").Result(); len(n) == 0 {
		t.Error("no queue keys in Redis while the demo runs")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("demo: %v", err)
	}
	if n, _ := client.Keys(t.Context(), prefix[1]+"*").Result(); len(n) != 0 {
		t.Errorf("%d Redis keys left behind: %v", len(n), n)
	}
}

// TestRedisClientModes: the configuration's redis.mode picks the client
// kind, and the URL's credentials reach it.
func TestRedisClientModes(t *testing.T) {
	base := gateway.RedisConfig{URL: "redis://user:pw@127.0.0.1:7000/0", Timeout: config.Duration(time.Second)}
	cluster := base
	cluster.Mode, cluster.Addrs = "cluster", []string{"127.0.0.1:7001"}
	c, where, err := redisClient(cluster)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cc, ok := c.(*goredis.ClusterClient)
	if !ok || where != "127.0.0.1:7000,127.0.0.1:7001" || cc.Options().Password != "pw" || cc.Options().Username != "user" {
		t.Errorf("cluster: %T at %q", c, where)
	}
	sentinel := base
	sentinel.Mode, sentinel.Addrs, sentinel.MasterName = "sentinel", []string{"127.0.0.1:26379"}, "main"
	s, where, err := redisClient(sentinel)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok := s.(*goredis.Client); !ok || where != "main via 127.0.0.1:26379" {
		t.Errorf("sentinel: %T at %q", s, where)
	}
	single, where, err := redisClient(base)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if where != "127.0.0.1:7000 db 0" {
		t.Errorf("single: at %q", where)
	}
}
