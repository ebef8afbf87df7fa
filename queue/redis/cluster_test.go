package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/queuetest"
	"github.com/usherhq/usher/queue/redis"
)

// clusterBusOffset is how far above its client port a Cluster node listens
// for the other nodes, unless told otherwise.
const clusterBusOffset = 10000

// clusterWait bounds every wait for the cluster's servers: it is not a speed
// the test counts on, only how long it gives up after.
const clusterWait = 10 * time.Second

// TestCluster runs the store unchanged on a Redis Cluster of three masters,
// which it starts on loopback ports and throws away afterwards: the whole
// conformance suite, and a check that a room's keys keep to one slot while
// rooms spread over the masters.
func TestCluster(t *testing.T) {
	cl := startCluster(t, 3)

	t.Run("conformance", func(t *testing.T) {
		queuetest.Run(t, cl.newStore, cl.peer)
	})

	t.Run("a room keeps to one slot and rooms spread over the masters", func(t *testing.T) {
		testClusterSlots(t, cl)
	})
}

// testClusterSlots touches every kind of key in twenty rooms, then reads
// back from every master where each key landed.
func testClusterSlots(t *testing.T, cl *redisCluster) {
	c := cl.client(t)
	prefix := randomPrefix()
	clock := queuetest.NewClock(queuetest.Start)
	s, err := redis.New(c, redis.Options{Prefix: prefix, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	const rooms = 20
	// The names, not the random prefix, decide the slots, so the spread
	// over the masters is the same on every run.
	var names []string
	for i := range rooms {
		names = append(names, fmt.Sprintf("room-%d", i+1))
	}
	rotate := queue.RotateLimits{Grace: 5 * time.Second, Cooldown: time.Minute, TTL: time.Hour}
	for _, room := range names {
		for range 3 {
			if _, err := s.Join(ctx, room, queue.Limits{}); err != nil {
				t.Fatalf("join %s: %v", room, err)
			}
		}
		if _, err := s.Advance(ctx, room, lim); err != nil {
			t.Fatalf("advance %s: %v", room, err)
		}
		if _, err := s.Claim(ctx, room, 1, lim); err != nil {
			t.Fatalf("claim in %s: %v", room, err)
		}
		if _, err := s.SavePolicy(ctx, room, queue.Policy{Data: []byte("{}")}, 0, []byte("saved")); err != nil {
			t.Fatalf("save policy of %s: %v", room, err)
		}
		if _, _, err := s.Throttle(ctx, room, "join", 6, 3); err != nil {
			t.Fatalf("throttle %s: %v", room, err)
		}
		if _, err := s.Mark(ctx, room, "seen", "k", time.Minute); err != nil {
			t.Fatalf("mark in %s: %v", room, err)
		}
		if _, err := s.Bind(ctx, room, "account", "a1", "1", time.Minute); err != nil {
			t.Fatalf("bind in %s: %v", room, err)
		}
		if _, err := s.Rotate(ctx, room, "v1", 0, rotate); err != nil {
			t.Fatalf("rotate in %s: %v", room, err)
		}
	}

	found, err := scanMasters(ctx, c, prefix)
	if err != nil {
		t.Fatalf("scan the masters: %v", err)
	}

	// Every kind of key the store writes, so that a key which escaped the
	// hash tag would be missed nowhere.
	want := []string{
		"active", "audit", "bind:account:a1", "claimed", "gen:v1", "left",
		"marks:seen", "offers", "policy", "q", "throttle:join",
	}
	type home struct {
		slot   int64
		master string
	}
	homes := map[string]home{}        // room -> where its first key is
	suffixes := map[string][]string{} // room -> names of its keys
	for key, master := range found {
		room, name, ok := splitKey(prefix, key)
		if !ok {
			t.Errorf("key %s on %s is not of the form %s{room}:name", key, master, prefix)
			continue
		}
		suffixes[room] = append(suffixes[room], name)
		slot, err := c.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			t.Fatalf("CLUSTER KEYSLOT %s: %v", key, err)
		}
		h, seen := homes[room]
		if !seen {
			homes[room] = home{slot, master}
			continue
		}
		if slot != h.slot || master != h.master {
			t.Errorf("room %s: key %s is on slot %d of %s, another of its keys on slot %d of %s",
				room, key, slot, master, h.slot, h.master)
		}
	}
	for _, room := range names {
		got := suffixes[room]
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("room %s has keys %q, want %q", room, got, want)
		}
	}

	slots, masters := map[int64]bool{}, map[string]int{}
	for _, h := range homes {
		slots[h.slot] = true
		masters[h.master]++
	}
	t.Logf("%d rooms on %d slots, per master: %v", len(homes), len(slots), masters)
	if len(slots) < 2 || len(masters) != len(cl.addrs) {
		t.Errorf("%d rooms landed on %d slots of %d masters, want them spread over all %d", len(homes), len(slots), len(masters), len(cl.addrs))
	}
}

// splitKey parses prefix{room}:name.
func splitKey(prefix, key string) (room, name string, ok bool) {
	rest, ok := strings.CutPrefix(key, prefix+"{")
	if !ok {
		return "", "", false
	}
	room, name, ok = strings.Cut(rest, "}:")
	return room, name, ok
}

// scanMasters returns every key under prefix with the address of the master
// that holds it. A cluster client's SCAN reaches one node only, so each
// master is scanned on its own.
func scanMasters(ctx context.Context, c *goredis.ClusterClient, prefix string) (map[string]string, error) {
	var mu sync.Mutex
	found := map[string]string{}
	err := c.ForEachMaster(ctx, func(ctx context.Context, master *goredis.Client) error {
		iter := master.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			found[iter.Val()] = master.Options().Addr
			mu.Unlock()
		}
		return iter.Err()
	})
	return found, err
}

// randomPrefix returns a key prefix that no other store uses.
func randomPrefix() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "usher-test:" + hex.EncodeToString(b) + ":"
}

// redisCluster is a Redis Cluster that the test started, and the stores that
// the conformance suite opened on it.
type redisCluster struct {
	addrs    []string
	prefixes sync.Map // *redis.Store -> string
}

// client connects to the cluster until the test ends.
func (cl *redisCluster) client(t testing.TB) *goredis.ClusterClient {
	c := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: cl.addrs})
	t.Cleanup(func() { c.Close() })
	return c
}

// newStore is queuetest's NewStore on the cluster: a client of its own and a
// fresh prefix per store. The servers are thrown away after the test, so
// the keys are left where they are.
func (cl *redisCluster) newStore(t *testing.T, now func() time.Time) queue.Store {
	t.Helper()
	prefix := randomPrefix()
	s, err := redis.New(cl.client(t), redis.Options{Prefix: prefix, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	cl.prefixes.Store(s, prefix)
	t.Cleanup(func() { cl.prefixes.Delete(s) })
	return s
}

// peer is queuetest's Peer on the cluster: another cluster client on the
// same prefix, as another gateway instance would open it.
func (cl *redisCluster) peer(t *testing.T, s queue.Store, now func() time.Time) queue.Store {
	t.Helper()
	prefix, ok := cl.prefixes.Load(s)
	if !ok {
		t.Fatalf("peer of a store that newStore did not make: %T", s)
	}
	p, err := redis.New(cl.client(t), redis.Options{Prefix: prefix.(string), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startCluster starts n redis-server processes in cluster mode, joins them
// into one cluster of n masters with redis-cli and waits until every node
// serves all slots. The servers stop when the test ends. Without
// redis-server or redis-cli the test is skipped, unless
// USHER_REQUIRE_SERVICES demands them.
func startCluster(t *testing.T, n int) *redisCluster {
	t.Helper()
	server, cli := lookTool(t, "redis-server"), lookTool(t, "redis-cli")
	start := time.Now()

	nodes := make([]*redisNode, n)
	addrs := make([]string, n)
	for i, port := range freePorts(t, n) {
		nodes[i] = startNode(t, server, port)
		addrs[i] = nodes[i].addr
	}
	for _, node := range nodes {
		node.waitFor(t, "PING", func(ctx context.Context) (bool, error) {
			return true, node.client.Ping(ctx).Err()
		})
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*clusterWait)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	// redis-cli returns once the nodes agree on the slots' owners, which
	// may come before each has marked the cluster ok.
	for _, node := range nodes {
		node.waitFor(t, "cluster_state:ok", func(ctx context.Context) (bool, error) {
			info, err := node.client.ClusterInfo(ctx).Result()
			return strings.Contains(info, "cluster_state:ok"), err
		})
	}
	t.Logf("cluster of %d masters on %v ready in %v", n, addrs, time.Since(start).Round(time.Millisecond))
	return &redisCluster{addrs: addrs}
}

// lookTool finds a program on PATH, or skips or fails the test without it.
func lookTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("USHER_REQUIRE_SERVICES") != "" {
		t.Fatalf("%s is required (USHER_REQUIRE_SERVICES is set): %v", name, err)
	}
	t.Skipf("%s not found: %v", name, err)
	return ""
}

// freePorts returns n distinct loopback ports that are free, each with its
// cluster bus port free as well. It holds every port until all are found,
// so that no two of them, or their buses, coincide; another process may
// still take one before redis-server does, which then fails to start and
// says so in its log.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	var ports []int
	for try := 0; len(ports) < n; try++ {
		if try == 1000 {
			t.Fatalf("found only %d loopback ports with a free cluster bus port in %d tries", len(ports), try)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen on a loopback port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		if port+clusterBusOffset > 65535 {
			l.Close()
			continue
		}
		bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+clusterBusOffset))
		if err != nil {
			l.Close()
			continue
		}
		held = append(held, l, bus)
		ports = append(ports, port)
	}
	return ports
}

// redisNode is one redis-server process of the cluster.
type redisNode struct {
	addr   string
	log    string // the server's output
	client *goredis.Client
	exited chan struct{} // closed once the process has been waited for
	err    error         // Wait's answer, set before exited closes
}

// startNode starts redis-server in cluster mode on port, with a directory of
// its own for nodes.conf, and stops it when the test ends.
func startNode(t *testing.T, server string, port int) *redisNode {
	t.Helper()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()

	cmd := exec.Command(server,
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--dir", dir,
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", "5000",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--loglevel", "warning",
	)
	// A file rather than a buffer: the child writes to it directly, with no
	// copying goroutine to outlive the test.
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", server, err)
	}
	node := &redisNode{
		addr:   net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		log:    logPath,
		exited: make(chan struct{}),
	}
	go func() {
		node.err = cmd.Wait()
		close(node.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-node.exited:
		case <-time.After(clusterWait):
			t.Errorf("redis-server on %s still runs %v after SIGTERM; killing it", node.addr, clusterWait)
			cmd.Process.Kill()
			<-node.exited
		}
	})
	// Registered after the stop, so it runs before it.
	node.client = goredis.NewClient(&goredis.Options{Addr: node.addr, MaxRetries: -1})
	t.Cleanup(func() { node.client.Close() })
	return node
}

// waitFor polls check every 20 ms until it reports true, and fails the test
// if that takes longer than clusterWait or the server exits meanwhile.
func (n *redisNode) waitFor(t *testing.T, what string, check func(context.Context) (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(clusterWait)
	for {
		select {
		case <-n.exited:
			out, _ := os.ReadFile(n.log)
			t.Fatalf("redis-server on %s exited (%v) while waiting for %s; its log:\n%s", n.addr, n.err, what, out)
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		ok, err := check(ctx)
		cancel()
		if ok && err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s: no %s within %v: last error %v", n.addr, what, clusterWait, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
