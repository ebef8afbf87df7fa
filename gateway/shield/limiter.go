package shield

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"net/netip"
	"time"
)

// DefaultMaxClients is the number of buckets a [Limiter] holds when
// [Options.MaxClients] is not set.
const DefaultMaxClients = 1_000_000

// minIdle is the shortest default [Options.Idle], so that a generous limit
// does not make buckets churn within seconds.
const minIdle = time.Minute

// maxHorizon caps every interval the limiter computes (about 36 years), so
// that absurd limits cannot overflow the nanosecond arithmetic.
const maxHorizon = 1 << 60

// Limit is a token bucket: PerMinute tokens a minute, up to Burst at once.
type Limit struct {
	// PerMinute is the refill rate in tokens per minute; it need not be
	// whole. The time between tokens is rounded up to a whole nanosecond, so
	// the rate is never exceeded. Zero, a negative number, NaN or +Inf means
	// no limit: every request is allowed.
	PerMinute float64
	// Burst is the most tokens a client can hold, and so the most requests
	// it can make at once. A Burst below 1 is taken as 1, since a bucket that
	// holds no token would refuse its client for ever.
	Burst int
}

// Options bound the memory a [Limiter] uses.
type Options struct {
	// MaxClients is the most buckets the limiter holds. Each costs about 55
	// bytes of heap (a 40-byte bucket and its index slot; the flood test
	// measures it), so the default, DefaultMaxClients (1,000,000), takes
	// about 55 MB at worst, and that memory never grows past it however many
	// addresses are seen. Buckets are spread over up to 256 shards by a
	// seeded hash and each shard holds its share, so the fullest shard
	// starts forgetting buckets a little before MaxClients distinct clients
	// are held (at 1,000,000, about 0.6% before). Zero or less means the
	// default.
	MaxClients int
	// Idle is how long a bucket may go untouched before it is forgotten, as
	// if it were full. The default, and the sensible floor, is the time to
	// refill Burst tokens, but at least one minute: by then the bucket is
	// full and forgetting it loses nothing. A shorter Idle lets a client
	// that pauses come back with a full bucket. Zero or less means the
	// default.
	Idle time.Duration
}

// A Limiter applies one [Limit] to each client separately. It is safe for
// concurrent use. The zero Limiter allows every request.
//
// Buckets are kept with GCRA arithmetic on one timestamp each rather than as
// rate.Limiter values. A rate.Limiter is an 80-byte heap object with its own
// mutex; keyed in a map and linked for eviction, that is about 150 bytes and
// one pointer for the garbage collector to chase per client. A bucket here
// is 40 bytes inline in its shard's slab, locked with the shard, and the
// slabs and indexes hold no pointers, so a million clients cost about 55 MB
// that the collector never scans.
type Limiter struct {
	limited  bool  // false for no limit, and in the zero Limiter
	interval int64 // nanoseconds per token
	tau      int64 // nanoseconds to refill Burst tokens: interval·Burst
	seed     maphash.Seed
	buckets  table[clientKey, int64]
}

// bucket is one client's entry in a Limiter's table. Its value is the
// bucket's theoretical arrival time, in Unix nanoseconds: when it will be
// full again. Its seen time is moved by [advance], not by the table.
type bucket = entry[clientKey, int64]

// NewLimiter returns a Limiter that applies l to each client, within the
// bounds of opts.
func NewLimiter(l Limit, opts Options) *Limiter {
	lim := &Limiter{seed: maphash.MakeSeed()}
	interval := math.Ceil(float64(time.Minute) / l.PerMinute)
	if !(l.PerMinute > 0) || interval < 1 {
		// No limit (+Inf makes the interval 0): hold no buckets.
		return lim
	}
	lim.limited = true
	burst := max(l.Burst, 1)
	lim.interval = int64(min(interval, maxHorizon))
	lim.tau = int64(min(float64(lim.interval)*float64(burst), maxHorizon))
	idle := opts.Idle
	if idle <= 0 {
		idle = time.Duration(max(lim.tau, int64(minIdle)))
	}
	maxClients := opts.MaxClients
	if maxClients <= 0 {
		maxClients = DefaultMaxClients
	}
	seed := lim.seed
	lim.buckets.init(maxClients, idle, func(k clientKey) uint64 { return hashKey(seed, k) })
	return lim
}

// Allow takes one token from addr's bucket at time now, which should be when
// the request arrived, from time.Now. When the bucket is empty it takes
// nothing and reports false with the exact time until a token will be there,
// to the nanosecond; a Retry-After header needs it rounded up. The zero Addr
// is a client of its own, shared by every caller that passes it.
func (l *Limiter) Allow(addr netip.Addr, now time.Time) (ok bool, retryAfter time.Duration) {
	if !l.limited {
		return true, 0
	}
	k := keyOf(addr)
	t := now.UnixNano()
	h := hashKey(l.seed, k)
	s := l.buckets.shard(h)
	s.mu.Lock()
	b, fresh := s.get(k, h, t)
	if fresh {
		b.val = t
	}
	ok, retryAfter = l.take(b, t)
	s.mu.Unlock()
	return ok, retryAfter
}

// take spends one token of b at time t, with GCRA: b.val is when the bucket
// will be full again, and a request fits while that is no more than tau
// after t.
func (l *Limiter) take(b *bucket, t int64) (bool, time.Duration) {
	t = advance(b, t)
	tat := max(b.val, t)
	next := tat + l.interval
	if at := next - l.tau; at > t {
		return false, time.Duration(at - t)
	}
	b.val = next
	return true, 0
}

// stepBack is how far before a bucket's last touch a request's time may be
// and still be taken as goroutines racing between reading the clock and
// calling Allow, rather than as the wall clock stepping back.
const stepBack = int64(time.Second)

// advance moves b's clock to t and returns the time to use for it. Time only
// runs forward for a bucket: a request stamped a little before the last
// touch is taken at that touch, so racing goroutines cannot mint tokens.
// When the wall clock steps back further, the bucket's timeline moves back
// with it, so that no client gains a token or waits out the step.
func advance(b *bucket, t int64) int64 {
	switch {
	case t >= b.seen:
	case b.seen-t <= stepBack:
		t = b.seen
	default:
		b.val -= b.seen - t
	}
	b.seen = t
	return t
}

// Len returns the number of buckets held.
func (l *Limiter) Len() int {
	return l.buckets.len()
}

// Evicted returns how many buckets have been forgotten to make room for a
// new client before they were idle; each was a client whose bucket was
// reset. Idle buckets forgotten by Sweep or by eviction are not counted. A
// rising count means MaxClients is too small for the traffic, or a flood of
// addresses.
func (l *Limiter) Evicted() uint64 {
	return l.buckets.evictions()
}

// Sweep forgets every bucket that has been idle at time now and returns how
// many it forgot. It costs time in proportion to what it forgets, not to
// what is held, and returns memory once a shard is mostly empty, so the
// gateway can call it every few seconds.
func (l *Limiter) Sweep(now time.Time) int {
	return l.buckets.sweep(now)
}

// clientKey names a client without allocating: an IPv6 /64 is {prefix, 0}
// and an IPv4 address is {0, 0xffff<<32 | address}, its IPv4-mapped form, so
// the two families can never collide. The invalid Addr is {0, 1}.
type clientKey struct {
	hi, lo uint64
}

func keyOf(addr netip.Addr) clientKey {
	addr = addr.Unmap()
	switch {
	case addr.Is4():
		a := addr.As4()
		return clientKey{lo: 0xffff<<32 | uint64(binary.BigEndian.Uint32(a[:]))}
	case addr.Is6():
		a := addr.As16()
		return clientKey{hi: binary.BigEndian.Uint64(a[:8])}
	default:
		return clientKey{lo: 1}
	}
}
