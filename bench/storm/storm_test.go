package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	goredis "github.com/redis/go-redis/v9"

	"github.com/usherhq/usher/bench/storm/report"
)

// Where the small storm finds its services, as make test starts them.
const (
	stormPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	stormRedis    = "redis://127.0.0.1:6379/0"
)

// servicesOrSkip opens PostgreSQL and checks Redis; without them the test
// skips, unless USHER_REQUIRE_SERVICES says they must be there.
func servicesOrSkip(t *testing.T) *sql.DB {
	t.Helper()
	redisURL := stormRedis
	if u := os.Getenv("USHER_TEST_REDIS_URL"); u != "" {
		redisURL = u
	}
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	defer rdb.Close()
	db, err := sql.Open("pgx", stormPostgres)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if rdb.Ping(t.Context()).Err() != nil || db.PingContext(t.Context()) != nil {
		if os.Getenv("USHER_REQUIRE_SERVICES") != "" {
			t.Fatal("Redis or PostgreSQL is not reachable, and USHER_REQUIRE_SERVICES is set")
		}
		t.Skip("Redis (127.0.0.1:6379) or PostgreSQL (127.0.0.1:5432) is not reachable; make test starts them")
	}
	return db
}

// freePorts returns n loopback addresses nobody listens on right now.
func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return out
}

// TestSmallStorm plays 2,000 fans and 500 bots against `usher demo` on
// Redis and PostgreSQL and asserts the invariants only: nothing oversold,
// no double charge, no paid order without tickets nor ticket without a
// paid order, never more passes live than max_active. Timings are logged,
// never asserted.
func TestSmallStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("the small storm takes about two minutes")
	}
	db := servicesOrSkip(t)
	dir := t.TempDir()

	bin := filepath.Join(dir, "usher")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/usherhq/usher")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build usher: %v\n%s", err, out)
	}

	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "storm_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })

	redisURL := stormRedis
	if u := os.Getenv("USHER_TEST_REDIS_URL"); u != "" {
		redisURL = u
	}
	token := hex.EncodeToString(b[:]) + "-storm-token"
	ports := freePorts(t, 4)
	fansAddr, adminAddr, bookingAdminAddr, originAddr := ports[0], ports[1], ports[2], ports[3]
	demoLog := &lockedBuffer{}
	demo := exec.Command(bin, "demo", "-listen", fansAddr, "-admin-listen", adminAddr, "-booking-admin-listen", bookingAdminAddr, "-booking-listen", originAddr,
		"-crowd", "0", "-redis", redisURL, "-database", stormPostgres+"&search_path="+schema, "-log-level", "warn")
	demo.Env = append(os.Environ(), "USHER_ADMIN_TOKEN="+token)
	demo.Stdout, demo.Stderr = demoLog, demoLog
	if err := demo.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = demo.Wait(); close(exited) }()
	stopDemo := func() {
		// On an interrupt the demo drops its Redis keys before it exits.
		_ = demo.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = demo.Process.Kill()
			<-exited
			t.Errorf("the demo did not stop within 30s of an interrupt")
		}
	}
	defer stopDemo()
	waitReady(t, "http://"+fansAddr+"/_usher/readyz", exited, func() error { return waitErr }, demoLog)

	jsonOut := filepath.Join(dir, "storm.json")
	var out, errs bytes.Buffer
	started := time.Now()
	err := run(t.Context(), []string{
		"-target", "http://" + fansAddr, "-admin", "http://" + adminAddr, "-booking-admin", "http://" + bookingAdminAddr,
		"-token", token, "-origin", "http://" + originAddr, "-fans", "2000", "-bots", "500", "-burst", "10s", "-tail", "20s",
		"-duration", "80s", "-settle", "20s", "-rate", "12000", "-max-active", "1200",
		"-exclusive", "-seed", "1", "-json", jsonOut,
	}, func(string) string { return "" }, &out, &errs)
	t.Logf("the storm took %s\n%s", time.Since(started).Round(time.Second), out.String())
	if err != nil && !errors.Is(err, errViolations) {
		t.Fatalf("storm: %v\n%s", err, errs.String())
	}

	raw, rerr := os.ReadFile(jsonOut)
	if rerr != nil {
		t.Fatal(rerr)
	}
	var res report.Results
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("the JSON report: %v", err)
	}
	for _, v := range res.Violations {
		t.Errorf("invariant broken: %s", v)
	}
	if errors.Is(err, errViolations) != (len(res.Violations) > 0) {
		t.Errorf("run's error %v does not match the violations %q", err, res.Violations)
	}
	// The invariants are only worth checking on a storm that sold something.
	if res.FansAdmitted == 0 || res.TicketsSold == 0 || res.Capacity == 0 {
		t.Errorf("the storm sold nothing: %d fans admitted, %d of %d places sold", res.FansAdmitted, res.TicketsSold, res.Capacity)
	}
	if res.Oversold != 0 || res.DoubleCharges != 0 || res.PaidWithoutTickets != 0 || res.TicketsWithoutPayment != 0 {
		t.Errorf("oversold %d, double charges %d, paid without tickets %d, tickets without payment %d",
			res.Oversold, res.DoubleCharges, res.PaidWithoutTickets, res.TicketsWithoutPayment)
	}
	if res.MaxActive != 1200 || res.MaxActiveSeen > res.MaxActive {
		t.Errorf("max_active %d (set 1200), at most %d passes seen live", res.MaxActive, res.MaxActiveSeen)
	}
	if res.Fans != 2000 || res.Bots != 500 || res.BotRequests == 0 {
		t.Errorf("played %d fans, %d bots, %d bot requests", res.Fans, res.Bots, res.BotRequests)
	}
	if t.Failed() {
		t.Logf("demo log (tail):\n%s", tail(demoLog.String(), 4000))
	}
}

// waitReady polls the gateway's readiness until it answers 200, for at
// most a minute, or fails when the demo exits first.
func waitReady(t *testing.T, url string, exited <-chan struct{}, waitErr func() error, log *lockedBuffer) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("the demo exited before it was ready: %v\n%s", waitErr(), log.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("the demo was not ready within a minute\n%s", log.String())
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// lockedBuffer is a buffer a child process writes to while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
