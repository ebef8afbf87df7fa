package shield

import (
	"math"
	"math/bits"
	"net/netip"
	"sync"
	"time"
)

// MaxPassNetworks is the most distinct networks [ScorerConfig.PassNetworks]
// may allow; a larger setting is taken as this. Each visitor's record has
// room for one network more than allowed, so that going over can be seen.
const MaxPassNetworks = 7

// passNetworkIdle is how long a network a pass was used from counts towards
// its spread after it was last seen: a fan who left the venue Wi-Fi an hour
// ago is not still on it.
const passNetworkIdle = time.Hour

// passNetworks is one visitor's record: the networks its pass was used from,
// most of them live, some perhaps expired. It is 64 bytes, a fixed size, so
// that the table holding a million of them is one slab and holds no pointers.
type passNetworks [MaxPassNetworks + 1]passNetwork

// passNetwork is one network a pass was used from: a 32-bit hash of the
// network, which is enough to tell one visitor's few networks apart (a clash
// errs towards a clean score), and when it was last seen, in Unix seconds.
// The zero passNetwork is an empty place.
type passNetwork struct {
	tag  uint32
	seen uint32
}

// unixSeconds is t in Unix seconds as stored in a passNetwork, kept within
// [1, MaxUint32] so that it is never the empty mark.
func unixSeconds(t int64) uint32 {
	return uint32(min(max(t/int64(time.Second), 1), math.MaxUint32))
}

// record notes that the pass was used from network tag at Unix second now,
// keeping track of at most allowed+1 networks, and returns how many distinct
// networks it has been used from within the last passNetworkIdle, counting
// this one. When every place is taken by a live network, the network seen
// longest ago makes way for the new one; the count still exceeds allowed.
func (p *passNetworks) record(tag, now uint32, allowed int) int {
	const idle = int64(passNetworkIdle / time.Second)
	live, found := 0, false
	free, oldest := -1, -1
	for i := range p[:allowed+1] {
		n := &p[i]
		// A time after now, from a clock that stepped back, counts as live.
		if n.seen == 0 || int64(now)-int64(n.seen) >= idle {
			if free < 0 {
				free = i
			}
			continue
		}
		live++
		if n.tag == tag {
			found = true
			n.seen = max(n.seen, now)
			continue
		}
		if oldest < 0 || n.seen < p[oldest].seen {
			oldest = i
		}
	}
	if found {
		return live
	}
	if free >= 0 {
		p[free] = passNetwork{tag: tag, seen: now}
		return live + 1
	}
	// Every place holds a live network other than this one, so this is
	// the (allowed+2)th: replace the stalest and report the excess.
	p[oldest] = passNetwork{tag: tag, seen: now}
	return live + 1
}

// Pass records that visitor's pass was used from r.Addr at time now and
// scores it: [ReasonPassSpread] when, counting r.Addr's network ([Subnet]),
// the pass has been used from more than [ScorerConfig.PassNetworks] distinct
// networks each seen within the last hour. A network not seen for an hour
// stops counting, so a phone that moves between home Wi-Fi, mobile data and
// a venue network stays clean however often it switches, while a pass shared
// among friends in several places is flagged from every one of them.
//
// Pass is meant for every admitted request: it does not allocate once the
// visitor is known, keeps no copy of visitor (only a seeded 64-bit hash of
// it), and costs one hash of each, one lock and a scan of at most eight
// places. Header reasons are not included: the browser holding a pass was
// judged when it joined.
func (s *Scorer) Pass(r Request, visitor string, now time.Time) Reason {
	key := s.visitorKey(visitor)
	tag := uint32(s.addrHash(Subnet(r.Addr)))
	t := now.UnixNano()
	sh := s.passes.shard(key)
	sh.mu.Lock()
	nets, _ := sh.touch(key, t)
	live := nets.record(tag, unixSeconds(t), s.passNetworks)
	sh.mu.Unlock()
	if live > s.passNetworks {
		return ReasonPassSpread
	}
	return 0
}

// table is a bounded map from a 64-bit key, itself a seeded hash, to a value
// of fixed size V: the scorer's state per visitor and its marks per address.
// It is built like the [Limiter]'s shards, for the same reasons (no per-entry
// heap objects, an index that does not grow under churn, eviction of the
// least recently touched entry in O(1)), but holds any pointer-free V.
//
// The key's high bits pick the shard and its low 32 bits are the index tag,
// so the two are independent. Two keys that collide share an entry; among
// a million seeded 64-bit hashes held at once that happens with a chance of
// about three in a hundred million, and costs one client's score judged on
// another's record.
type table[V any] struct {
	shift  uint  // a key >> shift picks its shard
	idle   int64 // nanoseconds untouched before an entry is forgotten
	shards []tableShard[V]
}

type tableShard[V any] struct {
	mu      sync.Mutex
	slots   []slot
	entries []entry[V]
	head    uint32 // most recently touched
	tail    uint32 // least recently touched
	free    uint32 // slab positions of forgotten entries, linked by next
	n       int    // entries held
	limit   int    // most entries held
	// Keep each shard's lock off its neighbours' cache lines.
	_ [128]byte
}

// entry is one key's value, linked into its shard's recency list or, once
// forgotten, into the free list by next.
type entry[V any] struct {
	key        uint64
	seen       int64 // latest time touched at, Unix nanoseconds
	prev, next uint32
	val        V
}

// newTable returns a table of at most maxEntries entries (at least one)
// that forgets an entry untouched for idle.
func newTable[V any](maxEntries int, idle time.Duration) *table[V] {
	maxEntries = max(maxEntries, 1)
	n := shardCount(maxEntries)
	t := &table[V]{
		shift:  uint(64 - bits.TrailingZeros(uint(n))),
		idle:   int64(idle),
		shards: make([]tableShard[V], n),
	}
	for i := range t.shards {
		limit := maxEntries / n
		if i < maxEntries%n {
			limit++
		}
		sh := &t.shards[i]
		sh.limit = min(limit, math.MaxInt32)
		sh.head, sh.tail, sh.free = none, none, none
	}
	return t
}

// shard returns the shard that holds key; the caller locks it.
func (t *table[V]) shard(key uint64) *tableShard[V] {
	return &t.shards[key>>t.shift]
}

// len returns the number of entries held.
func (t *table[V]) len() int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += sh.n
		sh.mu.Unlock()
	}
	return n
}

// sweep forgets the entries untouched for the table's idle time at time
// now and returns how many it forgot.
func (t *table[V]) sweep(now time.Time) int {
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += sh.sweep(now.UnixNano(), t.idle)
		sh.mu.Unlock()
	}
	return n
}

// touch returns key's value, now the most recently touched at time t,
// making a zero one (and room for it) if key has none; fresh says which.
func (s *tableShard[V]) touch(key uint64, t int64) (v *V, fresh bool) {
	tag := uint32(key)
	if pos, ok := s.find(key, tag); ok {
		i := s.slots[pos].ref - 1
		e := &s.entries[i]
		e.seen = t
		if s.head != i {
			s.unlink(i)
			s.pushFront(i)
		}
		return &e.val, false
	}
	i := s.place()
	s.entries[i] = entry[V]{key: key, seen: t}
	pos, _ := s.find(key, tag)
	s.slots[pos] = slot{tag: tag, ref: i + 1}
	s.pushFront(i)
	s.n++
	return &s.entries[i].val, true
}

// peek returns key's value, or nil, without touching it: reading a mark
// must not keep it alive.
func (s *tableShard[V]) peek(key uint64) *V {
	pos, ok := s.find(key, uint32(key))
	if !ok {
		return nil
	}
	return &s.entries[s.slots[pos].ref-1].val
}

// find returns the index position holding key, or else the empty position
// where key would go. The index always has an empty slot, so it ends.
func (s *tableShard[V]) find(key uint64, tag uint32) (pos int, found bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	for pos = s.home(tag); ; pos = s.after(pos) {
		sl := s.slots[pos]
		if sl.ref == 0 {
			return pos, false
		}
		if sl.tag == tag && s.entries[sl.ref-1].key == key {
			return pos, true
		}
	}
}

func (s *tableShard[V]) home(tag uint32) int {
	return int(uint64(tag) * uint64(len(s.slots)) >> 32)
}

func (s *tableShard[V]) after(pos int) int {
	if pos++; pos == len(s.slots) {
		return 0
	}
	return pos
}

// place finds a slab position for a new entry: a forgotten one, a fresh one
// while the shard is below its limit, or else that of the least recently
// touched entry.
func (s *tableShard[V]) place() uint32 {
	if i := s.free; i != none {
		s.free = s.entries[i].next
		return i
	}
	if len(s.entries) < s.limit {
		if len(s.entries) == cap(s.entries) {
			s.resize(min(max(2*cap(s.entries), 16), s.limit))
		}
		s.entries = s.entries[:len(s.entries)+1]
		return uint32(len(s.entries) - 1)
	}
	i := s.tail
	s.forget(i)
	return i
}

// forget drops entry i from the index and the recency list, leaving its
// slab position to the caller.
func (s *tableShard[V]) forget(i uint32) {
	pos := s.home(uint32(s.entries[i].key))
	for s.slots[pos].ref != i+1 {
		pos = s.after(pos)
	}
	s.unindex(pos)
	s.unlink(i)
	s.n--
}

// unindex empties index position pos and moves later entries of its probe
// run back into the hole, as the Limiter's shards do.
func (s *tableShard[V]) unindex(pos int) {
	s.slots[pos] = slot{}
	for j := s.after(pos); s.slots[j].ref != 0; j = s.after(j) {
		if h := s.home(s.slots[j].tag); movable(pos, h, j) {
			s.slots[pos] = s.slots[j]
			s.slots[j] = slot{}
			pos = j
		}
	}
}

// sweep forgets the idle entries at the tail and, once the shard holds no
// more than a quarter of its slab, moves the rest into smaller storage.
func (s *tableShard[V]) sweep(t, idle int64) int {
	n := 0
	for i := s.tail; i != none && t-s.entries[i].seen >= idle; i = s.tail {
		s.forget(i)
		s.entries[i].next = s.free
		s.free = i
		n++
	}
	if n > 0 && s.n <= len(s.entries)/4 {
		s.resize(min(2*s.n, s.limit))
	}
	return n
}

// resize moves the entries held into a slab of capacity c, in recency
// order and without gaps, and rebuilds the index to match.
func (s *tableShard[V]) resize(c int) {
	old, oldest := s.entries, s.tail
	s.entries = make([]entry[V], 0, c)
	s.slots = make([]slot, c+c/3+1) // at most three quarters full
	s.head, s.tail, s.free = none, none, none
	for i := oldest; i != none; i = old[i].prev {
		e := old[i]
		j := uint32(len(s.entries))
		s.entries = append(s.entries, e)
		tag := uint32(e.key)
		pos, _ := s.find(e.key, tag)
		s.slots[pos] = slot{tag: tag, ref: j + 1}
		s.pushFront(j)
	}
}

func (s *tableShard[V]) unlink(i uint32) {
	e := &s.entries[i]
	if e.prev != none {
		s.entries[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next != none {
		s.entries[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = none, none
}

func (s *tableShard[V]) pushFront(i uint32) {
	e := &s.entries[i]
	e.prev, e.next = none, s.head
	if s.head != none {
		s.entries[s.head].prev = i
	} else {
		s.tail = i
	}
	s.head = i
}

// addrHash is a seeded hash of addr as the Limiter keys it: an IPv4 address
// by itself, an IPv6 address by its /64.
func (s *Scorer) addrHash(addr netip.Addr) uint64 {
	return hashKey(s.seed, keyOf(addr))
}
