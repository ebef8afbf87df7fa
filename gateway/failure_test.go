package gateway

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
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
	fans := lineUp(t, gws, admins[0], 24)
	// Each instance renews its lease every tick; within a few they share
	// the room's 10 (60 a minute for 10s) five and five.
	waitFor(t, "the instances to share the lease", leasesHold(t, client, prefix, 5))
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
	waitFor(t, "the leases to hold nothing", leasesHold(t, client, prefix, 0))
	admittedBefore := poll()
	srv.stop()
	time.Sleep(3 * time.Second)
	if n := poll(); n != admittedBefore {
		t.Errorf("%d visitors got in while Redis was down with the room full, want none", n-admittedBefore)
	}
	srv.start("redis-server")
}

// freePort is a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess runs a redis-server with args until the test ends.
func startProcess(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server %v: %v", args, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
}

// TestSentinelFailover runs a sale on two instances over Redis Sentinel
// (a master, a replica and a sentinel, started by the test) and fails the
// master over to the replica in the middle of it. The instances follow the
// new master, the line goes on, every fan gets in, and the new master
// counts each admission once, within max_active.
func TestSentinelFailover(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed; make test installs it")
	}
	goredis.SetLogger(quietRedisLog{})
	master, replica, sentinel := freePort(t), freePort(t), freePort(t)
	common := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"}
	startProcess(t, append([]string{"--port", strconv.Itoa(master), "--dir", t.TempDir()}, common...)...)
	startProcess(t, append([]string{"--port", strconv.Itoa(replica), "--dir", t.TempDir(), "--replicaof", "127.0.0.1", strconv.Itoa(master)}, common...)...)
	dir := t.TempDir()
	conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor main 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds main 1000\nsentinel failover-timeout main 10000\n", sentinel, dir, master)
	if err := os.WriteFile(dir+"/sentinel.conf", []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, dir+"/sentinel.conf", "--sentinel", "--loglevel", "warning")

	sc := goredis.NewSentinelClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(sentinel)})
	t.Cleanup(func() { sc.Close() })
	ctx := t.Context()
	masterAddr := func() string {
		a, err := sc.GetMasterAddrByName(ctx, "main").Result()
		if err != nil || len(a) != 2 {
			return ""
		}
		return a[0] + ":" + a[1]
	}
	waitFor(t, "the sentinel to watch the master", func() bool { return masterAddr() == "127.0.0.1:"+strconv.Itoa(master) })
	mc := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(master)})
	t.Cleanup(func() { mc.Close() })
	waitFor(t, "the replica to be in sync", func() bool {
		info, err := mc.Info(ctx, "replication").Result()
		return err == nil && strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online")
	})

	newClient := func() *goredis.Client {
		return goredis.NewFailoverClient(&goredis.FailoverOptions{
			MasterName: "main", SentinelAddrs: []string{"127.0.0.1:" + strconv.Itoa(sentinel)},
			DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		})
	}
	const prefix = "usher-test:sentinel:"
	keys := newKeys(t)
	var gws []*testGateway
	var admins []string
	for range 2 {
		client := newClient()
		t.Cleanup(func() { client.Close() })
		store, err := queueredis.New(client, queueredis.Options{Prefix: prefix, Replicas: 1})
		if err != nil {
			t.Fatal(err)
		}
		u, admin, _, _ := runGatewayWith(t, func(c *Config) {
			c.Queue.Tick = config.Duration(time.Second)
			c.Rooms[0].State = "paused"
			c.Rooms[0].RatePerMinute = 120
			c.Rooms[0].MaxActive = 20
			c.Rooms[0].FailoverLease = config.Duration(10 * time.Second)
			c.Rooms[0].Shield.Allow = []string{"127.0.0.0/8"}
		}, store, keys)
		gws = append(gws, &testGateway{URL: u})
		admins = append(admins, admin)
	}
	fans := lineUp(t, gws, admins[0], 30)
	poll := func() int {
		n := 0
		for _, f := range fans {
			if !f.admitted {
				resp, body := f.b.get(f.gw.URL+"/_usher/status?room=sale", "Accept", "application/json")
				f.admitted = resp.StatusCode == 200 && strings.Contains(body, `"admitted":true`)
			}
			if f.admitted {
				n++
			}
		}
		return n
	}
	pollUntil(t, "the first fans to get in", func() bool { return poll() >= 5 })

	waitFor(t, "the sentinel to know the replica", func() bool {
		rs, err := sc.Replicas(ctx, "main").Result()
		if err != nil || len(rs) != 1 {
			return false
		}
		return rs[0]["master-link-status"] == "ok" && !strings.Contains(rs[0]["flags"], "down")
	})
	if err := sc.Failover(ctx, "main").Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER: %v", err)
	}
	waitFor(t, "the replica to become the master", func() bool { return masterAddr() == "127.0.0.1:"+strconv.Itoa(replica) })
	// max_active is 20 and sessions last ten minutes: twenty fans get in.
	pollUntil(t, "twenty fans to get in across the failover", func() bool { return poll() >= 20 })
	time.Sleep(3 * time.Second)
	got := poll()
	if got != 20 {
		t.Errorf("%d fans got in with max_active 20", got)
	}
	nc := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:" + strconv.Itoa(replica)})
	t.Cleanup(func() { nc.Close() })
	admitted, err := nc.HGet(ctx, prefix+"{sale}:q", "admitted").Int64()
	if err != nil || admitted != int64(got) {
		t.Errorf("the new master counts %d admissions (%v) for %d fans let in", admitted, err, got)
	}
	if active, err := nc.ZCard(ctx, prefix+"{sale}:active").Result(); err != nil || active > 20 {
		t.Errorf("the new master holds %d live admissions (%v), more than max_active 20", active, err)
	}
}

// lineFan is a fan in line on one of several instances.
type lineFan struct {
	b        *browser
	gw       *testGateway
	admitted bool
}

// lineUp has n fans join the paused room "sale", every other one on each
// instance, then opens the sale through the admin listener admin.
func lineUp(t *testing.T, gws []*testGateway, admin string, n int) []*lineFan {
	t.Helper()
	var fans []*lineFan
	for i := range n {
		f := &lineFan{b: newBrowser(t), gw: gws[i%len(gws)]}
		f.b.join(f.gw)
		fans = append(fans, f)
	}
	if code, body := adminCall(t, "POST", admin, "/api/rooms/sale/resume", ""); code != 200 {
		t.Fatalf("resume: %d %s", code, body)
	}
	return fans
}

// leasesHold reports whether room sale has two leases in Redis under
// prefix, each of n admissions.
func leasesHold(t *testing.T, client *goredis.Client, prefix string, n int) func() bool {
	return func() bool {
		ls, err := client.HGetAll(t.Context(), prefix+"{sale}:leases").Result()
		if err != nil || len(ls) != 2 {
			return false
		}
		for _, v := range ls {
			if !strings.HasPrefix(v, strconv.Itoa(n)+":") {
				return false
			}
		}
		return true
	}
}
