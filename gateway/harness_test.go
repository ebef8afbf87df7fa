package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
	queueredis "github.com/usherhq/usher/queue/redis"
)

// clock is the fake clock the tests move by hand.
type clock = queuetest.Clock

func newClock() *clock { return queuetest.NewClock(queuetest.Start) }

// storeKind makes stores of one kind. Stores opened within one (sub)test
// share their data, as gateway instances share one Redis; each test has data
// of its own.
type storeKind struct {
	name string
	open func(t *testing.T, now func() time.Time) queue.Store
}

// storeKinds are the memory store (one object shared in the process, which
// is how two gateways in one test share it) and the real Redis.
func storeKinds(t *testing.T) []storeKind {
	t.Helper()
	var mem, prefixes sync.Map // *testing.T -> *memory.Store, key prefix
	return []storeKind{
		{name: "memory", open: func(t *testing.T, now func() time.Time) queue.Store {
			s, _ := mem.LoadOrStore(t, memory.New(memory.Options{Now: now}))
			return nopCloser{s.(*memory.Store)}
		}},
		{name: "redis", open: func(t *testing.T, now func() time.Time) queue.Store {
			t.Helper()
			client := redisClient(t)
			p, loaded := prefixes.LoadOrStore(t, "usher-test:"+randomHex(6)+":")
			prefix := p.(string)
			if !loaded {
				t.Cleanup(func() { deleteKeys(t, client, prefix) })
			}
			s, err := queueredis.New(client, queueredis.Options{Prefix: prefix, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
}

// nopCloser keeps a shared memory store open when one gateway closes it.
type nopCloser struct{ queue.Store }

func (nopCloser) Close() error { return nil }

func redisClient(t *testing.T) *goredis.Client {
	t.Helper()
	url := os.Getenv("USHER_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("USHER_TEST_REDIS_URL: %v", err)
	}
	c := goredis.NewClient(opts)
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("redis at %s does not answer (make test starts one): %v", url, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func deleteKeys(t *testing.T, c *goredis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("delete test keys: %v", err)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// origin is a test site that records what reached it.
type origin struct {
	*httptest.Server
	mu   sync.Mutex
	last *http.Request
	body []byte
	hits int
}

func newOrigin(t *testing.T, routes func(mux *http.ServeMux)) *origin {
	t.Helper()
	o := &origin{}
	mux := http.NewServeMux()
	if routes != nil {
		routes(mux)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "origin "+r.URL.RequestURI())
	})
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		o.mu.Lock()
		o.last, o.body = r.Clone(context.Background()), body
		o.hits++
		o.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (o *origin) lastRequest() (*http.Request, []byte, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last, o.body, o.hits
}

// testGateway is a gateway serving on a loopback port, ticked by hand.
type testGateway struct {
	*Gateway
	URL string
}

type gatewaySetup struct {
	keys   *admission.KeySet
	store  queue.Store
	clock  *clock
	origin string
	room   func(*RoomConfig)
	cfg    func(*Config)
}

func testConfig(originURL string, room func(*RoomConfig)) *Config {
	cfg := DefaultConfig()
	cfg.Listen, cfg.AdminListen, cfg.PlainHTTP = "127.0.0.1:0", "", true
	cfg.Origin.URL = originURL
	cfg.Tokens.KeyFiles = []string{"(test)"}
	cfg.Queue.Tick = config.Duration(10 * time.Second)
	rc := DefaultRoom()
	rc.ID, rc.Paths = "sale", []string{"/events/*", "/api/*"}
	rc.RatePerMinute, rc.MaxActive = 60, 1000
	if room != nil {
		room(&rc)
	}
	cfg.Rooms = []RoomConfig{rc}
	return &cfg
}

// startGateway serves a gateway on 127.0.0.1 until the test ends (or stop is
// called), without its tick loop: tests call Tick.
func startGateway(t *testing.T, s gatewaySetup) (*testGateway, func()) {
	t.Helper()
	cfg := testConfig(s.origin, s.room)
	if s.cfg != nil {
		s.cfg(cfg)
	}
	checked, err := CheckConfig(*cfg, func(string) string { return "" })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	now := time.Now // a setup without a clock runs on the real one
	if s.clock != nil {
		now = s.clock.Now
	}
	g, err := New(checked, Options{Store: s.store, Keys: s.keys, Now: now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	url, stop := serveFans(t, g)
	tg := &testGateway{Gateway: g, URL: url}
	tg.tick(t)
	return tg, stop
}

// serveFans serves g's fans listener on 127.0.0.1 until the test ends (or
// stop is called), without the tick loop.
func serveFans(t *testing.T, g *Gateway) (url string, stop func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := g.server()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = srv.Shutdown()
			// A Shutdown that comes before Serve has taken the listener
			// does not stop it; closing the listener does.
			_ = ln.Close()
			<-done
			g.cancel()
		})
	}
	t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

func (g *testGateway) tick(t *testing.T) {
	t.Helper()
	if err := g.ctrl.Tick(t.Context()); err != nil {
		t.Fatalf("tick: %v", err)
	}
}

func newKeys(t testing.TB) *admission.KeySet {
	t.Helper()
	k, err := admission.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return admission.NewKeySet(k)
}

// browserUA is the User-Agent of the test browsers: a phone's Chrome.
const browserUA = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"

// browser is one visitor's browser: a cookie jar shared by all its tabs.
type browser struct {
	t      *testing.T
	client *http.Client
}

// browsers counts the browsers made, to give each an address of its own.
var browsers atomic.Uint32

// newBrowser makes a browser that connects from an address of its own in
// 127.0.0.0/8, as fans come from their own networks: the per-client rate
// limits then count each browser apart.
func newBrowser(t *testing.T) *browser {
	n := browsers.Add(1)
	return newBrowserFrom(t, net.IPv4(127, 1+byte(n>>16), byte(n>>8), byte(n)))
}

// newBrowserFrom makes a browser that connects from addr.
func newBrowserFrom(t *testing.T, addr net.IP) *browser {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: addr}, Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &browser{t: t, client: &http.Client{
		Jar:           jar,
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) get(url string, header ...string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	// A browser's headers, so that the bot score has nothing to hold
	// against a fan; tests of the score send others.
	req.Header.Set("User-Agent", browserUA)
	req.Header.Set("Accept-Language", "en-GB,en;q=0.9")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, string(body)
}

// setState changes a room's state as an operator does.
func setState(t testing.TB, g *Gateway, room string, state admission.State) {
	t.Helper()
	_, _, problems, err := g.ctrl.Room(room).Change(context.Background(), admission.Actor{Who: "test", Via: "token"}, "test",
		func(p admission.Policy) (admission.Policy, []admission.FieldProblem) {
			p.State = state
			return p, nil
		})
	if err != nil {
		t.Fatalf("set state %s: %v %v", state, err, problems)
	}
}
