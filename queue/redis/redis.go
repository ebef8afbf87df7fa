// Package redis keeps waiting lines in Redis, so that any number of gateway
// instances share them.
//
// Every write is one Lua script, atomic for its room across all instances;
// reading a policy or an audit trail is one command. The scripts read Redis
// TIME as the one clock, so instances with skewed clocks still agree on
// deadlines and expiries. All keys of a room share the hash tag {room}, so a
// room lives on one Redis Cluster slot; a single server, Sentinel and
// Cluster all work. A room's keys, under the prefix:
//
//	{room}:q        hash: joined, served, tokens, tokens_at, pending, admitted
//	{room}:claimed  bitmap: bit seq is set once seq is admitted
//	{room}:active   sorted set: seq scored by admission expiry (Unix ms)
//	{room}:offers   sorted set: "to:from:deadline_ms" scored by to
//	{room}:left     hash: an offer batch's to -> offers still unclaimed
//	{room}:policy   hash: data (the policy's bytes), version, config_hash
//	{room}:audit    list: audit entries, newest first, at most queue.AuditKeep
//	{room}:throttle:<name>  string: a throttle's theoretical arrival time (Unix µs)
//	{room}:marks:<set>      sorted set: a set's marks scored by expiry (Unix ms)
//	{room}:gen:<visitor>    hash: a visitor's ticket generation: cur, at, grace_at, flagged, exp
//	{room}:bind:<set>:<key> hash: a binding's value and exp
//
// The room's keys carry no TTL: a room lasts until an operator deletes its
// keys. Throttles, marks, generations and bindings are the exception: a throttle's
// key expires a minute after its bucket is full again, a set of marks a
// minute after its newest mark, a visitor's generation a ticket's life after
// its last use, and a binding a minute after its own, so what goes idle
// leaves nothing behind.
//
// The script that saves a policy also publishes the room id on the channel
// "policy-changes" under the prefix, so every instance hears of the change
// in the same step.
package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/usherhq/usher/queue"
)

var _ queue.Store = (*Store)(nil)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "usher:"

// Options configures a Store.
type Options struct {
	// Prefix starts every key, so several deployments can share one Redis.
	// Default DefaultPrefix. It must not contain '{' or '}', which would
	// break the room's hash tag.
	Prefix string
	// Now replaces Redis TIME as the clock, for tests only: it is passed to
	// every script as milliseconds. Nil (the default) uses Redis TIME.
	Now func() time.Time
	// Replicas, when positive, is how many replicas an admission must
	// reach before the store reports it: the script and a WAIT go on one
	// connection, so that a master that fails over to a replica loses no
	// admission a visitor was given a pass for. An admission not confirmed
	// within ReplicaTimeout is reported as the store's failure (a join
	// then gives a place without it, and a claim may be repeated: the
	// admission stands, once). For Sentinel, whose masters have replicas;
	// not for Cluster. Default 0: no wait.
	Replicas int
	// ReplicaTimeout bounds the wait for replicas. Default 100ms.
	ReplicaTimeout time.Duration
}

// Store is a queue.Store on Redis. It is safe for concurrent use.
type Store struct {
	client         goredis.UniversalClient
	prefix         string
	now            func() time.Time
	replicas       int
	replicaTimeout time.Duration
}

// New returns a Store that keeps its rooms in client. The Store owns client:
// Close closes it.
func New(client goredis.UniversalClient, opts Options) (*Store, error) {
	if client == nil {
		return nil, errors.New("redis queue store: nil client")
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("redis queue store: prefix %q must not contain '{' or '}'", prefix)
	}
	if opts.ReplicaTimeout <= 0 {
		opts.ReplicaTimeout = 100 * time.Millisecond
	}
	return &Store{client: client, prefix: prefix, now: opts.Now, replicas: max(opts.Replicas, 0), replicaTimeout: opts.ReplicaTimeout}, nil
}

// errEmptyRoom rejects the room id that would leave its keys without a hash
// tag, scattered over Cluster slots.
var errEmptyRoom = errors.New("empty room id")

// Join gives a new visitor the next arrival number and admits them at once
// when nobody waits ahead and lim allows it.
func (s *Store) Join(ctx context.Context, room string, lim queue.Limits) (queue.Place, error) {
	v, replicated, err := s.runReplicated(ctx, joinScript, room, 3, s.args(lim)...)
	if err != nil {
		return queue.Place{}, fmt.Errorf("join room %q: %w", room, err)
	}
	p := queue.Place{Seq: v[0], Admitted: v[1] == 1}
	if p.Admitted && replicated != nil {
		// The place stands; its admission is claimed again, and answered
		// from the store, once a replica has it.
		p.Admitted = false
	}
	if p.Admitted {
		p.Expires = time.UnixMilli(v[2])
	}
	return p, nil
}

// outcomes maps claimScript's codes to outcomes.
var outcomes = [...]queue.Outcome{queue.NotOffered, queue.Admitted, queue.Lapsed, queue.Ended}

// Claim turns the offer made to seq into an admission, or answers why it
// cannot.
func (s *Store) Claim(ctx context.Context, room string, seq int64, lim queue.Limits) (queue.Claim, error) {
	v, replicated, err := s.runReplicated(ctx, claimScript, room, 3, append(s.args(lim), seq)...)
	if err == nil && v[2] == 1 && replicated != nil {
		err = replicated
	}
	if err != nil {
		return queue.Claim{}, fmt.Errorf("claim seq %d in room %q: %w", seq, room, err)
	}
	if v[0] < 0 || v[0] >= int64(len(outcomes)) {
		return queue.Claim{}, fmt.Errorf("claim seq %d in room %q: unknown outcome %d", seq, room, v[0])
	}
	c := queue.Claim{Outcome: outcomes[v[0]], First: v[2] == 1}
	if c.Outcome == queue.Admitted {
		c.Expires = time.UnixMilli(v[1])
	}
	return c, nil
}

// Advance settles the room and, if lim.Admit, offers admission to as many
// waiting visitors as budget, capacity and the line allow.
func (s *Store) Advance(ctx context.Context, room string, lim queue.Limits) (queue.Snapshot, error) {
	v, err := s.run(ctx, advanceScript.Run, room, 9, s.args(lim)...)
	if err != nil {
		return queue.Snapshot{}, fmt.Errorf("advance room %q: %w", room, err)
	}
	snap := snapshot(v)
	snap.Offered = int(v[8])
	return snap, nil
}

// Lease records holder's own admissions, hands its lease back and takes a
// new one, in one script.
func (s *Store) Lease(ctx context.Context, room, holder string, used []queue.LeaseAdmission, want int, ttl time.Duration, lim queue.Limits) (queue.Lease, error) {
	args := append(s.args(lim), holder, max(want, 0), ttl.Milliseconds())
	for _, u := range queue.SortedAdmissions(used) {
		args = append(args, u.Seq, u.Expires.UnixMilli())
	}
	v, replicated, err := s.runReplicated(ctx, leaseScript, room, 5, args...)
	if err == nil && (len(used) > 0 || v[0] > 0) && replicated != nil {
		// The admissions reported, and the capacity the new lease keeps,
		// must survive a failover before the holder relies on them.
		err = replicated
	}
	if err != nil {
		return queue.Lease{}, fmt.Errorf("lease in room %q: %w", room, err)
	}
	return queue.Lease{N: int(v[0]), Total: int(v[1]), Served: v[2], At: time.UnixMilli(v[3]), Expires: time.UnixMilli(v[4])}, nil
}

// Snapshot reads a room's counters without changing anything. A room never
// used answers zeros.
func (s *Store) Snapshot(ctx context.Context, room string) (queue.Snapshot, error) {
	v, err := s.run(ctx, snapshotScript.RunRO, room, 8, s.clock())
	if err != nil {
		return queue.Snapshot{}, fmt.Errorf("snapshot room %q: %w", room, err)
	}
	return snapshot(v), nil
}

// Throttle takes one token from the room's bucket name, kept in the key
// {room}:throttle:<name> by one script, so that every Store on the same
// server and prefix shares the bucket. Its clock is the other scripts'.
func (s *Store) Throttle(ctx context.Context, room, name string, perMinute float64, burst int) (bool, time.Duration, error) {
	if room == "" {
		return false, 0, errEmptyRoom
	}
	// Written as a negation so that NaN always allows too.
	if !(perMinute > 0) {
		return true, 0, nil
	}
	interval, b := queue.ThrottleBucket(perMinute, burst)
	v, err := s.eval(ctx, throttleScript.Run, []string{s.key(room, "throttle:"+name)}, 2, s.clock(), interval, b)
	if err != nil {
		return false, 0, fmt.Errorf("throttle %q of room %q: %w", name, room, err)
	}
	if v[0] == 1 {
		return true, 0, nil
	}
	return false, time.Duration(v[1]) * time.Millisecond, nil
}

// Release ends seq's admission now, by one script on the room's keys.
func (s *Store) Release(ctx context.Context, room string, seq int64) (bool, error) {
	v, err := s.run(ctx, releaseScript.Run, room, 1, s.clock(), seq)
	if err != nil {
		return false, fmt.Errorf("release place %d of room %q: %w", seq, room, err)
	}
	return v[0] == 1, nil
}

// Mark puts key in the room's set, kept in the sorted set
// {room}:marks:<set> by one script on the other scripts' clock.
func (s *Store) Mark(ctx context.Context, room, set, key string, ttl time.Duration) (bool, error) {
	if room == "" {
		return false, errEmptyRoom
	}
	v, err := s.eval(ctx, markScript.Run, []string{s.key(room, "marks:"+set)}, 1, s.clock(), queue.MarkTTL(ttl).Milliseconds(), key)
	if err != nil {
		return false, fmt.Errorf("mark %q in set %q of room %q: %w", key, set, room, err)
	}
	return v[0] == 1, nil
}

// Unmark takes key out of the room's set.
func (s *Store) Unmark(ctx context.Context, room, set, key string) (bool, error) {
	if room == "" {
		return false, errEmptyRoom
	}
	v, err := s.eval(ctx, unmarkScript.Run, []string{s.key(room, "marks:"+set)}, 1, s.clock(), key)
	if err != nil {
		return false, fmt.Errorf("unmark %q in set %q of room %q: %w", key, set, room, err)
	}
	return v[0] == 1, nil
}

// Marked returns the unexpired keys of the room's set.
func (s *Store) Marked(ctx context.Context, room, set string) (map[string]time.Time, error) {
	if room == "" {
		return nil, errEmptyRoom
	}
	v, err := markedScript.Run(ctx, s.client, []string{s.key(room, "marks:"+set)}, s.clock()).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("marks in set %q of room %q: %w: %w", set, room, queue.ErrUnavailable, err)
	}
	if len(v)%2 != 0 {
		return nil, fmt.Errorf("marks in set %q of room %q: odd reply of %d values", set, room, len(v))
	}
	out := make(map[string]time.Time, len(v)/2)
	for i := 0; i < len(v); i += 2 {
		ms, err := strconv.ParseFloat(v[i+1], 64)
		if err != nil {
			return nil, fmt.Errorf("marks in set %q of room %q: expiry %q: %w", set, room, v[i+1], err)
		}
		out[v[i]] = time.UnixMilli(int64(ms))
	}
	return out, nil
}

// Bind binds key to value in the hash {room}:bind:<set>:<key>, unless it is
// bound already, by one script on the other scripts' clock.
func (s *Store) Bind(ctx context.Context, room, set, key, value string, ttl time.Duration) (string, error) {
	if room == "" {
		return "", errEmptyRoom
	}
	v, err := bindScript.Run(ctx, s.client, []string{s.key(room, "bind:"+set+":"+key)}, s.clock(), queue.MarkTTL(ttl).Milliseconds(), value).Text()
	if err != nil {
		return "", fmt.Errorf("bind in set %q of room %q: %w: %w", set, room, queue.ErrUnavailable, err)
	}
	return v, nil
}

// Rotate applies the rotation rules to the visitor's hash
// {room}:gen:<visitor>, by one script on the other scripts' clock.
func (s *Store) Rotate(ctx context.Context, room, visitor string, gen int64, lim queue.RotateLimits) (queue.Rotation, error) {
	if room == "" {
		return queue.Rotation{}, errEmptyRoom
	}
	v, err := s.eval(ctx, rotateScript.Run, []string{s.key(room, "gen:"+visitor)}, 2,
		s.clock(), gen, lim.Grace.Milliseconds(), lim.Cooldown.Milliseconds(), max(1, lim.TTL.Milliseconds()))
	if err != nil {
		return queue.Rotation{}, fmt.Errorf("rotate a ticket of room %q: %w", room, err)
	}
	return queue.Rotation{Gen: v[0], Copied: v[1] == 1}, nil
}

// Reprove clears the visitor's flag and starts a generation with no grace.
func (s *Store) Reprove(ctx context.Context, room, visitor string, lim queue.RotateLimits) (int64, error) {
	if room == "" {
		return 0, errEmptyRoom
	}
	v, err := s.eval(ctx, reproveScript.Run, []string{s.key(room, "gen:"+visitor)}, 1, s.clock(), max(1, lim.TTL.Milliseconds()))
	if err != nil {
		return 0, fmt.Errorf("reprove a visitor of room %q: %w", room, err)
	}
	return v[0], nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping: %w: %w", queue.ErrUnavailable, err)
	}
	return nil
}

// Close closes the client passed to New.
func (s *Store) Close() error {
	return s.client.Close()
}

// runner is a Script's Run or RunRO: EVALSHA, falling back to EVAL when
// Redis has flushed its script cache.
type runner func(ctx context.Context, c goredis.Scripter, keys []string, args ...any) *goredis.Cmd

// run runs a script on room's keys and checks that it answered n integers.
func (s *Store) run(ctx context.Context, script runner, room string, n int, args ...any) ([]int64, error) {
	if room == "" {
		return nil, errEmptyRoom
	}
	return s.eval(ctx, script, s.keys(room), n, args...)
}

// runReplicated is run for a script that may admit someone. With
// Options.Replicas set, the script and a WAIT for the replicas go on one
// connection (a pipeline), and replicated is the error to report if the
// script's writes did not reach them in time; the caller decides whether
// what the script did needs them.
func (s *Store) runReplicated(ctx context.Context, script *goredis.Script, room string, n int, args ...any) (v []int64, replicated, err error) {
	if s.replicas == 0 {
		v, err = s.run(ctx, script.Run, room, n, args...)
		return v, nil, err
	}
	if room == "" {
		return nil, nil, errEmptyRoom
	}
	keys := s.keys(room)
	for attempt := 0; ; attempt++ {
		var eval *goredis.Cmd
		var wait *goredis.Cmd
		_, perr := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			eval = script.EvalSha(ctx, p, keys, args...)
			wait = p.Do(ctx, "wait", s.replicas, s.replicaTimeout.Milliseconds())
			return nil
		})
		if perr != nil && goredis.HasErrorPrefix(eval.Err(), "NOSCRIPT") && attempt == 0 {
			if err := script.Load(ctx, s.client).Err(); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", queue.ErrUnavailable, err)
			}
			continue
		}
		if err := eval.Err(); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", queue.ErrUnavailable, err)
		}
		v, err = decode(eval, n)
		if err != nil {
			return nil, nil, err
		}
		if got, werr := wait.Int64(); werr != nil || got < int64(s.replicas) {
			replicated = fmt.Errorf("%w: the change reached %d of %d replicas within %v (%v)", queue.ErrUnavailable, got, s.replicas, s.replicaTimeout, werr)
		}
		return v, replicated, nil
	}
}

// eval runs a script on keys and checks that it answered n integers.
// Failures to reach Redis, and errors Redis answers, wrap
// queue.ErrUnavailable; a context that ended stays recognisable as well.
func (s *Store) eval(ctx context.Context, script runner, keys []string, n int, args ...any) ([]int64, error) {
	cmd := script(ctx, s.client, keys, args...)
	if err := cmd.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", queue.ErrUnavailable, err)
	}
	return decode(cmd, n)
}

// decode reads a script's reply of n integers.
func decode(cmd *goredis.Cmd, n int) ([]int64, error) {
	v, err := cmd.Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("decode script reply: %w", err)
	}
	if len(v) != n {
		return nil, fmt.Errorf("decode script reply: got %d values, want %d", len(v), n)
	}
	return v, nil
}

// keys names a room's keys in the order the scripts expect them.
func (s *Store) keys(room string) []string {
	base := s.prefix + "{" + room + "}:"
	return []string{
		base + "q", base + "claimed", base + "active", base + "offers", base + "left",
		base + "policy", base + "audit", base + "leases",
	}
}

// key names one of a room's keys.
func (s *Store) key(room, name string) string {
	return s.prefix + "{" + room + "}:" + name
}

// clock is the scripts' ARGV[1]: now in milliseconds, or "" for Redis TIME.
func (s *Store) clock() string {
	if s.now == nil {
		return ""
	}
	return strconv.FormatInt(s.now().UnixMilli(), 10)
}

// args encodes the clock and lim as the scripts' ARGV[1..7]. Rates that are
// negative or NaN count as zero and a burst below 1 as 1, exactly as the
// in-memory store does.
func (s *Store) args(lim queue.Limits) []any {
	admit := "0"
	switch {
	case lim.Admit && lim.PolicyVersion > 0:
		admit = "v" + strconv.FormatInt(lim.PolicyVersion, 10)
	case lim.Admit:
		admit = "1"
	}
	rate, burst := lim.RatePerMinute, lim.Burst
	// Written as negations so that NaN falls back too.
	if !(rate > 0) {
		rate = 0
	}
	if !(burst >= 1) {
		burst = 1
	}
	return []any{
		s.clock(),
		admit,
		strconv.FormatFloat(rate, 'g', -1, 64),
		strconv.FormatFloat(burst, 'g', -1, 64),
		lim.MaxActive,
		lim.Session.Milliseconds(),
		lim.ClaimWindow.Milliseconds(),
	}
}

// snapshot decodes {joined, served, active, pending, admitted, now ms,
// policy version, leased}.
func snapshot(v []int64) queue.Snapshot {
	return queue.Snapshot{
		Joined:        v[0],
		Served:        v[1],
		Active:        int(v[2]),
		Pending:       int(v[3]),
		AdmittedTotal: v[4],
		At:            time.UnixMilli(v[5]),
		PolicyVersion: v[6],
		Leased:        int(v[7]),
	}
}
