package gateway

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/queue/memory"
)

// limitedGateway serves a paused room (nobody is admitted on joining) whose
// limits are set by limits, on the memory store.
func limitedGateway(t *testing.T, limits LimitsConfig, cfg func(*Config)) (*testGateway, *clock, *origin) {
	t.Helper()
	clk := newClock()
	o := newOrigin(t, nil)
	g, _ := startGateway(t, gatewaySetup{keys: newKeys(t), clock: clk, origin: o.URL, store: memory.New(memory.Options{Now: clk.Now}),
		room: func(r *RoomConfig) { r.State, r.Limits = "paused", limits }, cfg: cfg})
	return g, clk, o
}

func (g *testGateway) limited(limit string) float64 {
	return testutil.ToFloat64(g.metrics.rateLimited.WithLabelValues("sale", limit))
}

// TestJoinLimit: a client that joins again and again without cookies, as a
// bot does, is refused past its burst with 429 and Retry-After, as a page or
// as JSON; its bucket refills with time; other clients join meanwhile.
func TestJoinLimit(t *testing.T) {
	// The bot score would challenge a client that joins this often without
	// cookies; this test is about the limit alone.
	g, clk, _ := limitedGateway(t, LimitsConfig{Join: LimitConfig{PerMinute: 60, Burst: 3}}, func(c *Config) {
		c.Rooms[0].Shield.ChallengeAt, c.Rooms[0].Shield.BlockAt = 0, 0
	})
	addr := net.IPv4(127, 9, 0, 1)
	for i := range 3 {
		resp, body := newBrowserFrom(t, addr).get(g.URL + "/events/1")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "in line") {
			t.Fatalf("join %d: %d", i+1, resp.StatusCode)
		}
	}
	resp, body := newBrowserFrom(t, addr).get(g.URL + "/events/1")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || !strings.Contains(body, "Too many requests") {
		t.Fatalf("fourth join: %d, Retry-After %q, %.80q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if cookies := resp.Header.Values("Set-Cookie"); len(cookies) != 0 {
		t.Errorf("a refused join got cookies: %v", cookies)
	}
	resp, body = newBrowserFrom(t, addr).get(g.URL+"/events/1", "Accept", "application/json")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, `"status":429`) {
		t.Errorf("as JSON: %d %s", resp.StatusCode, body)
	}
	if got := g.limited("join"); got != 2 {
		t.Errorf("usher_rate_limited_total{limit=join} = %v, want 2", got)
	}
	// Someone else is not held back by that client.
	newBrowser(t).join(g)
	// One token a second comes back.
	clk.Add(time.Second)
	newBrowserFrom(t, addr).join(g)
	// A fan with a ticket is not joining: page loads with it do not count
	// against the join limit.
	fan := newBrowserFrom(t, net.IPv4(127, 9, 0, 3))
	for range 6 {
		fan.join(g)
	}
}

// TestStatusLimit: polls past the burst answer 429 with Retry-After, which
// the queue page obeys; the place is kept.
func TestStatusLimit(t *testing.T) {
	g, clk, _ := limitedGateway(t, LimitsConfig{Status: LimitConfig{PerMinute: 30, Burst: 2}}, nil)
	fan := newBrowser(t)
	fan.join(g)
	before := fan.status(g).position(t)
	fan.status(g)
	resp, _ := fan.get(g.URL+"/_usher/status?room=sale", "Accept", "application/json")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("third poll: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.Add(2 * time.Second)
	if p := fan.status(g).position(t); p != before {
		t.Errorf("position %d after the refusal, was %d", p, before)
	}
	if got := g.limited("status"); got != 1 {
		t.Errorf("usher_rate_limited_total{limit=status} = %v, want 1", got)
	}
}

// TestAdmittedLimit: requests with a pass past the burst are refused before
// they reach the origin.
func TestAdmittedLimit(t *testing.T) {
	g, _, o := limitedGateway(t, LimitsConfig{Admitted: LimitConfig{PerMinute: 60, Burst: 5}}, nil)
	setState(t, g.Gateway, "sale", admission.StateOpen)
	g.tick(t)
	fan := newBrowser(t)
	if resp, body := fan.get(g.URL + "/events/1"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "origin /events/1") {
		t.Fatalf("admitted on joining: %d %.80q", resp.StatusCode, body)
	}
	// The join was not a request with a pass; the next five are.
	_, _, hits := o.lastRequest()
	for i := range 5 {
		if resp, _ := fan.get(g.URL + "/events/1"); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d with the pass: %d", i+1, resp.StatusCode)
		}
	}
	resp, _ := fan.get(g.URL + "/events/1")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the sixth request with the pass: %d", resp.StatusCode)
	}
	if _, _, after := o.lastRequest(); after != hits+5 {
		t.Errorf("the origin saw %d requests after the join, want 5", after-hits)
	}
}

// TestLimitsCountIPv6By64: behind a trusted proxy, two addresses in one
// IPv6 /64 are one client; another /64 is another.
func TestLimitsCountIPv6By64(t *testing.T) {
	g, _, _ := limitedGateway(t, LimitsConfig{Join: LimitConfig{PerMinute: 1, Burst: 1}},
		func(c *Config) { c.TrustedProxies = []string{"127.0.0.0/8"} })
	join := func(xff string) int {
		resp, _ := newBrowser(t).get(g.URL+"/events/1", "X-Forwarded-For", xff)
		return resp.StatusCode
	}
	for _, c := range []struct {
		xff  string
		want int
	}{
		{"2001:db8:1:2::1", http.StatusOK},
		{"2001:db8:1:2:ffff::9", http.StatusTooManyRequests}, // the same /64
		{"2001:db8:1:3::1", http.StatusOK},                   // the next /64
		{"198.51.100.7", http.StatusOK},
		{"::ffff:198.51.100.7", http.StatusTooManyRequests}, // the same IPv4 client
	} {
		if got := join(c.xff); got != c.want {
			t.Errorf("X-Forwarded-For %s: %d, want %d", c.xff, got, c.want)
		}
	}
}

// TestReloadKeepsBuckets: a reload with the same limits keeps what clients
// have used; new limits start afresh.
func TestReloadKeepsBuckets(t *testing.T) {
	limits := LimitsConfig{Join: LimitConfig{PerMinute: 1, Burst: 1}}
	g, _, _ := limitedGateway(t, limits, nil)
	addr := net.IPv4(127, 9, 0, 2)
	newBrowserFrom(t, addr).join(g)
	reload := func(l LimitsConfig) {
		cfg := *g.cfg
		cfg.Rooms = append([]RoomConfig(nil), cfg.Rooms...)
		cfg.Rooms[0].Limits = l
		g.Reload(&cfg)
	}
	reload(limits)
	if resp, _ := newBrowserFrom(t, addr).get(g.URL + "/events/1"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("after a reload with the same limits: %d, want 429", resp.StatusCode)
	}
	reload(LimitsConfig{Join: LimitConfig{PerMinute: 2, Burst: 1}})
	newBrowserFrom(t, addr).join(g)
}

// TestMaxConnsPerIP: a client past server.max_conns_per_ip is turned away;
// another address is not.
func TestMaxConnsPerIP(t *testing.T) {
	g, _, _ := limitedGateway(t, LimitsConfig{}, func(c *Config) { c.Server.MaxConnsPerIP = 2 })
	host := strings.TrimPrefix(g.URL, "http://")
	dial := func(from net.IP) (net.Conn, *bufio.Reader) {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: from}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	get := func(c net.Conn, r *bufio.Reader) (int, error) {
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(c, "GET /about HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	one := net.IPv4(127, 9, 1, 1)
	for i := range 2 {
		c, r := dial(one)
		if code, err := get(c, r); err != nil || code != http.StatusOK {
			t.Fatalf("connection %d: %d %v", i+1, code, err)
		}
	}
	c, r := dial(one)
	if code, err := get(c, r); err == nil && code == http.StatusOK {
		t.Error("a third connection from one address was served")
	}
	c, r = dial(net.IPv4(127, 9, 1, 2))
	if code, err := get(c, r); err != nil || code != http.StatusOK {
		t.Errorf("another address: %d %v", code, err)
	}
}

// TestSlowloris: many connections that send their headers a byte at a time
// do not keep fans from being served, and are cut off at the read timeout.
func TestSlowloris(t *testing.T) {
	g, _, _ := limitedGateway(t, LimitsConfig{}, func(c *Config) { c.Server.ReadTimeout = config.Duration(2 * time.Second) })
	host := strings.TrimPrefix(g.URL, "http://")
	const slow = 300
	conns := make([]net.Conn, 0, slow)
	for i := range slow {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 10, byte(i/250), byte(1+i%250))}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", host)
		if err != nil {
			t.Fatalf("slow connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte("GET /events/1 HTTP/1.1\r\nHost: ")); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The slow clients trickle on while fans come and go.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			for _, c := range conns {
				_, _ = c.Write([]byte("x"))
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	for range 20 {
		fan := newBrowser(t)
		fan.client.Timeout = 5 * time.Second
		fan.join(g)
	}
	close(stop)
	wg.Wait()
	// Past the read timeout the server has closed every slow connection.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("slow connection %d is still open 10s later", i)
				}
				break
			}
		}
	}
}

// TestGlobalJoinLimit: the room's join throttle is shared by every instance
// on one store, whatever the addresses: past it newcomers get 429 with
// Retry-After, fans already in line are not touched, and it refills.
func TestGlobalJoinLimit(t *testing.T) {
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			clk := newClock()
			o := newOrigin(t, nil)
			keys := newKeys(t)
			var gws []*testGateway
			for range 2 {
				g, _ := startGateway(t, gatewaySetup{keys: keys, clock: clk, origin: o.URL, store: kind.open(t, clk.Now),
					room: func(r *RoomConfig) {
						r.State = "paused"
						r.Limits.JoinGlobal = LimitConfig{PerMinute: 6, Burst: 3}
					}})
				gws = append(gws, g)
			}
			first := newBrowser(t)
			first.join(gws[0])
			newBrowser(t).join(gws[1])
			newBrowser(t).join(gws[0])
			resp, body := newBrowser(t).get(gws[1].URL + "/events/1")
			if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "10" || !strings.Contains(body, "arriving at once") {
				t.Fatalf("fourth newcomer: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if got := gws[1].limited("join_global"); got != 1 {
				t.Errorf("usher_rate_limited_total{limit=join_global} = %v, want 1", got)
			}
			// Someone in line keeps their place.
			if p := first.status(gws[1]).position(t); p != 1 {
				t.Errorf("the first fan is at %d", p)
			}
			first.join(gws[1])
			clk.Add(10 * time.Second)
			newBrowser(t).join(gws[1])
		})
	}
}
