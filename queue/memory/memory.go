// Package memory keeps waiting lines in the process's memory.
//
// It serves one gateway instance only: two processes with their own
// memory.Store hand out the same arrival numbers and admit past each other's
// limits, and neither hears of the other's policy changes. Use queue/redis
// when more than one instance fronts a room. State is lost when the process
// exits, and a room's state, its policy, audit trail and throttles included,
// lives as long as the Store. A room keeps one throttle per name it was
// called with, so the caller's set of names bounds them.
package memory

import (
	"context"
	"errors"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/usherhq/usher/queue"
)

var _ queue.Store = (*Store)(nil)

// Options configures a Store.
type Options struct {
	// Now is the store's clock. Nil means time.Now; tests inject a fake one.
	Now func() time.Time
}

// Store is an in-memory queue.Store. The zero value is not usable; call New.
type Store struct {
	now func() time.Time

	mu    sync.RWMutex
	rooms map[string]*room

	watchMu  sync.Mutex
	watchers map[chan string]struct{}
}

// New returns an empty Store.
func New(opts Options) *Store {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, rooms: make(map[string]*room), watchers: make(map[chan string]struct{})}
}

// errEmptyRoom rejects the one room id that cannot be a key in any store.
var errEmptyRoom = errors.New("empty room id")

// Join gives a new visitor the next arrival number and admits them at once
// when nobody waits ahead and lim allows it.
func (s *Store) Join(ctx context.Context, id string, lim queue.Limits) (queue.Place, error) {
	if err := check(ctx, id); err != nil {
		return queue.Place{}, err
	}
	r := s.room(id)
	r.mu.Lock()
	defer r.mu.Unlock()

	r.joined++
	seq := r.joined
	// While anyone waits ahead, a join is one counter increment: it is the
	// hottest write of an on-sale and must not touch the rest of the room.
	if !r.admits(lim) || r.served != seq-1 {
		return queue.Place{Seq: seq}, nil
	}
	now := s.now().UnixMilli()
	l := normalize(lim)
	l.admit = r.admits(lim)
	r.settle(now, l)
	if r.tokens < 1 || r.free(l) < 1 {
		return queue.Place{Seq: seq}, nil
	}
	r.served = seq
	r.tokens--
	exp := r.admit(seq, now, l)
	return queue.Place{Seq: seq, Admitted: true, Expires: time.UnixMilli(exp)}, nil
}

// Claim turns the offer made to seq into an admission, or answers why it
// cannot.
func (s *Store) Claim(ctx context.Context, id string, seq int64, lim queue.Limits) (queue.Claim, error) {
	if err := check(ctx, id); err != nil {
		return queue.Claim{}, err
	}
	r := s.lookup(id)
	if r == nil {
		return queue.Claim{Outcome: queue.NotOffered}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()

	if seq < 1 || seq > r.served {
		return queue.Claim{Outcome: queue.NotOffered}, nil
	}
	now := s.now().UnixMilli()
	if r.claimed.has(seq) {
		if exp, ok := r.active[seq]; ok && exp > now {
			return queue.Claim{Outcome: queue.Admitted, Expires: time.UnixMilli(exp)}, nil
		}
		return queue.Claim{Outcome: queue.Ended}, nil
	}

	l := normalize(lim)
	l.admit = r.admits(lim)
	r.settle(now, l)
	if !r.takeOffer(seq, now) {
		// The offer lapsed: a late claim spends fresh budget, as if the
		// visitor were offered again at the front of the line.
		if !l.admit || r.tokens < 1 || r.free(l) < 1 {
			return queue.Claim{Outcome: queue.Lapsed}, nil
		}
		r.tokens--
	}
	exp := r.admit(seq, now, l)
	return queue.Claim{Outcome: queue.Admitted, Expires: time.UnixMilli(exp), First: true}, nil
}

// settled locks room id and settles it at the store's now under lim; the
// caller unlocks it.
func (s *Store) settled(ctx context.Context, id string, lim queue.Limits) (r *room, now int64, l limits, err error) {
	if err := check(ctx, id); err != nil {
		return nil, 0, l, err
	}
	r = s.room(id)
	r.mu.Lock()
	now = s.now().UnixMilli()
	l = normalize(lim)
	l.admit = r.admits(lim)
	r.settle(now, l)
	return r, now, l, nil
}

// Advance settles the room and, if lim.Admit, offers admission to as many
// waiting visitors as budget, capacity and the line allow.
func (s *Store) Advance(ctx context.Context, id string, lim queue.Limits) (queue.Snapshot, error) {
	r, now, l, err := s.settled(ctx, id, lim)
	if err != nil {
		return queue.Snapshot{}, err
	}
	defer r.mu.Unlock()
	var n int64
	if l.admit {
		n = max(0, min(r.free(l), r.joined-r.served))
		// Compare as floats: tokens may be huge or infinite, and converting
		// such a float to an integer is undefined.
		if t := math.Floor(r.tokens); float64(n) > t {
			n = max(0, int64(t)) // below zero after admissions under leases
		}
	}
	if n > 0 {
		r.batches = append(r.batches, batch{
			from:     r.served + 1,
			to:       r.served + n,
			deadline: now + l.window,
			left:     n,
		})
		r.served += n
		r.pending += n
		r.tokens -= float64(n)
	}
	snap := r.snapshot(now)
	snap.Offered = int(n)
	return snap, nil
}

// Lease records holder's own admissions, hands its lease back and takes a
// new one, as queue.Store.Lease says, computing exactly as the Redis store
// does.
func (s *Store) Lease(ctx context.Context, id, holder string, used []queue.LeaseAdmission, want int, ttl time.Duration, lim queue.Limits) (queue.Lease, error) {
	r, now, l, err := s.settled(ctx, id, lim)
	if err != nil {
		return queue.Lease{}, err
	}
	defer r.mu.Unlock()
	for _, u := range queue.SortedAdmissions(used) {
		seq := u.Seq
		if seq < 1 || seq > r.joined || r.claimed.has(seq) {
			continue
		}
		// The frontier moves past it; the places it passes without an
		// offer can be claimed late, like lapsed offers, as budget and
		// capacity allow.
		r.served = max(r.served, seq)
		if !r.takeOffer(seq, now) {
			r.tokens--
		}
		r.admitUntil(seq, now, u.Expires.UnixMilli())
	}

	if old, ok := r.leases[holder]; ok {
		r.leased -= old.n
		delete(r.leases, holder)
	}
	var n int64
	ttlMs := max(ttl.Milliseconds(), 1)
	if l.admit && want > 0 {
		share := (int64(want) + int64(len(r.leases))) / int64(len(r.leases)+1) // rounded up
		n = max(0, min(share, int64(want)-r.leased, r.free(l)))
		if r.leases == nil {
			r.leases = map[string]lease{}
		}
		r.leases[holder] = lease{n: n, exp: now + ttlMs + l.session}
		r.leased += n
	}
	return queue.Lease{N: int(n), Total: int(r.leased), Served: r.served, At: time.UnixMilli(now), Expires: time.UnixMilli(now + ttlMs)}, nil
}

// Snapshot reads a room's counters without changing anything. A room never
// used answers zeros.
func (s *Store) Snapshot(ctx context.Context, id string) (queue.Snapshot, error) {
	if err := check(ctx, id); err != nil {
		return queue.Snapshot{}, err
	}
	now := s.now().UnixMilli()
	r := s.lookup(id)
	if r == nil {
		return queue.Snapshot{At: time.UnixMilli(now)}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.snapshot(now), nil
}

// Throttle takes one token from the room's bucket name, under the room's
// lock and on the store's clock, computing exactly as the Redis store does.
func (s *Store) Throttle(ctx context.Context, id, name string, perMinute float64, burst int) (bool, time.Duration, error) {
	if id == "" {
		return false, 0, errEmptyRoom
	}
	// Written as a negation so that NaN always allows too.
	if !(perMinute > 0) {
		return true, 0, nil
	}
	if err := ctx.Err(); err != nil {
		return false, 0, err
	}
	interval, size := queue.ThrottleBucket(perMinute, burst)
	r := s.room(id)
	r.mu.Lock()
	defer r.mu.Unlock()

	// GCRA: tat is when the bucket is full again; a token is free while
	// tat lies at most size-1 intervals ahead.
	now := s.now().UnixMilli() * 1000
	tat := max(r.throttles[name], now)
	if wait := tat - (size-1)*interval - now; wait > 0 {
		return false, time.Duration((wait+999)/1000) * time.Millisecond, nil
	}
	if r.throttles == nil {
		r.throttles = make(map[string]int64)
	}
	r.throttles[name] = tat + interval
	return true, 0, nil
}

// Release ends seq's admission now.
func (s *Store) Release(ctx context.Context, id string, seq int64) (bool, error) {
	if err := check(ctx, id); err != nil {
		return false, err
	}
	r := s.lookup(id)
	if r == nil {
		return false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	exp, ok := r.active[seq]
	if !ok || exp <= s.now().UnixMilli() {
		return false, nil
	}
	delete(r.active, seq)
	r.expiries.remove(seq)
	return true, nil
}

// Mark puts key in the room's set for ttl, on the store's clock.
func (s *Store) Mark(ctx context.Context, id, set, key string, ttl time.Duration) (bool, error) {
	if err := check(ctx, id); err != nil {
		return false, err
	}
	r := s.room(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.now().UnixMilli()
	m := setOf(&r.marks, set)
	exp := now + queue.MarkTTL(ttl).Milliseconds()
	_, old, live := m.get(key, now)
	if !live || exp > old {
		m.put(key, struct{}{}, exp, now)
	}
	return !live, nil
}

// Unmark takes key out of the room's set.
func (s *Store) Unmark(ctx context.Context, id, set, key string) (bool, error) {
	if err := check(ctx, id); err != nil {
		return false, err
	}
	r := s.lookup(id)
	if r == nil {
		return false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.marks[set]
	if m == nil {
		return false, nil
	}
	_, _, live := m.get(key, s.now().UnixMilli())
	m.delete(key)
	return live, nil
}

// Marked returns the unexpired keys of the room's set.
func (s *Store) Marked(ctx context.Context, id, set string) (map[string]time.Time, error) {
	if err := check(ctx, id); err != nil {
		return nil, err
	}
	out := make(map[string]time.Time)
	r := s.lookup(id)
	if r == nil {
		return out, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m := r.marks[set]; m != nil {
		m.each(s.now().UnixMilli(), func(k string, _ struct{}, exp int64) { out[k] = time.UnixMilli(exp) })
	}
	return out, nil
}

// Bind binds key to value in the room's set, unless it is bound already.
func (s *Store) Bind(ctx context.Context, id, set, key, value string, ttl time.Duration) (string, error) {
	if err := check(ctx, id); err != nil {
		return "", err
	}
	r := s.room(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.now().UnixMilli()
	b := setOf(&r.binds, set)
	if v, _, live := b.get(key, now); live {
		return v, nil
	}
	if value == "" {
		return "", nil
	}
	b.put(key, value, now+queue.MarkTTL(ttl).Milliseconds(), now)
	return value, nil
}

// Rotate applies the rotation rules of queue.Store to the visitor's state.
func (s *Store) Rotate(ctx context.Context, id, visitor string, gen int64, lim queue.RotateLimits) (queue.Rotation, error) {
	if err := check(ctx, id); err != nil {
		return queue.Rotation{}, err
	}
	r := s.room(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.now().UnixMilli()
	st, _, _ := r.rotations.get(visitor, now)
	// Every use keeps the state a ticket's life longer, a copy's too.
	defer func() { r.rotations.put(visitor, st, now+lim.TTL.Milliseconds(), now) }()
	switch {
	case st.cur == 0 || gen > st.cur:
		st = rotation{cur: gen + 1, at: now}
	case st.flagged:
		return queue.Rotation{Copied: true}, nil
	case gen == st.cur:
		st.cur, st.at = st.cur+1, now
	case gen == st.cur-1 && now-st.at <= lim.Grace.Milliseconds() &&
		(st.graceAt == 0 || now-st.graceAt >= lim.Cooldown.Milliseconds()):
		st.graceAt = now
	default:
		st.flagged = true
		return queue.Rotation{Copied: true}, nil
	}
	return queue.Rotation{Gen: st.cur}, nil
}

// Reprove clears the visitor's flag and starts a generation with no grace.
func (s *Store) Reprove(ctx context.Context, id, visitor string, lim queue.RotateLimits) (int64, error) {
	if err := check(ctx, id); err != nil {
		return 0, err
	}
	r := s.room(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	now := s.now().UnixMilli()
	st, _, _ := r.rotations.get(visitor, now)
	st = rotation{cur: st.cur + 1}
	r.rotations.put(visitor, st, now+lim.TTL.Milliseconds(), now)
	return st.cur, nil
}

// setOf returns the room's set name of sets, making it on first use.
func setOf[V any](sets *map[string]*expiring[V], name string) *expiring[V] {
	if *sets == nil {
		*sets = make(map[string]*expiring[V])
	}
	e := (*sets)[name]
	if e == nil {
		e = &expiring[V]{}
		(*sets)[name] = e
	}
	return e
}

// Ping reports whether the store answers; memory always does.
func (s *Store) Ping(ctx context.Context) error {
	return ctx.Err()
}

// Close does nothing: the store holds no connections. Rooms stay readable,
// and watchers keep watching until their contexts end.
func (s *Store) Close() error {
	return nil
}

func check(ctx context.Context, id string) error {
	if id == "" {
		return errEmptyRoom
	}
	return ctx.Err()
}

// lookup returns the room or nil if it was never used, so reads and claims
// on unknown rooms leave no trace.
func (s *Store) lookup(id string) *room {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rooms[id]
}

// room returns the room, creating it on first use.
func (s *Store) room(id string) *room {
	if r := s.lookup(id); r != nil {
		return r
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rooms[id]
	if !ok {
		r = &room{active: make(map[int64]int64)}
		s.rooms[id] = r
	}
	return r
}

// limits is queue.Limits in the units the room computes with: milliseconds,
// and rates that cannot run the budget backwards.
type limits struct {
	admit     bool
	rate      float64
	burst     float64
	maxActive int64
	session   int64
	window    int64
}

// admits says whether lim lets the room admit: it says so, and its policy
// is not older than the one saved (see queue.Limits.PolicyVersion).
func (r *room) admits(lim queue.Limits) bool {
	return lim.Admit && (lim.PolicyVersion <= 0 || r.policy.Version <= lim.PolicyVersion)
}

func normalize(lim queue.Limits) limits {
	l := limits{
		admit:     lim.Admit,
		rate:      lim.RatePerMinute,
		burst:     lim.Burst,
		maxActive: int64(lim.MaxActive),
		session:   lim.Session.Milliseconds(),
		window:    lim.ClaimWindow.Milliseconds(),
	}
	// Written as negations so that NaN falls back too.
	if !(l.rate > 0) {
		l.rate = 0
	}
	if !(l.burst >= 1) {
		l.burst = 1
	}
	return l
}

// lease is one holder's lease: n admissions, capacity kept until exp (ms).
type lease struct {
	n, exp int64
}

// batch is the offer made by one Advance: seqs from..to, of which left are
// neither claimed nor lapsed, claimable until deadline (ms).
type batch struct {
	from, to, deadline, left int64
}

// room is one waiting line. Times are milliseconds since the Unix epoch.
type room struct {
	mu sync.Mutex

	joined, served int64
	tokens         float64
	tokensAt       int64 // 0 until the room's first settle
	pending        int64 // sum of left over batches
	admitted       int64

	claimed  bitset
	active   map[int64]int64  // seq -> admission expiry
	leases   map[string]lease // by holder
	leased   int64            // sum of the live leases' n
	expiries expiryHeap       // the same entries, soonest expiry first
	batches  []batch          // ascending by to

	policy queue.Policy // Version 0 until the first save
	audit  auditRing

	throttles map[string]int64 // name -> theoretical arrival time (µs)
	marks     map[string]*expiring[struct{}]
	rotations expiring[rotation]
	binds     map[string]*expiring[string]
}

// rotation is one visitor's ticket generation, times in Unix ms.
type rotation struct {
	cur, at int64
	graceAt int64 // 0: no grace used
	flagged bool
}

// expiring is a map whose entries lapse at a time (Unix ms). Lapsed
// entries read as absent, and are dropped whenever the map has doubled
// since they last were, so that a write costs a constant amount on
// average and the map holds at most twice its live entries.
type expiring[V any] struct {
	entries map[string]timed[V]
	pruneAt int
}

// timed is a value and when it lapses.
type timed[V any] struct {
	v   V
	exp int64
}

// get returns key's value and its expiry, and whether it is live at now.
func (e *expiring[V]) get(key string, now int64) (v V, exp int64, live bool) {
	t, ok := e.entries[key]
	if !ok || t.exp <= now {
		return v, 0, false
	}
	return t.v, t.exp, true
}

// put sets key to v until exp.
func (e *expiring[V]) put(key string, v V, exp, now int64) {
	if e.entries == nil {
		e.entries = make(map[string]timed[V])
	}
	if len(e.entries) >= e.pruneAt {
		for k, t := range e.entries {
			if t.exp <= now {
				delete(e.entries, k)
			}
		}
		e.pruneAt = max(64, 2*len(e.entries))
	}
	e.entries[key] = timed[V]{v, exp}
}

// delete drops key.
func (e *expiring[V]) delete(key string) { delete(e.entries, key) }

// each calls f with every entry live at now.
func (e *expiring[V]) each(now int64, f func(key string, v V, exp int64)) {
	for k, t := range e.entries {
		if t.exp > now {
			f(k, t.v, t.exp)
		}
	}
}

// settle brings the room to now: it refills the budget, hands the budget and
// capacity of lapsed offers back, and drops expired admissions.
func (r *room) settle(now int64, l limits) {
	if r.tokensAt == 0 {
		r.tokens, r.tokensAt = l.burst, now
	} else {
		if r.tokens < l.burst {
			// The conversion forbids fusing this into the addition below,
			// which keeps the result bit-identical to the Redis store.
			gain := float64(float64(max(0, now-r.tokensAt)) / 60000 * l.rate)
			r.tokens = min(l.burst, r.tokens+gain)
		}
		r.tokensAt = max(r.tokensAt, now)
	}

	for len(r.batches) > 0 && r.batches[0].deadline <= now {
		b := r.batches[0]
		r.tokens += float64(b.left)
		r.pending -= b.left
		r.batches = r.batches[1:]
	}

	for len(r.expiries) > 0 && r.expiries[0].expiry <= now {
		delete(r.active, r.expiries.pop().seq)
	}

	for h, ls := range r.leases {
		if ls.exp <= now {
			r.leased -= ls.n
			delete(r.leases, h)
		}
	}
}

// free is the capacity left for new admissions and offers.
func (r *room) free(l limits) int64 {
	return l.maxActive - int64(len(r.active)) - r.pending - r.leased
}

// takeOffer spends seq's place in its live batch, if it has one.
func (r *room) takeOffer(seq, now int64) bool {
	i := sort.Search(len(r.batches), func(i int) bool { return r.batches[i].to >= seq })
	if i == len(r.batches) {
		return false
	}
	b := &r.batches[i]
	if b.from > seq || b.deadline <= now {
		return false
	}
	b.left--
	r.pending--
	if b.left == 0 {
		r.batches = append(r.batches[:i], r.batches[i+1:]...)
	}
	return true
}

// admit records seq's admission and returns its expiry.
func (r *room) admit(seq, now int64, l limits) int64 {
	exp := now + l.session
	r.admitUntil(seq, now, exp)
	return exp
}

// admitUntil records seq's admission until exp; one that has already
// ended only spends the place.
func (r *room) admitUntil(seq, now, exp int64) {
	r.claimed.set(seq)
	if exp > now {
		r.active[seq] = exp
		r.expiries.push(expiry{expiry: exp, seq: seq})
	}
	r.admitted++
}

// snapshot counts only what is live at now, without settling, so that it
// reads the same as a settle would leave it.
func (r *room) snapshot(now int64) queue.Snapshot {
	var pending int64
	for _, b := range r.batches {
		if b.deadline > now {
			pending += b.left
		}
	}
	var leased int64
	for _, ls := range r.leases {
		if ls.exp > now {
			leased += ls.n
		}
	}
	return queue.Snapshot{
		Joined:        r.joined,
		Served:        r.served,
		Active:        len(r.active) - r.expiries.countDue(now),
		Pending:       int(pending),
		AdmittedTotal: r.admitted,
		At:            time.UnixMilli(now),
		PolicyVersion: r.policy.Version,
		Leased:        int(leased),
	}
}

// bitset is a set of positive seqs.
type bitset []uint64

func (b bitset) has(seq int64) bool {
	i := uint64(seq) / 64
	return i < uint64(len(b)) && b[i]&(1<<(uint64(seq)%64)) != 0
}

func (b *bitset) set(seq int64) {
	i := uint64(seq) / 64
	for uint64(len(*b)) <= i {
		*b = append(*b, 0)
	}
	(*b)[i] |= 1 << (uint64(seq) % 64)
}

type expiry struct {
	expiry, seq int64
}

// expiryHeap is a binary min-heap on expiry. Sessions change with policy, so
// admissions do not expire in the order they were made.
type expiryHeap []expiry

func (h *expiryHeap) push(e expiry) {
	*h = append(*h, e)
	h.fix(len(*h) - 1)
}

// remove drops seq's entry, keeping the heap order. Releases are rare, so
// a linear search is cheap enough.
func (h *expiryHeap) remove(seq int64) {
	s := *h
	for i := range s {
		if s[i].seq != seq {
			continue
		}
		last := len(s) - 1
		s[i] = s[last]
		*h = s[:last]
		if i < last {
			h.fix(i)
		}
		return
	}
}

// fix restores the heap order around the entry at i.
func (h *expiryHeap) fix(i int) {
	s := *h
	for i > 0 {
		p := (i - 1) / 2
		if s[p].expiry <= s[i].expiry {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
	for {
		c := 2*i + 1
		if c >= len(s) {
			return
		}
		if c+1 < len(s) && s[c+1].expiry < s[c].expiry {
			c++
		}
		if s[i].expiry <= s[c].expiry {
			return
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
}

func (h *expiryHeap) pop() expiry {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	*h = s[:last]
	if last > 0 {
		h.fix(0)
	}
	return top
}

// countDue counts entries with expiry <= now. The heap order means they form
// a subtree at the root, so the walk visits only them and their children.
func (h expiryHeap) countDue(now int64) int {
	n := 0
	stack := []int{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if i >= len(h) || h[i].expiry > now {
			continue
		}
		n++
		stack = append(stack, 2*i+1, 2*i+2)
	}
	return n
}
