package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/usherhq/usher/config"
	queueredis "github.com/usherhq/usher/queue/redis"
)

// ownRedis is a redis-server this test starts on a loopback port of its
// own, keeping its data in an append-only file, so that it can be stopped
// and started again with its data.
type ownRedis struct {
	t    *testing.T
	port int
	dir  string
	cmd  *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed; make test installs it")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &ownRedis{t: t, port: port, dir: t.TempDir()}
	r.start(path)
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) start(path string) {
	r.t.Helper()
	r.cmd = exec.Command(path, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--dir", r.dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	c := r.client()
	defer c.Close()
	waitFor(r.t, "redis-server to answer", func() bool { return c.Ping(r.t.Context()).Err() == nil })
}

// stop shuts the server down as an operator would (SIGTERM: it writes its
// file and exits).
func (r *ownRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_ = r.cmd.Wait()
	r.cmd = nil
}

func (r *ownRedis) client() *goredis.Client {
	return goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.port), MaxRetries: -1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
}

// quietRedisLog drops the Redis client's own log lines.
type quietRedisLog struct{}

func (quietRedisLog) Printf(context.Context, string, ...any) {}

// pollUntil is waitFor for status polls: at about a page's pace near the
// front, not in a tight loop that the status limit would refuse.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitEvery(t, what, 600*time.Millisecond, 30*time.Second, cond)
}

// TestRedisFailure stops Redis in the middle of a sale and starts it again.
// While it is down: a visitor with a pass keeps browsing, a visitor in line
// keeps the place and is told to hold on, readiness fails, a new visitor
// meets a clear page in a room that fails closed and walks in with a pass
// in a room that fails open. When Redis is back, with its data, readiness
// passes and the line moves on from where it was.
func TestRedisFailure(t *testing.T) {
	// The client says every failed dial on its own logger; the test
	// expects them.
	goredis.SetLogger(quietRedisLog{})
	srv := startOwnRedis(t)
	client := srv.client()
	t.Cleanup(func() { client.Close() })
	keys := newKeys(t)
	gateways := map[string][2]string{}
	for _, mode := range []string{"closed", "open"} {
		store, err := queueredis.New(client, queueredis.Options{Prefix: "usher-test:" + mode + ":"})
		if err != nil {
			t.Fatal(err)
		}
		u, admin, _, _ := runGatewayWith(t, func(c *Config) {
			c.Queue.Tick = config.Duration(time.Second)
			c.Rooms[0].MaxActive = 1
			c.Rooms[0].OnStoreFailure = mode
			// The test polls faster than a far place is told to.
			c.Rooms[0].Shield.Allow = []string{"127.0.0.0/8"}
		}, store, keys)
		gateways[mode] = [2]string{u, admin}
	}
	closed := gateways["closed"][0]
	inside, waiting := newBrowser(t), newBrowser(t)
	if resp, body := inside.get(closed + "/events/1"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
		t.Fatalf("first visitor: %d %.80q", resp.StatusCode, body)
	}
	waiting.join(&testGateway{URL: closed})
	pollUntil(t, "the line's view to show the first visitor in", func() bool {
		return waiting.status(&testGateway{URL: closed}).position(t) == 1
	})

	srv.stop()
	for _, gw := range gateways {
		waitFor(t, "readiness to fail", func() bool { return getStatus(t, gw[0]+"/_usher/readyz") == http.StatusServiceUnavailable })
	}
	if resp, body := inside.get(closed + "/events/2"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
		t.Errorf("the visitor with a pass, Redis down: %d %.80q", resp.StatusCode, body)
	}
	var s status
	pollUntil(t, "the line to hold", func() bool {
		s = waiting.status(&testGateway{URL: closed})
		return s.Holding != nil && *s.Holding
	})
	if s.position(t) != 1 || s.Admitted {
		t.Errorf("the visitor in line, Redis down: %+v", s)
	}
	if _, body := waiting.get(closed + "/events/1"); !strings.Contains(body, `role="status">We cannot move the line right now`) {
		t.Errorf("the queue page, Redis down, does not ask to hold on: %.300q", body)
	}
	if resp, body := newBrowser(t).get(closed + "/events/1"); resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "The queue is not available") {
		t.Errorf("a new visitor, failing closed: %d %.200q", resp.StatusCode, body)
	}
	if resp, body := newBrowser(t).get(gateways["open"][0] + "/events/1"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
		t.Errorf("a new visitor, failing open: %d %.200q", resp.StatusCode, body)
	}

	srv.start("redis-server")
	for _, gw := range gateways {
		waitFor(t, "readiness to pass again", func() bool { return getStatus(t, gw[0]+"/_usher/readyz") == http.StatusOK })
	}
	// The line is where it was: room for one more, and the visitor in line
	// is next.
	if code, body := adminCall(t, "PATCH", gateways["closed"][1], "/api/rooms/sale", `{"max_active":2}`); code != 200 {
		t.Fatalf("raise max_active: %d %s", code, body)
	}
	pollUntil(t, "the visitor in line to be admitted", func() bool { return waiting.status(&testGateway{URL: closed}).Admitted })
	if resp, _ := newBrowser(t).get(closed + "/events/1"); resp.StatusCode != 200 {
		t.Errorf("a new visitor after Redis came back: %d", resp.StatusCode)
	}
}

// TestRedisFailover stops Redis in the middle of a sale on two instances
// with failover leases, as a failover would, and starts it again. While it
// is down, each instance goes on admitting the visitors next in line on its
// own, at most its slice of the lease; when Redis is back, it hears of each
// of those admissions once, however often their visitors ask again. With
// the room full, the leases hold nothing, and nobody gets in while Redis is
// down.
func TestRedisFailover(t *testing.T) {
	goredis.SetLogger(quietRedisLog{})
	srv := startOwnRedis(t)
	client := srv.client()
	t.Cleanup(func() { client.Close() })
	keys := newKeys(t)
	const prefix = "usher-test:failover:"
	var gws []*testGateway
	var admins []string
	for range 2 {
		store, err := queueredis.New(client, queueredis.Options{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		u, admin, _, _ := runGatewayWith(t, func(c *Config) {
			c.Queue.Tick = config.Duration(time.Second)
			c.Rooms[0].State = "paused"
			c.Rooms[0].RatePerMinute = 60
			c.Rooms[0].FailoverLease = config.Duration(10 * time.Second)
			c.Rooms[0].Shield.Allow = []string{"127.0.0.0/8"}
		}, store, keys)
		gws = append(gws, &testGateway{URL: u})
		admins = append(admins, admin)
	}
	ctx := t.Context()
	q := prefix + "{sale}:q"
	counter := func(field string) int64 {
		n, _ := client.HGet(ctx, q, field).Int64()
		return n
	}

	// 24 visitors wait in the paused room, every other one on each
	// instance; then the sale opens.
	type fan struct {
		b        *browser
		gw       *testGateway
		admitted bool
	}
	var fans []*fan
	for i := range 24 {
		f := &fan{b: newBrowser(t), gw: gws[i%2]}
		f.b.join(f.gw)
		fans = append(fans, f)
	}
	if code, body := adminCall(t, "POST", admins[0], "/api/rooms/sale/resume", ""); code != 200 {
		t.Fatalf("resume: %d %s", code, body)
	}
	// Each instance renews its lease every tick; within a few they share
	// the room's 10 (60 a minute for 10s) five and five.
	waitFor(t, "the instances to share the lease", func() bool {
		ls, err := client.HGetAll(ctx, prefix+"{sale}:leases").Result()
		if err != nil || len(ls) != 2 {
			return false
		}
		for _, v := range ls {
			if !strings.HasPrefix(v, "5:") {
				return false
			}
		}
		return true
	})
	before := counter("admitted")
	srv.stop()

	// Everyone asks while Redis is down; the leases let ten in, and no
	// more.
	poll := func() int {
		n := 0
		for _, f := range fans {
			if !f.admitted {
				f.admitted = f.b.status(f.gw).Admitted
			}
			if f.admitted {
				n++
			}
		}
		return n
	}
	var during int
	pollUntil(t, "the leases to let ten in while Redis is down", func() bool {
		during = poll()
		return during >= 10
	})
	if during != 10 {
		t.Errorf("%d admitted while Redis was down, want the leases' 10", during)
	}
	time.Sleep(2 * time.Second)
	if n := poll(); n != 10 {
		t.Errorf("%d admitted once the leases were spent, want 10", n)
	}
	perInstance := map[*testGateway]int{}
	for _, f := range fans {
		if f.admitted {
			perInstance[f.gw]++
			if resp, body := f.b.get(f.gw.URL + "/events/2"); resp.StatusCode != 200 || !strings.HasPrefix(body, "origin") {
				t.Errorf("a visitor let in under a lease: %d %.80q", resp.StatusCode, body)
			}
		}
	}
	for _, gw := range gws {
		if perInstance[gw] != 5 {
			t.Errorf("an instance let %d in, want its slice of 5", perInstance[gw])
		}
	}

	// Redis is back: it hears of the ten once.
	srv.start("redis-server")
	pollUntil(t, "Redis to hear of the admissions", func() bool { return counter("admitted") >= before+10 })
	for range 2 {
		for _, f := range fans {
			if f.admitted && !f.b.status(f.gw).Admitted {
				t.Errorf("a visitor let in under a lease lost the admission")
			}
		}
	}
	time.Sleep(2 * time.Second)
	if got := counter("admitted"); got != before+10 {
		t.Errorf("Redis counts %d admissions, want %d: the ten once each", got, before+10)
	}
	if served := counter("served"); served < 10 {
		t.Errorf("the frontier is at %d after the leases' admissions", served)
	}

	// With the room full, the leases keep nothing and nobody gets in
	// while Redis is down.
	active, _ := client.ZCard(ctx, prefix+"{sale}:active").Result()
	if code, body := adminCall(t, "PATCH", admins[0], "/api/rooms/sale", fmt.Sprintf(`{"max_active":%d}`, active)); code != 200 {
		t.Fatalf("lower max_active: %d %s", code, body)
	}
	waitFor(t, "the leases to hold nothing", func() bool {
		ls, err := client.HGetAll(ctx, prefix+"{sale}:leases").Result()
		if err != nil || len(ls) != 2 {
			return false
		}
		for _, v := range ls {
			if !strings.HasPrefix(v, "0:") {
				return false
			}
		}
		return true
	})
	admittedBefore := poll()
	srv.stop()
	time.Sleep(3 * time.Second)
	if n := poll(); n != admittedBefore {
		t.Errorf("%d visitors got in while Redis was down with the room full, want none", n-admittedBefore)
	}
	srv.start("redis-server")
}
