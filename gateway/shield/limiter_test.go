package shield_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/usherhq/usher/gateway/shield"
)

// t0 is the tests' clock origin; every time is an offset from it.
var t0 = time.Date(2030, 6, 1, 9, 0, 0, 0, time.UTC)

// v4 returns the i-th IPv4 address counting up from 10.0.0.0.
func v4(i uint32) netip.Addr {
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], 10<<24+i)
	return netip.AddrFrom4(a)
}

// v6 returns an address in the i-th /64 under 2001:db8::/32, with host bits
// that vary too, so that a key by /128 would be caught.
func v6(i uint32) netip.Addr {
	var a [16]byte
	binary.BigEndian.PutUint32(a[0:], 0x20010db8)
	binary.BigEndian.PutUint32(a[4:], i)
	binary.BigEndian.PutUint64(a[8:], uint64(i)*0x9e3779b97f4a7c15)
	return netip.AddrFrom16(a)
}

// mixed returns distinct clients, IPv4 and IPv6 in turn.
func mixed(i int) netip.Addr {
	if i%2 == 0 {
		return v4(uint32(i / 2))
	}
	return v6(uint32(i / 2))
}

type step struct {
	at        time.Duration // after t0
	wantOK    bool
	wantRetry time.Duration
}

// steps repeats s n times.
func steps(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func join(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestAllow(t *testing.T) {
	// 8571428572 ns is a minute over 7, rounded up so the rate is never
	// exceeded.
	const seventh = 8571428572 * time.Nanosecond
	tests := []struct {
		name  string
		limit shield.Limit
		steps []step
	}{
		{
			name:  "burst then refusal",
			limit: shield.Limit{PerMinute: 60, Burst: 3},
			steps: join(
				steps(3, step{at: 0, wantOK: true}),
				steps(2, step{at: 0, wantRetry: time.Second}),
			),
		},
		{
			name:  "refill after time passes",
			limit: shield.Limit{PerMinute: 60, Burst: 3},
			steps: join(
				steps(3, step{at: 0, wantOK: true}),
				[]step{
					{at: 400 * time.Millisecond, wantRetry: 600 * time.Millisecond},
					{at: 999 * time.Millisecond, wantRetry: time.Millisecond},
					{at: time.Second, wantOK: true},
					{at: time.Second, wantRetry: time.Second},
					{at: 2500 * time.Millisecond, wantOK: true},
					{at: 2500 * time.Millisecond, wantRetry: 500 * time.Millisecond},
				},
				// Refilled to Burst and no further.
				steps(3, step{at: time.Hour, wantOK: true}),
				steps(1, step{at: time.Hour, wantRetry: time.Second}),
			),
		},
		{
			name:  "one a minute",
			limit: shield.Limit{PerMinute: 1, Burst: 1},
			steps: []step{
				{at: 0, wantOK: true},
				{at: 0, wantRetry: time.Minute},
				{at: 59*time.Second + 500*time.Millisecond, wantRetry: 500 * time.Millisecond},
				{at: time.Minute, wantOK: true},
			},
		},
		{
			name:  "fractional interval",
			limit: shield.Limit{PerMinute: 7, Burst: 2},
			steps: []step{
				{at: 0, wantOK: true},
				{at: 0, wantOK: true},
				{at: 0, wantRetry: seventh},
				{at: seventh - 1, wantRetry: 1},
				{at: seventh, wantOK: true},
			},
		},
		{
			name:  "burst below one is one",
			limit: shield.Limit{PerMinute: 60, Burst: 0},
			steps: []step{
				{at: 0, wantOK: true},
				{at: 0, wantRetry: time.Second},
			},
		},
		{
			// A request stamped a moment before the last one, as racing
			// goroutines produce, is taken at the last one: no token is minted.
			name:  "time slightly out of order",
			limit: shield.Limit{PerMinute: 60, Burst: 3},
			steps: join(
				steps(1, step{at: 2 * time.Second, wantOK: true}),
				steps(2, step{at: time.Second, wantOK: true}),
				steps(1, step{at: time.Second, wantRetry: time.Second}),
				steps(1, step{at: 2500 * time.Millisecond, wantRetry: 500 * time.Millisecond}),
				steps(1, step{at: 3 * time.Second, wantOK: true}),
			),
		},
		{
			// When the wall clock steps back an hour, a drained client waits
			// one token, not an hour, and refills from there.
			name:  "clock steps back",
			limit: shield.Limit{PerMinute: 60, Burst: 3},
			steps: join(
				steps(3, step{at: 0, wantOK: true}),
				steps(1, step{at: -time.Hour, wantRetry: time.Second}),
				steps(1, step{at: -time.Hour + 500*time.Millisecond, wantRetry: 500 * time.Millisecond}),
				steps(1, step{at: -time.Hour + time.Second, wantOK: true}),
				steps(1, step{at: -time.Hour + time.Second, wantRetry: time.Second}),
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := shield.NewLimiter(tt.limit, shield.Options{})
			addr := netip.MustParseAddr("192.0.2.1")
			for i, s := range tt.steps {
				ok, retry := l.Allow(addr, t0.Add(s.at))
				if ok != s.wantOK || retry != s.wantRetry {
					t.Fatalf("step %d at %v: Allow = %v, %v; want %v, %v", i, s.at, ok, retry, s.wantOK, s.wantRetry)
				}
			}
		})
	}
}

func TestClientKeys(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		same bool
	}{
		{"IPv6 in one /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true},
		{"IPv6 in neighbouring /64s", "2001:db8:1:2::1", "2001:db8:1:3::1", false},
		{"IPv6 in distant /64s", "2001:db8:1:2::1", "2a00:1450:4009:81f::200e", false},
		{"IPv4-mapped is IPv4", "192.0.2.1", "::ffff:192.0.2.1", true},
		{"IPv4 by /32", "192.0.2.1", "192.0.2.2", false},
		{"IPv4 apart from ::/64", "0.0.0.1", "::1", false},
		{"IPv4 apart from IPv4-compatible", "192.0.2.1", "::192.0.2.1", false},
		{"zones ignored", "fe80::1%eth0", "fe80::2%eth1", true},
		{"invalid apart from ::/64", "", "::", false},
		{"invalid apart from 0.0.0.0", "", "0.0.0.0", false},
	}
	parse := func(s string) netip.Addr {
		if s == "" {
			return netip.Addr{}
		}
		return netip.MustParseAddr(s)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := shield.NewLimiter(shield.Limit{PerMinute: 1, Burst: 1}, shield.Options{})
			if ok, _ := l.Allow(parse(tt.a), t0); !ok {
				t.Fatalf("first request from %q refused", tt.a)
			}
			ok, _ := l.Allow(parse(tt.b), t0)
			if shared := !ok; shared != tt.same {
				t.Errorf("%q and %q share a bucket: %v, want %v", tt.a, tt.b, shared, tt.same)
			}
			if want := map[bool]int{true: 1, false: 2}[tt.same]; l.Len() != want {
				t.Errorf("Len = %d, want %d", l.Len(), want)
			}
		})
	}
}

func TestNoLimit(t *testing.T) {
	newLimiter := func(l shield.Limit) func() *shield.Limiter {
		return func() *shield.Limiter { return shield.NewLimiter(l, shield.Options{MaxClients: 10}) }
	}
	tests := []struct {
		name       string
		newLimiter func() *shield.Limiter
	}{
		{"zero", newLimiter(shield.Limit{PerMinute: 0, Burst: 1})},
		{"negative", newLimiter(shield.Limit{PerMinute: -5, Burst: 1})},
		{"NaN", newLimiter(shield.Limit{PerMinute: math.NaN(), Burst: 1})},
		{"infinite", newLimiter(shield.Limit{PerMinute: math.Inf(1), Burst: 1})},
		{"zero Limit", newLimiter(shield.Limit{})},
		{"zero Limiter", func() *shield.Limiter { return new(shield.Limiter) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.newLimiter()
			for i := range 1000 {
				if ok, retry := l.Allow(mixed(i%3), t0); !ok || retry != 0 {
					t.Fatalf("request %d: Allow = %v, %v; want true, 0", i, ok, retry)
				}
			}
			if n := l.Len(); n != 0 {
				t.Errorf("Len = %d, want 0: an unlimited limiter holds no buckets", n)
			}
			if n := l.Sweep(t0.Add(time.Hour)); n != 0 {
				t.Errorf("Sweep = %d, want 0", n)
			}
		})
	}
}

func TestAllowConcurrent(t *testing.T) {
	const (
		goroutines = 16
		perG       = 500
		burst      = 10
		interval   = time.Millisecond // 60,000 a minute
	)
	tests := []struct {
		name string
		tick time.Duration // how far the clock moves per request
	}{
		{"clock still", 0},
		// 8,000 requests 10µs apart: 80ms, so 80 tokens refill.
		{"clock moving", 10 * time.Microsecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := shield.NewLimiter(shield.Limit{PerMinute: 60_000, Burst: burst}, shield.Options{})
			addr := netip.MustParseAddr("2001:db8::1")
			var ticks, allowed atomic.Int64
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for range perG {
						now := t0.Add(time.Duration(ticks.Add(1)) * tt.tick)
						if ok, _ := l.Allow(addr, now); ok {
							allowed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Duration(goroutines*perG) * tt.tick
			most := int64(burst) + int64(elapsed/interval)
			if got := allowed.Load(); got < burst || got > most {
				t.Errorf("allowed %d requests over %v, want between %d and %d", got, elapsed, burst, most)
			}
		})
	}
}

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// bytesPerBucket bounds the heap one held bucket may take: a 40-byte bucket
// and its 8-byte index slot, a third of the index kept empty, and the
// allocator's rounding. TestFlood measures 54 bytes (go test -run TestFlood
// -v logs it).
const bytesPerBucket = 64

func TestFlood(t *testing.T) {
	const maxClients = 100_000
	const n = 1_000_000
	before := heapInUse()
	l := shield.NewLimiter(shield.Limit{PerMinute: 60, Burst: 5}, shield.Options{MaxClients: maxClients})
	for i := range n {
		l.Allow(mixed(i), t0)
		if i%4096 == 0 {
			if held := l.Len(); held > maxClients {
				t.Fatalf("after %d clients Len = %d, want at most %d", i+1, held, maxClients)
			}
		}
	}
	held := l.Len()
	if held != maxClients {
		t.Errorf("after %d clients Len = %d, want %d", n, held, maxClients)
	}
	// Every client came at once, so each one forgotten was forgotten busy.
	if got, want := l.Evicted(), uint64(n-held); got != want {
		t.Errorf("Evicted = %d, want %d", got, want)
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("%d buckets held, heap grew %d bytes: %d bytes a bucket", held, grown, grown/int64(held))
	if limit := int64(maxClients * bytesPerBucket); grown > limit {
		t.Errorf("heap grew %d bytes for %d buckets, want at most %d (%d a bucket)", grown, held, limit, bytesPerBucket)
	}

	// Once the flood is idle, a sweep forgets it and gives the memory back.
	if got := l.Sweep(t0.Add(time.Minute)); got != held {
		t.Errorf("Sweep = %d, want %d", got, held)
	}
	if n := l.Len(); n != 0 {
		t.Errorf("Len after Sweep = %d, want 0", n)
	}
	if left := int64(heapInUse()) - int64(before); left > 1<<20 {
		t.Errorf("heap still %d bytes above where it started after Sweep, want under 1 MiB", left)
	}
	runtime.KeepAlive(l)
}

func TestFanSurvivesFlood(t *testing.T) {
	tests := []struct {
		name       string
		maxClients int
		flood      int
		fanHeld    bool
	}{
		{"flood of half the bound", 100_000, 50_000, true},
		{"small limiter, flood of half", 1000, 500, true},
		// The trade-off: more addresses than the bound reset the fan's
		// bucket, and the fan gets a fresh one.
		{"flood ten times the bound", 1000, 10_000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := shield.NewLimiter(shield.Limit{PerMinute: 60, Burst: 5}, shield.Options{MaxClients: tt.maxClients})
			fan := netip.MustParseAddr("198.51.100.7")
			for range 5 {
				l.Allow(fan, t0)
			}
			if ok, _ := l.Allow(fan, t0); ok {
				t.Fatal("fan allowed beyond Burst")
			}
			for i := range tt.flood {
				l.Allow(mixed(i), t0)
			}
			ok, _ := l.Allow(fan, t0)
			if held := !ok; held != tt.fanHeld {
				t.Errorf("fan's drained bucket held after a flood of %d: %v, want %v", tt.flood, held, tt.fanHeld)
			}
			if tt.fanHeld && l.Evicted() != 0 {
				t.Errorf("Evicted = %d, want 0 below the bound", l.Evicted())
			}
		})
	}
}

func TestEviction(t *testing.T) {
	// One shard of three buckets, so the order of eviction is exact.
	l := shield.NewLimiter(shield.Limit{PerMinute: 60, Burst: 1}, shield.Options{MaxClients: 3, Idle: 10 * time.Second})
	a, b, c, d, e := v4(1), v4(2), v6(3), v6(4), v4(5)
	const busy = 20 * time.Second // a is idle from 10s on
	tests := []struct {
		name        string
		at          time.Duration
		addr        netip.Addr
		wantOK      bool
		wantEvicted uint64
	}{
		{"a", 0, a, true, 0},
		{"b", busy, b, true, 0},
		{"c", busy, c, true, 0},
		{"d takes idle a's place", busy, d, true, 0},
		{"b still held", busy, b, false, 0},
		{"c still held", busy, c, false, 0},
		{"d still held", busy, d, false, 0},
		{"e takes b's place, oldest touched", busy, e, true, 1},
		{"b comes back fresh, in c's place", busy, b, true, 2},
		{"d still held after", busy, d, false, 2},
		{"e still held after", busy, e, false, 2},
	}
	for _, tt := range tests {
		ok, _ := l.Allow(tt.addr, t0.Add(tt.at))
		if ok != tt.wantOK {
			t.Fatalf("%s: Allow = %v, want %v", tt.name, ok, tt.wantOK)
		}
		if got := l.Evicted(); got != tt.wantEvicted {
			t.Fatalf("%s: Evicted = %d, want %d", tt.name, got, tt.wantEvicted)
		}
		if n := l.Len(); n > 3 {
			t.Fatalf("%s: Len = %d, want at most 3", tt.name, n)
		}
	}
}

func TestSweep(t *testing.T) {
	a, b, c := v4(1), v6(2), v4(3)
	tests := []struct {
		name      string
		at        time.Duration
		held      []netip.Addr
		forgotten []netip.Addr
	}{
		{"none idle", 14 * time.Second, []netip.Addr{a, b, c}, nil},
		{"b idle", 15 * time.Second, []netip.Addr{a, c}, []netip.Addr{b}},
		{"b and c idle, a touched again", 18 * time.Second, []netip.Addr{a}, []netip.Addr{b, c}},
		{"all idle", 19 * time.Second, nil, []netip.Addr{a, b, c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One token a minute but idle after 10s: a bucket that Sweep
			// forgets comes back full, one it keeps stays drained.
			l := shield.NewLimiter(shield.Limit{PerMinute: 1, Burst: 1}, shield.Options{Idle: 10 * time.Second})
			touches := []struct {
				addr netip.Addr
				at   time.Duration
			}{{a, 0}, {b, 5 * time.Second}, {c, 8 * time.Second}, {a, 9 * time.Second}}
			for _, tc := range touches {
				l.Allow(tc.addr, t0.Add(tc.at))
			}
			now := t0.Add(tt.at)
			if got := l.Sweep(now); got != len(tt.forgotten) {
				t.Errorf("Sweep = %d, want %d", got, len(tt.forgotten))
			}
			if got := l.Sweep(now); got != 0 {
				t.Errorf("second Sweep = %d, want 0", got)
			}
			if n := l.Len(); n != len(tt.held) {
				t.Errorf("Len = %d, want %d", n, len(tt.held))
			}
			for _, addr := range tt.held {
				if ok, _ := l.Allow(addr, now); ok {
					t.Errorf("%v was forgotten; want its drained bucket held", addr)
				}
			}
			for _, addr := range tt.forgotten {
				if ok, _ := l.Allow(addr, now); !ok {
					t.Errorf("%v still drained; want its bucket forgotten", addr)
				}
			}
		})
	}
}

// model is the limiter's behaviour written the plain way: a rate.Limiter per
// client in a map, and a slice of clients from least to most recently seen.
type model struct {
	max     int
	idle    time.Duration
	clients map[netip.Prefix]*modelClient
	order   []netip.Prefix
}

type modelClient struct {
	lim  *rate.Limiter
	seen time.Time
}

func modelKey(addr netip.Addr) netip.Prefix {
	addr = addr.Unmap()
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32)
	}
	return netip.PrefixFrom(addr.WithZone(""), 64).Masked()
}

func (m *model) allow(addr netip.Addr, now time.Time) bool {
	k := modelKey(addr)
	c, ok := m.clients[k]
	if ok {
		m.order = slices.DeleteFunc(m.order, func(p netip.Prefix) bool { return p == k })
	} else {
		if len(m.order) == m.max {
			delete(m.clients, m.order[0])
			m.order = m.order[1:]
		}
		c = &modelClient{lim: rate.NewLimiter(rate.Every(time.Second), 3)}
		m.clients[k] = c
	}
	m.order = append(m.order, k)
	c.seen = now
	return c.lim.AllowN(now, 1)
}

func (m *model) sweep(now time.Time) int {
	n := 0
	for len(m.order) > 0 && now.Sub(m.clients[m.order[0]].seen) >= m.idle {
		delete(m.clients, m.order[0])
		m.order = m.order[1:]
		n++
	}
	return n
}

// TestMatchesModel runs the limiter and the model side by side through a
// long random mix of clients and sweeps, with more clients than fit, so
// that the shard's index and recency list go through heavy churn.
func TestMatchesModel(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		clients int
	}{
		{"few clients, never full", 100, 50},
		{"three times the bound", 100, 300},
		{"one bucket", 1, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const idle = 5 * time.Second
			l := shield.NewLimiter(shield.Limit{PerMinute: 60, Burst: 3}, shield.Options{MaxClients: tt.max, Idle: idle})
			m := &model{max: tt.max, idle: idle, clients: map[netip.Prefix]*modelClient{}}
			rnd := rand.New(rand.NewPCG(1, uint64(tt.max)))
			now := t0
			for i := range 100_000 {
				// Quarter seconds add up exactly in the model's float64 arithmetic.
				now = now.Add(time.Duration(rnd.IntN(3)) * 250 * time.Millisecond)
				if rnd.IntN(1000) == 0 {
					if got, want := l.Sweep(now), m.sweep(now); got != want {
						t.Fatalf("op %d: Sweep = %d, model %d", i, got, want)
					}
					continue
				}
				// Skewed so that some clients come back often and some rarely.
				addr := mixed(rnd.IntN(1 + rnd.IntN(tt.clients)))
				got, _ := l.Allow(addr, now)
				if want := m.allow(addr, now); got != want {
					t.Fatalf("op %d: Allow(%v) = %v, model %v", i, addr, got, want)
				}
				if got, want := l.Len(), len(m.order); got != want {
					t.Fatalf("op %d: Len = %d, model %d", i, got, want)
				}
			}
		})
	}
}

func TestAllowAllocs(t *testing.T) {
	tests := []struct {
		name string
		addr netip.Addr
	}{
		{"IPv4", v4(7)},
		{"IPv6", v6(7)},
		{"IPv4-mapped", netip.AddrFrom16(v4(7).As16())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := shield.NewLimiter(shield.Limit{PerMinute: 60, Burst: 5}, shield.Options{})
			// Hold other clients too, so the one measured is not alone.
			for i := range 1000 {
				l.Allow(mixed(i), t0)
			}
			l.Allow(tt.addr, t0)
			now := t0
			allocs := testing.AllocsPerRun(1000, func() {
				now = now.Add(time.Millisecond)
				l.Allow(tt.addr, now)
			})
			if allocs != 0 {
				t.Errorf("Allow for a held client: %v allocations, want 0", allocs)
			}
		})
	}
}

func BenchmarkAllow(b *testing.B) {
	l := shield.NewLimiter(shield.Limit{PerMinute: 600, Burst: 100}, shield.Options{})
	addr := netip.MustParseAddr("2001:db8::1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Allow(addr, t0)
		}
	})
}

func BenchmarkAllowManyClients(b *testing.B) {
	const clients = 100_000
	b.Run("held", func(b *testing.B) {
		l := shield.NewLimiter(shield.Limit{PerMinute: 600, Burst: 100}, shield.Options{})
		for i := range clients {
			l.Allow(mixed(i), t0)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(clients / 7))
			for pb.Next() {
				l.Allow(mixed(i%clients), t0)
				i++
			}
		})
	})
	b.Run("new, evicting", func(b *testing.B) {
		l := shield.NewLimiter(shield.Limit{PerMinute: 600, Burst: 100}, shield.Options{MaxClients: clients})
		for i := range clients {
			l.Allow(mixed(i), t0)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine counts through its own range of new addresses.
			i := int(next.Add(1 << 28))
			for pb.Next() {
				l.Allow(mixed(i), t0)
				i++
			}
		})
	})
}
