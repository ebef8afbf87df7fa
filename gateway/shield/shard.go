package shield

import (
	"hash/maphash"
	"math"
	"sync"
	"unsafe"
)

// A shard is one lock's share of the buckets. It keeps them in three
// structures, all in flat slices so that a million clients are a few hundred
// heap objects rather than a million:
//
//   - buckets, a slab of 40-byte buckets, which never holds more than the
//     shard's limit;
//   - slots, an open-addressing index from key to slab position with linear
//     probing, at most three quarters full; deletion shifts entries back
//     rather than leaving tombstones, so the index never grows under churn.
//     (A Go map was tried first: under a flood of new addresses its
//     tombstones made it grow to about 150 bytes a bucket.)
//   - a list through the buckets from most to least recently touched, so the
//     bucket to evict is always the tail, found in O(1), and Sweep stops at
//     the first bucket that is not idle.
//
// At its limit a shard uses 40 + 8·4/3 ≈ 51 bytes a bucket.
type shard struct {
	shardState
	// Keep each shard's lock on cache lines of its own.
	_ [128 - unsafe.Sizeof(shardState{})%128]byte
}

type shardState struct {
	mu      sync.Mutex
	seed    maphash.Seed
	slots   []slot
	buckets []bucket
	head    uint32 // most recently touched
	tail    uint32 // least recently touched
	free    uint32 // slab positions of forgotten buckets, linked by next
	n       int    // buckets held
	limit   int    // most buckets held
	evicted uint64 // buckets forgotten before they were idle
}

// none is the null position in a shard's lists.
const none = math.MaxUint32

// bucket is one client's state. prev and next link it into its shard's
// recency list or, once forgotten, next links it into the free list.
type bucket struct {
	key        clientKey
	tat        int64 // theoretical arrival time, Unix nanoseconds
	seen       int64 // latest time touched at, Unix nanoseconds
	prev, next uint32
}

// slot is one entry of a shard's index: the low 32 bits of the key's hash,
// which spare most key comparisons and give the entry's home slot, and the
// bucket's slab position plus one, so that the zero slot is empty.
type slot struct {
	tag uint32
	ref uint32
}

func (s *shard) init(seed maphash.Seed, limit int) {
	s.seed = seed
	s.limit = limit
	s.head, s.tail, s.free = none, none, none
}

func (s *shard) hash(k clientKey) uint64 {
	return maphash.Comparable(s.seed, k)
}

// touch returns k's bucket, now the most recently touched, making one (and
// room for it) if k has none. tag is the low half of k's hash, and t is
// when a new bucket is made.
func (s *shard) touch(k clientKey, tag uint32, t, idle int64) *bucket {
	if pos, ok := s.find(k, tag); ok {
		i := s.slots[pos].ref - 1
		b := &s.buckets[i]
		if s.head != i {
			s.unlink(i)
			s.pushFront(i)
		}
		return b
	}
	i := s.place(t, idle)
	s.buckets[i] = bucket{key: k, tat: t, seen: t}
	pos, _ := s.find(k, tag)
	s.slots[pos] = slot{tag: tag, ref: i + 1}
	s.pushFront(i)
	s.n++
	return &s.buckets[i]
}

// find returns the index position holding k, or else the empty position
// where k would go. The index always has an empty slot, so it ends.
func (s *shard) find(k clientKey, tag uint32) (pos int, found bool) {
	if len(s.slots) == 0 {
		return 0, false
	}
	for pos = s.home(tag); ; pos = s.after(pos) {
		sl := s.slots[pos]
		if sl.ref == 0 {
			return pos, false
		}
		if sl.tag == tag && s.buckets[sl.ref-1].key == k {
			return pos, true
		}
	}
}

// home maps a tag onto the index by multiplying rather than by modulo, so
// the index need not be a power of two.
func (s *shard) home(tag uint32) int {
	return int(uint64(tag) * uint64(len(s.slots)) >> 32)
}

func (s *shard) after(pos int) int {
	if pos++; pos == len(s.slots) {
		return 0
	}
	return pos
}

// place finds a slab position for a new bucket: a forgotten one, a fresh
// one while the shard is below its limit, or else that of the least recently
// touched bucket, which is idle if any bucket is.
func (s *shard) place(t, idle int64) uint32 {
	if i := s.free; i != none {
		s.free = s.buckets[i].next
		return i
	}
	if len(s.buckets) < s.limit {
		if len(s.buckets) == cap(s.buckets) {
			s.resize(min(max(2*cap(s.buckets), 16), s.limit))
		}
		s.buckets = s.buckets[:len(s.buckets)+1]
		return uint32(len(s.buckets) - 1)
	}
	i := s.tail
	if t-s.buckets[i].seen < idle {
		s.evicted++
	}
	s.forget(i)
	return i
}

// forget drops bucket i from the index and the recency list, leaving its
// slab position to the caller.
func (s *shard) forget(i uint32) {
	pos := s.home(uint32(s.hash(s.buckets[i].key)))
	for s.slots[pos].ref != i+1 {
		pos = s.after(pos)
	}
	s.unindex(pos)
	s.unlink(i)
	s.n--
}

// unindex empties index position pos and moves later entries of its probe
// run back into the hole, so that lookups never need tombstones.
func (s *shard) unindex(pos int) {
	s.slots[pos] = slot{}
	for j := s.after(pos); s.slots[j].ref != 0; j = s.after(j) {
		if h := s.home(s.slots[j].tag); movable(pos, h, j) {
			s.slots[pos] = s.slots[j]
			s.slots[j] = slot{}
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

// sweep forgets the idle buckets at the tail and, once the shard holds no
// more than a quarter of its slab, moves the rest into smaller storage so
// that memory taken by a flood is given back.
//
// The list is in order of touching, which is the order of seen times except
// where requests arrive a little out of order or the wall clock has stepped
// back; then an idle bucket may wait for a later sweep, or for eviction.
func (s *shard) sweep(t, idle int64) int {
	n := 0
	for i := s.tail; i != none && t-s.buckets[i].seen >= idle; i = s.tail {
		s.forget(i)
		s.buckets[i].next = s.free
		s.free = i
		n++
	}
	if n > 0 && s.n <= len(s.buckets)/4 {
		s.resize(min(2*s.n, s.limit))
	}
	return n
}

// resize moves the buckets held into a slab of capacity c, in recency
// order and without gaps, and rebuilds the index to match.
func (s *shard) resize(c int) {
	old, oldest := s.buckets, s.tail
	s.buckets = make([]bucket, 0, c)
	s.slots = make([]slot, c+c/3+1) // at most three quarters full
	s.head, s.tail, s.free = none, none, none
	for i := oldest; i != none; i = old[i].prev {
		b := old[i]
		j := uint32(len(s.buckets))
		s.buckets = append(s.buckets, b)
		tag := uint32(s.hash(b.key))
		pos, _ := s.find(b.key, tag)
		s.slots[pos] = slot{tag: tag, ref: j + 1}
		s.pushFront(j)
	}
}

func (s *shard) unlink(i uint32) {
	b := &s.buckets[i]
	if b.prev != none {
		s.buckets[b.prev].next = b.next
	} else {
		s.head = b.next
	}
	if b.next != none {
		s.buckets[b.next].prev = b.prev
	} else {
		s.tail = b.prev
	}
	b.prev, b.next = none, none
}

func (s *shard) pushFront(i uint32) {
	b := &s.buckets[i]
	b.prev, b.next = none, s.head
	if s.head != none {
		s.buckets[s.head].prev = i
	} else {
		s.tail = i
	}
	s.head = i
}
