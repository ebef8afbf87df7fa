package shield

import (
	"math"
	"math/bits"
	"sync"
	"time"
	"unsafe"
)

// table is a bounded map from a key K to a value V, both of fixed size and
// free of pointers: the [Limiter]'s buckets and the [Scorer]'s records. It
// forgets the least recently touched entry to make room, and is spread
// over up to 256 shards, one lock each, by the keys' hashes.
//
// The caller hashes each key, with the function the table was made with:
// the hash's high bits pick the shard ([table.shard]) and its low 32 bits
// are the key's tag in the shard's index, so the two are independent.
// Hashing is the caller's so that a lookup hashes once and calls no
// function through a pointer; the table calls its hash function only to
// forget an entry or to rebuild its index.
type table[K comparable, V any] struct {
	shift  uint // a hash >> shift picks its shard
	shards []tableShard[K, V]
}

// A tableShard is one lock's share of a table. It keeps its entries in
// three structures, all in flat slices so that a million entries are a few
// hundred heap objects rather than a million, none of which the garbage
// collector scans:
//
//   - entries, a slab that never holds more than the shard's limit;
//   - slots, an open-addressing index from key to slab position with
//     linear probing, at most three quarters full; deletion shifts entries
//     back rather than leaving tombstones, so the index never grows under
//     churn. (A Go map was tried first: under a flood of new addresses its
//     tombstones made it grow to about 150 bytes an entry.)
//   - a list through the entries from most to least recently touched, so
//     the entry to evict is always the tail, found in O(1), and sweep stops
//     at the first entry that is not idle.
//
// At its limit a shard uses the size of an entry plus 8·4/3 bytes of index
// an entry: about 51 bytes for the Limiter's 40-byte buckets.
type tableShard[K comparable, V any] struct {
	tableShardState[K, V]
	// Keep each shard's lock on cache lines of its own. The state's size
	// does not depend on K or V.
	_ [128 - unsafe.Sizeof(tableShardState[struct{}, struct{}]{})%128]byte
}

type tableShardState[K comparable, V any] struct {
	mu      sync.Mutex
	hash    func(K) uint64 // the table's hash, to forget and to reindex
	slots   index
	entries []entry[K, V]
	head    uint32 // most recently touched
	tail    uint32 // least recently touched
	free    uint32 // slab positions of forgotten entries, linked by next
	n       int    // entries held
	limit   int    // most entries held
	idle    int64  // nanoseconds untouched before an entry is idle
	evicted uint64 // entries forgotten to make room before they were idle
}

// entry is one key's value and the time it was last touched, linked into
// its shard's recency list or, once forgotten, into the free list by next.
type entry[K comparable, V any] struct {
	key        K
	seen       int64 // latest time touched at, Unix nanoseconds
	prev, next uint32
	val        V
}

// index is a shard's open-addressing index. It does not depend on K or V,
// so its loops are compiled once and take no dictionary of type arguments.
type index []slot

// slot is one entry of a shard's index: the low 32 bits of the key's hash,
// which spare most key comparisons and give the entry's home slot, and the
// entry's slab position plus one, so that the zero slot is empty.
type slot struct {
	tag uint32
	ref uint32
}

// none is the null position in a shard's lists.
const none = math.MaxUint32

// newTable returns a table of at most maxEntries entries (at least one)
// that takes an entry untouched for idle as idle, and whose keys the caller
// hashes with hash.
func newTable[K comparable, V any](maxEntries int, idle time.Duration, hash func(K) uint64) *table[K, V] {
	t := new(table[K, V])
	t.init(maxEntries, idle, hash)
	return t
}

func (t *table[K, V]) init(maxEntries int, idle time.Duration, hash func(K) uint64) {
	maxEntries = max(maxEntries, 1)
	n := shardCount(maxEntries)
	t.shift = uint(64 - bits.TrailingZeros(uint(n)))
	t.shards = make([]tableShard[K, V], n)
	for i := range t.shards {
		// Spread the remainder so that the shards hold exactly maxEntries.
		limit := maxEntries / n
		if i < maxEntries%n {
			limit++
		}
		sh := &t.shards[i]
		sh.hash = hash
		sh.limit = min(limit, math.MaxInt32)
		sh.idle = int64(idle)
		sh.head, sh.tail, sh.free = none, none, none
	}
}

// shardCount picks a power of two, up to 256 shards of at least 64 entries,
// so that small tables are one exact LRU and big ones spread contention.
func shardCount(maxEntries int) int {
	n := 1
	for n < 256 && n*2*64 <= maxEntries {
		n *= 2
	}
	return n
}

// shard returns the shard that holds the key whose hash is h; the caller
// locks it.
func (t *table[K, V]) shard(h uint64) *tableShard[K, V] {
	return &t.shards[h>>t.shift]
}

// len returns the number of entries held.
func (t *table[K, V]) len() int {
	n := 0
	t.each(func(sh *tableShard[K, V]) { n += sh.n })
	return n
}

// evictions returns how many entries have been forgotten to make room
// before they were idle.
func (t *table[K, V]) evictions() uint64 {
	var n uint64
	t.each(func(sh *tableShard[K, V]) { n += sh.evicted })
	return n
}

// sweep forgets the entries that are idle at time now and returns how many
// it forgot.
func (t *table[K, V]) sweep(now time.Time) int {
	at := now.UnixNano()
	n := 0
	t.each(func(sh *tableShard[K, V]) { n += sh.sweep(at) })
	return n
}

// each calls f on every shard in turn, with the shard locked.
func (t *table[K, V]) each(f func(*tableShard[K, V])) {
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		f(sh)
		sh.mu.Unlock()
	}
}

// touch returns k's value, now the most recently touched, at time t,
// making a zero one (and room for it) if k has none; fresh says which. h is
// k's hash.
func (s *tableShard[K, V]) touch(k K, h uint64, t int64) (v *V, fresh bool) {
	e, fresh := s.get(k, h, t)
	e.seen = t
	return &e.val, fresh
}

// get returns k's entry, now the most recently touched, making one (and
// room for it) if k has none; fresh says which. h is k's hash. A fresh
// entry is seen at t and holds the zero V; a held one keeps its seen time
// for the caller to move, so that the caller decides what a time before it
// means.
func (s *tableShard[K, V]) get(k K, h uint64, t int64) (e *entry[K, V], fresh bool) {
	tag := uint32(h)
	if pos, ok := s.find(k, tag); ok {
		i := s.slots[pos].ref - 1
		if s.head != i {
			s.unlink(i)
			s.pushFront(i)
		}
		return &s.entries[i], false
	}
	i := s.place(t)
	s.entries[i] = entry[K, V]{key: k, seen: t}
	pos, _ := s.find(k, tag)
	s.slots[pos] = slot{tag: tag, ref: i + 1}
	s.pushFront(i)
	s.n++
	return &s.entries[i], true
}

// peek returns k's value, or nil, without touching it: reading a record
// must not keep it alive. h is k's hash.
func (s *tableShard[K, V]) peek(k K, h uint64) *V {
	pos, ok := s.find(k, uint32(h))
	if !ok {
		return nil
	}
	return &s.entries[s.slots[pos].ref-1].val
}

// find returns the index position holding k, or else the empty position
// where k would go. The index always has an empty slot, so it ends.
func (s *tableShard[K, V]) find(k K, tag uint32) (pos int, found bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	for pos = s.slots.home(tag); ; pos = s.slots.after(pos) {
		sl := s.slots[pos]
		if sl.ref == 0 {
			return pos, false
		}
		if sl.tag == tag && s.entries[sl.ref-1].key == k {
			return pos, true
		}
	}
}

// place finds a slab position for a new entry at time t: a forgotten one, a
// fresh one while the shard is below its limit, or else that of the least
// recently touched entry, which is idle if any entry is.
func (s *tableShard[K, V]) place(t int64) uint32 {
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
	if t-s.entries[i].seen < s.idle {
		s.evicted++
	}
	s.forget(i)
	return i
}

// forget drops entry i from the index and the recency list, leaving its
// slab position to the caller.
func (s *tableShard[K, V]) forget(i uint32) {
	pos := s.slots.home(uint32(s.hash(s.entries[i].key)))
	for s.slots[pos].ref != i+1 {
		pos = s.slots.after(pos)
	}
	s.slots.remove(pos)
	s.unlink(i)
	s.n--
}

// home maps a tag onto the index by multiplying rather than by modulo, so
// the index need not be a power of two.
func (x index) home(tag uint32) int {
	return int(uint64(tag) * uint64(len(x)) >> 32)
}

func (x index) after(pos int) int {
	if pos++; pos == len(x) {
		return 0
	}
	return pos
}

// remove empties position pos and moves later entries of its probe run
// back into the hole, so that lookups never need tombstones.
func (x index) remove(pos int) {
	x[pos] = slot{}
	for j := x.after(pos); x[j].ref != 0; j = x.after(j) {
		if h := x.home(x[j].tag); movable(pos, h, j) {
			x[pos] = x[j]
			x[j] = slot{}
			pos = j
		}
	}
}

// movable reports whether the entry at j, whose home is h, may move back to
// the hole at pos: it may unless its home lies after the hole, cyclically
// in (pos, j].
func movable(pos, h, j int) bool {
	if pos < j {
		return h <= pos || h > j
	}
	return h <= pos && h > j
}

// sweep forgets the idle entries at the tail at time t and, once the shard
// holds no more than a quarter of its slab, moves the rest into smaller
// storage so that memory taken by a flood is given back.
//
// The list is in order of touching, which is the order of seen times except
// where requests arrive a little out of order or the wall clock has stepped
// back; then an idle entry may wait for a later sweep, or for eviction.
func (s *tableShard[K, V]) sweep(t int64) int {
	n := 0
	for i := s.tail; i != none && t-s.entries[i].seen >= s.idle; i = s.tail {
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
func (s *tableShard[K, V]) resize(c int) {
	old, oldest := s.entries, s.tail
	s.entries = make([]entry[K, V], 0, c)
	s.slots = make(index, c+c/3+1) // at most three quarters full
	s.head, s.tail, s.free = none, none, none
	for i := oldest; i != none; i = old[i].prev {
		e := old[i]
		j := uint32(len(s.entries))
		s.entries = append(s.entries, e)
		tag := uint32(s.hash(e.key))
		pos, _ := s.find(e.key, tag)
		s.slots[pos] = slot{tag: tag, ref: j + 1}
		s.pushFront(j)
	}
}

func (s *tableShard[K, V]) unlink(i uint32) {
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

func (s *tableShard[K, V]) pushFront(i uint32) {
	e := &s.entries[i]
	e.prev, e.next = none, s.head
	if s.head != none {
		s.entries[s.head].prev = i
	} else {
		s.tail = i
	}
	s.head = i
}
