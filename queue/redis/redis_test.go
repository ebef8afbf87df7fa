package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
	"github.com/usherhq/usher/queue/redis"
)

// newClient connects to the test server, USHER_TEST_REDIS_URL or the local
// default, until the test ends.
func newClient(t testing.TB) *goredis.Client {
	t.Helper()
	url := os.Getenv("USHER_TEST_REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("parse redis url: %v", err)
	}
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(t.Context()).Err(); err != nil {
		t.Fatalf("redis at %s: %v", url, err)
	}
	return c
}

// newPrefix returns a key prefix no other test uses and deletes its keys
// when the test ends.
func newPrefix(t testing.TB, c *goredis.Client) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "usher-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		// The test's context has ended by now.
		if err := deleteKeys(context.Background(), c, prefix); err != nil {
			t.Errorf("delete test keys: %v", err)
		}
	})
	return prefix
}

func deleteKeys(ctx context.Context, c *goredis.Client, prefix string) error {
	keys, err := scanKeys(ctx, c, prefix)
	if err != nil || len(keys) == 0 {
		return err
	}
	return c.Del(ctx, keys...).Err()
}

func scanKeys(ctx context.Context, c *goredis.Client, prefix string) ([]string, error) {
	var keys []string
	iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	slices.Sort(keys)
	return keys, iter.Err()
}

// newStore makes a Store on client and prefix.
func newStore(t testing.TB, client *goredis.Client, prefix string, now func() time.Time) *redis.Store {
	t.Helper()
	s, err := redis.New(client, redis.Options{Prefix: prefix, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// prefixes holds the prefix of every store that factory made, so that peer
// can open another store on the same keys.
var prefixes sync.Map // *redis.Store -> string

// factory is queuetest's NewStore for Redis: a fresh prefix per store.
func factory(t *testing.T, now func() time.Time) queue.Store {
	c := newClient(t)
	prefix := newPrefix(t, c)
	s := newStore(t, c, prefix, now)
	prefixes.Store(s, prefix)
	t.Cleanup(func() { prefixes.Delete(s) })
	return s
}

// peer is queuetest's Peer for Redis: a second client on the same prefix,
// as another gateway instance would open it.
func peer(t *testing.T, s queue.Store, now func() time.Time) queue.Store {
	t.Helper()
	prefix, ok := prefixes.Load(s)
	if !ok {
		t.Fatalf("peer of a store that factory did not make: %T", s)
	}
	return newStore(t, newClient(t), prefix.(string), now)
}

func TestConformance(t *testing.T) {
	queuetest.Run(t, factory, peer)
}

func TestEquivalentToMemory(t *testing.T) {
	queuetest.Equivalent(t, factory, func(t *testing.T, now func() time.Time) queue.Store {
		return memory.New(memory.Options{Now: now})
	})
}

var lim = queue.Limits{
	Admit:         true,
	RatePerMinute: 60,
	Burst:         3,
	MaxActive:     10,
	Session:       10 * time.Minute,
	ClaimWindow:   30 * time.Second,
}

func TestNew(t *testing.T) {
	c := newClient(t)
	tests := []struct {
		name    string
		client  goredis.UniversalClient
		prefix  string
		wantErr bool
	}{
		{"default prefix", c, "", false},
		{"own prefix", c, "venue:", false},
		{"nil client", nil, "", true},
		{"opening brace", c, "usher{", true},
		{"closing brace", c, "}usher", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := redis.New(tt.client, redis.Options{Prefix: tt.prefix})
			if (err != nil) != tt.wantErr {
				t.Fatalf("New(prefix %q) error = %v, want error %t", tt.prefix, err, tt.wantErr)
			}
			if err == nil && s == nil {
				t.Fatal("New returned neither a store nor an error")
			}
		})
	}
}

// TestKeyLayout pins the key names and types that operators and the
// Cluster slot depend on.
func TestKeyLayout(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	clock := queuetest.NewClock(queuetest.Start)
	s := newStore(t, c, prefix, clock.Now)
	ctx := t.Context()

	if _, err := s.Snapshot(ctx, "r1"); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.Throttle(ctx, "r1", "join", 0, 1); err != nil || !ok {
		t.Fatalf("throttle at a rate of zero: %t, %v; want allowed", ok, err)
	}
	if keys, err := scanKeys(ctx, c, prefix); err != nil || len(keys) != 0 {
		t.Fatalf("keys after a snapshot and a zero-rate throttle of a new room: %v, %v; want none", keys, err)
	}

	for range 3 {
		if _, err := s.Join(ctx, "r1", queue.Limits{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Advance(ctx, "r1", lim); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "r1", 1, lim); err != nil {
		t.Fatal(err)
	}
	data := []byte{'{', 0, 0xff, '}'}
	if _, err := s.SavePolicy(ctx, "r1", queue.Policy{Data: data, ConfigHash: "c1"}, 0, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SavePolicy(ctx, "r1", queue.Policy{Data: data, ConfigHash: "c2"}, 1, []byte("two")); err != nil {
		t.Fatal(err)
	}
	// Six a minute with a burst of 3: three tokens, then a refusal that
	// writes nothing.
	for i, want := range []bool{true, true, true, false} {
		if ok, _, err := s.Throttle(ctx, "r1", "join", 6, 3); err != nil || ok != want {
			t.Fatalf("throttle call %d: %t, %v; want %t", i, ok, err, want)
		}
	}

	base := prefix + "{r1}:"
	want := map[string]string{
		base + "active":        "zset",
		base + "audit":         "list",
		base + "claimed":       "string",
		base + "left":          "hash",
		base + "offers":        "zset",
		base + "policy":        "hash",
		base + "q":             "hash",
		base + "throttle:join": "string",
	}
	keys, err := scanKeys(ctx, c, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(want) {
		t.Fatalf("keys = %v, want %d keys under %s", keys, len(want), base)
	}
	for _, k := range keys {
		if typ := c.Type(ctx, k).Val(); typ != want[k] {
			t.Errorf("key %s is a %q, want %q", k, typ, want[k])
		}
	}

	deadline := queuetest.Start.Add(lim.ClaimWindow).UnixMilli()
	offers, err := c.ZRangeWithScores(ctx, base+"offers", 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	wantMember := "3:1:" + itoa(deadline)
	if len(offers) != 1 || offers[0].Member != wantMember || offers[0].Score != 3 {
		t.Errorf("offers = %v, want [%s scored 3]", offers, wantMember)
	}
	if got := c.HGet(ctx, base+"left", "3").Val(); got != "2" {
		t.Errorf("left[3] = %q, want 2", got)
	}
	if got := c.GetBit(ctx, base+"claimed", 1).Val(); got != 1 {
		t.Errorf("claimed bit 1 = %d, want 1", got)
	}
	if got := c.ZScore(ctx, base+"active", "1").Val(); got != float64(queuetest.Start.Add(lim.Session).UnixMilli()) {
		t.Errorf("active[1] = %v, want the session's end", got)
	}
	q := c.HGetAll(ctx, base+"q").Val()
	wantQ := map[string]string{"joined": "3", "served": "3", "tokens": "0", "pending": "2", "admitted": "1",
		"tokens_at": itoa(queuetest.Start.UnixMilli())}
	for f, v := range wantQ {
		if q[f] != v {
			t.Errorf("q[%s] = %q, want %q", f, q[f], v)
		}
	}
	policy := c.HGetAll(ctx, base+"policy").Val()
	wantPolicy := map[string]string{"data": string(data), "version": "2", "config_hash": "c2"}
	if !maps.Equal(policy, wantPolicy) {
		t.Errorf("policy = %q, want %q", policy, wantPolicy)
	}
	if got := c.LRange(ctx, base+"audit", 0, -1).Val(); !slices.Equal(got, []string{"two", "one"}) {
		t.Errorf("audit = %q, want [two one]", got)
	}
	// The bucket is full again 30 s on, and its key goes a minute later;
	// the server counts the TTL down on its own clock meanwhile.
	full := queuetest.Start.Add(30 * time.Second)
	if got := c.Get(ctx, base+"throttle:join").Val(); got != itoa(full.UnixMicro()) {
		t.Errorf("throttle:join = %q, want %d, when the bucket is full again in Unix µs", got, full.UnixMicro())
	}
	const ttl = 90 * time.Second
	if got := c.PTTL(ctx, base+"throttle:join").Val(); got > ttl || got < ttl-10*time.Second {
		t.Errorf("throttle:join expires in %v, want %v", got, ttl)
	}
}

// TestPolicyChannel pins the channel and message that other tools may
// subscribe to: the room id on <prefix>policy-changes, one per save.
func TestPolicyChannel(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	s := newStore(t, c, prefix, nil)
	ctx := t.Context()

	sub := newClient(t).Subscribe(ctx, prefix+"policy-changes")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if _, err := s.SavePolicy(ctx, "r1", queue.Policy{}, 0, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SavePolicy(ctx, "r1", queue.Policy{}, 0, nil); !errors.Is(err, queue.ErrConflict) {
		t.Fatalf("stale save: %v, want queue.ErrConflict", err)
	}
	if _, err := s.SavePolicy(ctx, "r2", queue.Policy{}, 0, nil); err != nil {
		t.Fatal(err)
	}
	// The stale save published nothing: r2 follows r1 at once.
	for _, want := range []string{"r1", "r2"} {
		wait, cancel := context.WithTimeout(ctx, 10*time.Second)
		m, err := sub.ReceiveMessage(wait)
		cancel()
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if m.Channel != prefix+"policy-changes" || m.Payload != want {
			t.Errorf("message %q on %s, want %q on %spolicy-changes", m.Payload, m.Channel, want, prefix)
		}
	}
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}

// TestRestart shows that a second Store on the same prefix, as after a
// gateway restart or on another instance, sees the same rooms.
func TestRestart(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	clock := queuetest.NewClock(queuetest.Start)
	ctx := t.Context()

	first := newStore(t, newClient(t), prefix, clock.Now)
	p, err := first.Join(ctx, "room", lim)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Join(ctx, "room", queue.Limits{}); err != nil {
		t.Fatal(err)
	}
	before, err := first.Snapshot(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}

	second := newStore(t, newClient(t), prefix, clock.Now)
	after, err := second.Snapshot(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Errorf("second store reads %+v, first read %+v", after, before)
	}
	if got, err := second.Claim(ctx, "room", p.Seq, lim); err != nil || got.Outcome != queue.Admitted || got.First || !got.Expires.Equal(p.Expires) {
		t.Errorf("second store's claim of seq %d = %+v, %v; want the same admission", p.Seq, got, err)
	}
	if got, err := second.Join(ctx, "room", lim); err != nil || got.Seq != 3 {
		t.Errorf("second store's join = %+v, %v; want seq 3", got, err)
	}
}

// TestScriptFlush shows that every operation survives Redis forgetting its
// scripts, as after a restart or a failover.
func TestScriptFlush(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	clock := queuetest.NewClock(queuetest.Start)
	s := newStore(t, c, prefix, clock.Now)
	ctx := t.Context()

	flush := func() {
		t.Helper()
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatalf("SCRIPT FLUSH: %v", err)
		}
	}
	steps := []struct {
		name string
		call func() error
	}{
		{"join", func() error { _, err := s.Join(ctx, "room", queue.Limits{}); return err }},
		{"advance", func() error { _, err := s.Advance(ctx, "room", lim); return err }},
		{"claim", func() error { _, err := s.Claim(ctx, "room", 1, lim); return err }},
		{"snapshot", func() error { _, err := s.Snapshot(ctx, "room"); return err }},
		{"save policy", func() error { _, err := s.SavePolicy(ctx, "room", queue.Policy{}, 0, nil); return err }},
		{"throttle", func() error { _, _, err := s.Throttle(ctx, "room", "join", 60, 1); return err }},
	}
	for _, st := range steps {
		flush()
		if err := st.call(); err != nil {
			t.Fatalf("%s after SCRIPT FLUSH: %v", st.name, err)
		}
	}
	snap, err := s.Snapshot(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	if snap.Joined != 1 || snap.Active != 1 || snap.AdmittedTotal != 1 || snap.PolicyVersion != 1 {
		t.Errorf("after the flushed steps: %+v, want one visitor admitted and a policy saved", snap)
	}
}

// TestServerClock shows that without Options.Now every script reads Redis
// TIME.
func TestServerClock(t *testing.T) {
	c := newClient(t)
	s := newStore(t, c, newPrefix(t, c), nil)
	ctx := t.Context()

	serverTime := func() time.Time {
		t.Helper()
		now, err := c.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		return now
	}
	within := func(what string, got, lo, hi time.Time) {
		t.Helper()
		if got.Before(lo.Truncate(time.Millisecond)) || got.After(hi) {
			t.Errorf("%s = %v, want between %v and %v", what, got, lo, hi)
		}
	}

	lo := serverTime()
	snap, err := s.Snapshot(ctx, "room")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Join(ctx, "room", lim)
	if err != nil {
		t.Fatal(err)
	}
	hi := serverTime()
	within("snapshot time", snap.At, lo, hi)
	if !p.Admitted {
		t.Fatalf("first join of an open room: %+v, want admitted", p)
	}
	within("admission start", p.Expires.Add(-lim.Session), lo, hi)

	// One token a minute: the second call waits for what is left of the
	// minute since the first, on the server's clock.
	lo = serverTime()
	for i, want := range []bool{true, false} {
		ok, retry, err := s.Throttle(ctx, "room", "join", 1, 1)
		if err != nil || ok != want {
			t.Fatalf("throttle call %d: %t, %v; want %t", i, ok, err, want)
		}
		if want {
			continue
		}
		hi = serverTime()
		if least := time.Minute - hi.Sub(lo) - time.Millisecond; retry < least || retry > time.Minute {
			t.Errorf("retry after %v, want between %v and %v", retry, least, time.Minute)
		}
	}
}

// TestUnavailable shows that failures to reach Redis are queue.ErrUnavailable
// and that an ended context stays recognisable.
func TestUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connections are refused

	down, err := redis.New(goredis.NewClient(&goredis.Options{
		Addr:               addr,
		MaxRetries:         -1,
		DialerRetries:      1,
		DialerRetryTimeout: time.Millisecond,
	}), redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()

	c := newClient(t)
	up := newStore(t, c, newPrefix(t, c), nil)
	ended, cancel := context.WithCancel(t.Context())
	cancel()

	calls := map[string]func(context.Context, queue.Store) error{
		"join":     func(ctx context.Context, s queue.Store) error { _, err := s.Join(ctx, "room", lim); return err },
		"claim":    func(ctx context.Context, s queue.Store) error { _, err := s.Claim(ctx, "room", 1, lim); return err },
		"advance":  func(ctx context.Context, s queue.Store) error { _, err := s.Advance(ctx, "room", lim); return err },
		"snapshot": func(ctx context.Context, s queue.Store) error { _, err := s.Snapshot(ctx, "room"); return err },
		"ping":     func(ctx context.Context, s queue.Store) error { return s.Ping(ctx) },
		"load policy": func(ctx context.Context, s queue.Store) error {
			_, err := s.LoadPolicy(ctx, "room")
			return err
		},
		"save policy": func(ctx context.Context, s queue.Store) error {
			_, err := s.SavePolicy(ctx, "room", queue.Policy{}, 0, nil)
			return err
		},
		"audit": func(ctx context.Context, s queue.Store) error { _, err := s.Audit(ctx, "room", 1); return err },
		"throttle": func(ctx context.Context, s queue.Store) error {
			_, _, err := s.Throttle(ctx, "room", "join", 60, 1)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name+" on a server that is down", func(t *testing.T) {
			if err := call(t.Context(), down); !errors.Is(err, queue.ErrUnavailable) {
				t.Errorf("got %v, want queue.ErrUnavailable", err)
			}
		})
		t.Run(name+" with an ended context", func(t *testing.T) {
			err := call(ended, up)
			if !errors.Is(err, queue.ErrUnavailable) || !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want both queue.ErrUnavailable and context.Canceled", err)
			}
		})
	}
	// Watching a server that is down fails at once rather than waiting for
	// it to come up.
	t.Run("watch on a server that is down", func(t *testing.T) {
		done := make(chan error, 1)
		go func() { done <- down.WatchPolicies(t.Context(), func(string) {}) }()
		select {
		case err := <-done:
			if !errors.Is(err, queue.ErrUnavailable) {
				t.Errorf("got %v, want queue.ErrUnavailable", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("WatchPolicies still waits for a server that is down")
		}
	})
}

// TestReplicasNotReached: with Options.Replicas on a Redis without
// replicas, nothing that admits someone is reported as done: a join that
// would admit at once gives a place without the admission, a claim that
// admits fails (and answers the admission, not first, once asked again
// with no wait), and a lease that keeps capacity fails; what admits nobody
// goes through. The scripts run through the replica path even after their
// cache was flushed.
func TestReplicasNotReached(t *testing.T) {
	c := newClient(t)
	prefix := newPrefix(t, c)
	clock := queuetest.NewClock(queuetest.Start)
	s, err := redis.New(c, redis.Options{Prefix: prefix, Now: clock.Now, Replicas: 1, ReplicaTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	p, err := s.Join(ctx, "room", lim)
	if err != nil || p.Seq != 1 || p.Admitted {
		t.Fatalf("a join that admits at once: %+v, %v; want place 1 without the admission", p, err)
	}
	if _, err := s.Claim(ctx, "room", 1, lim); err != nil {
		t.Errorf("claiming the admission the join made, which is not first: %v", err)
	}
	paused := lim
	paused.Admit = false
	if _, err := s.Join(ctx, "room", paused); err != nil {
		t.Fatalf("a join that waits: %v", err)
	}
	clock.Add(time.Minute)
	if snap, err := s.Advance(ctx, "room", lim); err != nil || snap.Offered != 1 {
		t.Fatalf("advance: %+v, %v", snap, err)
	}
	if _, err := s.Claim(ctx, "room", 2, lim); !errors.Is(err, queue.ErrUnavailable) {
		t.Errorf("a claim that admits with no replica to confirm it: %v, want the store unavailable", err)
	}
	plain := newStore(t, c, prefix, clock.Now)
	if cl, err := plain.Claim(ctx, "room", 2, lim); err != nil || cl.Outcome != queue.Admitted || cl.First {
		t.Errorf("the same claim again: %+v, %v; want the admission it made, not first", cl, err)
	}
	if _, err := s.Lease(ctx, "room", "a", nil, 2, time.Second, lim); !errors.Is(err, queue.ErrUnavailable) {
		t.Errorf("a lease that keeps capacity with no replica: %v, want the store unavailable", err)
	}
	if l, err := s.Lease(ctx, "room", "a", nil, 0, time.Second, lim); err != nil || l.N != 0 {
		t.Errorf("handing a lease back: %+v, %v", l, err)
	}
}
