package redis

import goredis "github.com/redis/go-redis/v9"

// Every script of a room's line takes the same keys, all of one room, so a
// room lives on one Redis Cluster slot:
//
//	KEYS[1] q        hash: joined, served, tokens, tokens_at, pending, admitted
//	KEYS[2] claimed  bitmap, bit seq set once seq is admitted
//	KEYS[3] active   sorted set: member seq, score admission expiry (ms)
//	KEYS[4] offers   sorted set: member "to:from:deadline_ms", score to
//	KEYS[5] left     hash: a batch's to -> its unclaimed offers
//	KEYS[6] policy   hash: data, version, config_hash
//	KEYS[7] audit    list: audit entries, newest first
//	KEYS[8] leases   hash: holder -> "n:expiry_ms" (see queue.Store.Lease)
//
// ARGV[1] is now in milliseconds, or "" to read the server's TIME, so that
// every instance of the gateway shares one clock. Join, Claim and Advance
// then take the limits: ARGV[2] admit (1 or 0, or v<version>: admit unless
// the saved policy is newer than that version), ARGV[3] rate per minute,
// ARGV[4] burst, ARGV[5] max active, ARGV[6] session (ms), ARGV[7] claim
// window (ms). Claim takes its seq in ARGV[8]. savePolicyScript needs no
// clock and takes arguments of its own; throttleScript takes the clock and
// one key of its own, under the same hash tag.
//
// Numbers become text only through int (%d) and %.17g: Lua's own tostring
// and .. keep 14 digits, which would round the budget or a time and let the
// two stores drift apart.
const prelude = clockPrelude + `
local kq, kclaimed, kactive, koffers, kleft = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local kpolicy, kaudit, kleases = KEYS[6], KEYS[7], KEYS[8]

local function limits()
  local admit = ARGV[2] == '1'
  if string.sub(ARGV[2], 1, 1) == 'v' then
    admit = (tonumber(redis.call('HGET', kpolicy, 'version')) or 0) <= tonumber(string.sub(ARGV[2], 2))
  end
  return {
    admit = admit,
    rate = tonumber(ARGV[3]),
    burst = tonumber(ARGV[4]),
    max_active = tonumber(ARGV[5]),
    session = tonumber(ARGV[6]),
    window = tonumber(ARGV[7]),
  }
end

local function load()
  local v = redis.call('HMGET', kq, 'joined', 'served', 'tokens', 'tokens_at', 'pending', 'admitted')
  return {
    joined = tonumber(v[1]) or 0,
    served = tonumber(v[2]) or 0,
    tokens = tonumber(v[3]) or 0,
    tokens_at = tonumber(v[4]) or 0,
    pending = tonumber(v[5]) or 0,
    admitted = tonumber(v[6]) or 0,
  }
end

local function save(r)
  redis.call('HSET', kq,
    'joined', int(r.joined),
    'served', int(r.served),
    'tokens', string.format('%.17g', r.tokens),
    'tokens_at', int(r.tokens_at),
    'pending', int(r.pending),
    'admitted', int(r.admitted))
end

local function batch(member)
  local to, from, deadline = string.match(member, '^(%d+):(%d+):(%-?%d+)$')
  return tonumber(to), tonumber(from), tonumber(deadline)
end

-- settle refills the budget, hands lapsed offers back and drops expired
-- admissions, in that order.
local function settle(r, now, lim)
  if r.tokens_at == 0 then
    r.tokens = lim.burst
    r.tokens_at = now
  else
    if r.tokens < lim.burst then
      local gain = math.max(0, now - r.tokens_at) / 60000 * lim.rate
      r.tokens = math.min(lim.burst, r.tokens + gain)
    end
    r.tokens_at = math.max(r.tokens_at, now)
  end

  while true do
    local head = redis.call('ZRANGE', koffers, 0, 0)
    if #head == 0 then
      break
    end
    local to, _, deadline = batch(head[1])
    if deadline > now then
      break
    end
    local left = tonumber(redis.call('HGET', kleft, int(to))) or 0
    r.tokens = r.tokens + left
    r.pending = r.pending - left
    redis.call('ZREM', koffers, head[1])
    redis.call('HDEL', kleft, int(to))
  end

  redis.call('ZREMRANGEBYSCORE', kactive, '-inf', int(now))

  r.leased = 0
  local leases = redis.call('HGETALL', kleases)
  for i = 1, #leases, 2 do
    local n, exp = string.match(leases[i + 1], '^(%d+):(%-?%d+)$')
    if tonumber(exp) <= now then
      redis.call('HDEL', kleases, leases[i])
    else
      r.leased = r.leased + tonumber(n)
    end
  end
end

local function free(r, lim)
  return lim.max_active - redis.call('ZCARD', kactive) - r.pending - r.leased
end

-- admit_until records seq's admission until exp; one that has already ended
-- only spends the place.
local function admit_until(r, seq, now, exp)
  redis.call('SETBIT', kclaimed, int(seq), 1)
  if exp > now then
    redis.call('ZADD', kactive, int(exp), int(seq))
  end
  r.admitted = r.admitted + 1
end

local function admit(r, seq, now, lim)
  local exp = now + lim.session
  admit_until(r, seq, now, exp)
  return exp
end

-- take_offer spends seq's place in its live batch, if it has one.
local function take_offer(r, seq, now)
  local hit = redis.call('ZRANGEBYSCORE', koffers, int(seq), '+inf', 'LIMIT', 0, 1)
  if #hit == 1 then
    local to, from, deadline = batch(hit[1])
    if from <= seq and deadline > now then
      if redis.call('HINCRBY', kleft, int(to), -1) <= 0 then
        redis.call('ZREM', koffers, hit[1])
        redis.call('HDEL', kleft, int(to))
      end
      r.pending = r.pending - 1
      return true
    end
  end
  return false
end

local function policy_version()
  return tonumber(redis.call('HGET', kpolicy, 'version')) or 0
end

-- snapshot counts only what is live at now, without settling, and reads the
-- policy version so that a controller's tick learns of a saved change.
local function snapshot(r, now)
  local active = redis.call('ZCOUNT', kactive, '(' .. int(now), '+inf')
  local pending = 0
  for _, member in ipairs(redis.call('ZRANGE', koffers, 0, -1)) do
    local to, _, deadline = batch(member)
    if deadline > now then
      pending = pending + (tonumber(redis.call('HGET', kleft, int(to))) or 0)
    end
  end
  local leased = 0
  local leases = redis.call('HVALS', kleases)
  for _, v in ipairs(leases) do
    local n, exp = string.match(v, '^(%d+):(%-?%d+)$')
    if tonumber(exp) > now then
      leased = leased + tonumber(n)
    end
  end
  return {r.joined, r.served, active, pending, r.admitted, now, policy_version(), leased}
end
`

// clockPrelude is the part of prelude that every script with a clock needs,
// whatever its keys.
const clockPrelude = `
local function int(x)
  return string.format('%d', x)
end

local function clock()
  if ARGV[1] ~= '' then
    return tonumber(ARGV[1])
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// joinScript hands out the next seq with HINCRBY, so seqs are unique and
// gap-free across every instance. Only when nobody waits ahead (served ==
// seq-1) and the room admits does it settle and admit the visitor in the same
// step; otherwise the join writes nothing but the counter.
// Returns {seq, admitted (0|1), expiry ms}.
var joinScript = goredis.NewScript(prelude + `
local seq = redis.call('HINCRBY', kq, 'joined', 1)
local lim = limits()
if not lim.admit then
  return {seq, 0, 0}
end
local served = tonumber(redis.call('HGET', kq, 'served')) or 0
if served ~= seq - 1 then
  return {seq, 0, 0}
end
local now = clock()
local r = load()
settle(r, now, lim)
if r.tokens < 1 or free(r, lim) < 1 then
  save(r)
  return {seq, 0, 0}
end
r.served = seq
r.tokens = r.tokens - 1
local exp = admit(r, seq, now, lim)
save(r)
return {seq, 1, exp}
`)

// claimScript admits seq at most once: the claimed bit is tested and set in
// the same script, so of any number of racing claims exactly one answers
// First. A live offer is spent from its batch; a lapsed one is admitted late
// only when the room admits and both budget and capacity are free.
// Returns {outcome, expiry ms, first (0|1)} with outcome 0 not offered,
// 1 admitted, 2 lapsed, 3 ended.
var claimScript = goredis.NewScript(prelude + `
local seq = tonumber(ARGV[8])
local served = tonumber(redis.call('HGET', kq, 'served')) or 0
if seq < 1 or seq > served then
  return {0, 0, 0}
end
local now = clock()
if redis.call('GETBIT', kclaimed, int(seq)) == 1 then
  local exp = tonumber(redis.call('ZSCORE', kactive, int(seq)) or '')
  if exp and exp > now then
    return {1, exp, 0}
  end
  return {3, 0, 0}
end

local lim = limits()
local r = load()
settle(r, now, lim)
if not take_offer(r, seq, now) then
  if not lim.admit or r.tokens < 1 or free(r, lim) < 1 then
    save(r)
    return {2, 0, 0}
  end
  r.tokens = r.tokens - 1
end
local exp = admit(r, seq, now, lim)
save(r)
return {1, exp, 1}
`)

// advanceScript settles the room and, when it admits, offers the next
// min(floor(budget), free capacity, visitors waiting) seqs as one batch, so
// the frontier only moves forward, in arrival order, within the limits.
// Returns {joined, served, active, pending, admitted, now ms, policy version,
// leased, offered}.
var advanceScript = goredis.NewScript(prelude + `
local now = clock()
local lim = limits()
local r = load()
settle(r, now, lim)
local n = 0
if lim.admit then
  n = math.max(0, math.min(math.floor(r.tokens), free(r, lim), r.joined - r.served))
end
if n > 0 then
  local from, to, deadline = r.served + 1, r.served + n, now + lim.window
  redis.call('ZADD', koffers, int(to), int(to) .. ':' .. int(from) .. ':' .. int(deadline))
  redis.call('HSET', kleft, int(to), int(n))
  r.served = to
  r.pending = r.pending + n
  r.tokens = r.tokens - n
end
save(r)
local snap = snapshot(r, now)
snap[9] = n
return snap
`)

// leaseScript records a holder's own admissions, hands its lease back and
// takes a new one (see queue.Store.Lease). ARGV[8] is the holder, ARGV[9]
// how many admissions it wants, ARGV[10] the lease's time to live (ms), and
// ARGV[11..] pairs of seq and admission expiry (ms), in ascending seq.
// Returns {n, total leased, served, now ms, expiry ms}.
var leaseScript = goredis.NewScript(prelude + `
local now = clock()
local lim = limits()
local r = load()
settle(r, now, lim)
local holder, want, ttl = ARGV[8], tonumber(ARGV[9]), math.max(tonumber(ARGV[10]), 1)
for i = 11, #ARGV, 2 do
  local seq, exp = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  if seq >= 1 and seq <= r.joined and redis.call('GETBIT', kclaimed, int(seq)) == 0 then
    r.served = math.max(r.served, seq)
    if not take_offer(r, seq, now) then
      r.tokens = r.tokens - 1
    end
    admit_until(r, seq, now, exp)
  end
end
local old = redis.call('HGET', kleases, holder)
if old then
  local n = tonumber(string.match(old, '^(%d+):'))
  r.leased = r.leased - n
  redis.call('HDEL', kleases, holder)
end
local n = 0
if lim.admit and want > 0 then
  local nl = redis.call('HLEN', kleases)
  local share = math.floor((want + nl) / (nl + 1))
  n = math.max(0, math.min(share, want - r.leased, free(r, lim)))
  redis.call('HSET', kleases, holder, int(n) .. ':' .. int(now + ttl + lim.session))
  r.leased = r.leased + n
end
save(r)
return {n, r.leased, r.served, now, now + ttl}
`)

// snapshotScript only reads, and runs as EVAL_RO, so Redis refuses it any
// write; a room never used reads as zeros and stays absent.
// Returns {joined, served, active, pending, admitted, now ms, policy version,
// leased}.
var snapshotScript = goredis.NewScript(prelude + `
return snapshot(load(), clock())
`)

// savePolicyScript replaces a room's policy only if its version is still the
// expected one, so of racing saves from the same version exactly one wins.
// The audit entry and the notification are part of the same step: a saved
// policy always has its entry, and a watcher never hears of a save that did
// not happen. PUBLISH names a channel, not a key, so Cluster allows it here.
//
// ARGV[1] expected version, ARGV[2] data, ARGV[3] config hash, ARGV[4] 1 to
// record ARGV[5] as an audit entry (0: none), ARGV[6] how many entries to
// keep, ARGV[7] the channel to publish on, ARGV[8] the room id it publishes.
// Returns {1, new version} or, when the version has moved on, {0, version}.
var savePolicyScript = goredis.NewScript(prelude + `
local expect = tonumber(ARGV[1])
local version = policy_version()
if version ~= expect then
  return {0, version}
end
version = expect + 1
redis.call('HSET', kpolicy, 'data', ARGV[2], 'version', int(version), 'config_hash', ARGV[3])
if ARGV[4] == '1' then
  redis.call('LPUSH', kaudit, ARGV[5])
  redis.call('LTRIM', kaudit, 0, tonumber(ARGV[6]) - 1)
end
redis.call('PUBLISH', ARGV[7], ARGV[8])
return {1, version}
`)

// throttleScript is GCRA on one stored time: KEYS[1] holds the bucket's
// theoretical arrival time (TAT), the instant, in microseconds, at which it
// would be full again. A call at now takes a token when TAT, or now if that
// is later, lies at most (burst-1) intervals ahead, and moves TAT one
// interval on; racing calls from every instance take at most burst tokens
// at once and one an interval after that. A refused call writes nothing.
// The key expires a minute after the bucket is full again, so an idle
// throttle leaves nothing behind: a missing key reads as a full bucket, and
// so does one whose TAT has passed. The minute is for expiries, which run
// on the server's own clock while the script may read another (Options.Now,
// or a replica's TIME after a failover): a skew below a minute never drops
// a key whose bucket still lacks tokens.
//
// ARGV[1] the clock as above, ARGV[2] the interval between tokens (µs, an
// integer), ARGV[3] the burst (an integer, at least 1). Every value is an
// integer of microseconds well below 2^53, so Lua's doubles keep it exact.
// Returns {1, 0} when a token was taken, or {0, ms until the next token,
// rounded up}.
var throttleScript = goredis.NewScript(clockPrelude + `
local now = clock() * 1000
local interval, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '') or 0, now)
local wait = tat - (burst - 1) * interval - now
if wait > 0 then
  return {0, math.ceil(wait / 1000)}
end
tat = tat + interval
redis.call('SET', KEYS[1], int(tat), 'PX', int(math.ceil((tat - now) / 1000) + 60000))
return {1, 0}
`)

// The mark scripts keep one of a room's sets in KEYS[1], a sorted set of
// keys scored by expiry (Unix ms on the scripts' clock). A mark expires at
// its score: a score at or before now counts as gone. ARGV[1] is the clock.

// markScript puts ARGV[3] in the set for ARGV[2] ms and returns {1} when it
// was not there unexpired, {0} otherwise, keeping the later expiry. It drops
// the expired marks first, and keeps the set a minute past its newest mark,
// so that sets that go idle leave nothing behind.
var markScript = goredis.NewScript(clockPrelude + `
local now = clock()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local exp = now + tonumber(ARGV[2])
local old = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not old or exp > tonumber(old) then
  redis.call('ZADD', KEYS[1], int(exp), ARGV[3])
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[1], int(tonumber(last[2]) - now + 60000))
if old then
  return {0}
end
return {1}
`)

// unmarkScript takes ARGV[2] out of the set and returns {1} when it was
// there unexpired.
var unmarkScript = goredis.NewScript(clockPrelude + `
local old = redis.call('ZSCORE', KEYS[1], ARGV[2])
redis.call('ZREM', KEYS[1], ARGV[2])
if old and tonumber(old) > clock() then
  return {1}
end
return {0}
`)

// markedScript returns the unexpired marks as key, expiry, key, expiry...
var markedScript = goredis.NewScript(clockPrelude + `
return redis.call('ZRANGE', KEYS[1], '(' .. int(clock()), '+inf', 'BYSCORE', 'WITHSCORES')
`)

// rotateScript applies the rotation rules of queue.Store to one visitor's
// hash in KEYS[1] (cur, at, grace_at, flagged, exp; times in ms on the
// scripts' clock). ARGV[2] is the generation presented, ARGV[3] the grace,
// ARGV[4] the cooldown and ARGV[5] the state's life after each use (ms).
// The state ends at exp on the scripts' clock; the key itself expires a
// minute later on the server's, so that a skew between the two never drops
// a live state. Returns {next generation, 0} or {0, 1} for a copy.
var rotateScript = goredis.NewScript(clockPrelude + `
local now = clock()
local gen, grace, cooldown, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'cur', 'at', 'grace_at', 'flagged', 'exp')
local cur = tonumber(s[1] or '')
local exp = tonumber(s[5] or '')
if exp ~= nil and now >= exp then
  cur = nil
end
local function keep()
  redis.call('HSET', KEYS[1], 'exp', int(now + ttl))
  redis.call('PEXPIRE', KEYS[1], int(ttl + 60000))
end
if cur == nil or gen > cur then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'cur', int(gen + 1), 'at', int(now))
  keep()
  return {gen + 1, 0}
end
keep()
if s[4] == '1' then
  return {0, 1}
end
if gen == cur then
  redis.call('HSET', KEYS[1], 'cur', int(cur + 1), 'at', int(now))
  return {cur + 1, 0}
end
local graceAt = tonumber(s[3] or '')
if gen == cur - 1 and now - tonumber(s[2]) <= grace and (graceAt == nil or now - graceAt >= cooldown) then
  redis.call('HSET', KEYS[1], 'grace_at', int(now))
  return {cur, 0}
end
redis.call('HSET', KEYS[1], 'flagged', '1')
return {0, 1}
`)

// reproveScript clears the copy flag in KEYS[1] and starts the generation
// after cur with no grace (at 0), living ARGV[2] ms. Returns {generation}.
var reproveScript = goredis.NewScript(clockPrelude + `
local now = clock()
local s = redis.call('HMGET', KEYS[1], 'cur', 'exp')
local cur = tonumber(s[1] or '') or 0
local exp = tonumber(s[2] or '')
if exp ~= nil and now >= exp then
  cur = 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'cur', int(cur + 1), 'at', '0', 'exp', int(now + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], int(tonumber(ARGV[2]) + 60000))
return {cur + 1}
`)

// bindScript binds KEYS[1] to ARGV[3] for ARGV[2] ms unless it is bound
// already (an empty ARGV[3] only looks it up), and returns the bound value. The binding ends at its exp on the
// scripts' clock; the key expires a minute later on the server's.
var bindScript = goredis.NewScript(clockPrelude + `
local now = clock()
local s = redis.call('HMGET', KEYS[1], 'value', 'exp')
local exp = tonumber(s[2] or '')
if s[1] and exp ~= nil and now < exp then
  return s[1]
end
if ARGV[3] == '' then
  return ''
end
redis.call('HSET', KEYS[1], 'value', ARGV[3], 'exp', int(now + tonumber(ARGV[2])))
redis.call('PEXPIRE', KEYS[1], int(tonumber(ARGV[2]) + 60000))
return ARGV[3]
`)

// releaseScript ends seq ARGV[2]'s admission in the room's active set
// (KEYS[3]) if it has not expired by the clock ARGV[1]. Returns {1} when
// it did, {0} otherwise.
var releaseScript = goredis.NewScript(clockPrelude + `
local exp = tonumber(redis.call('ZSCORE', KEYS[3], ARGV[2]) or '')
if exp and exp > clock() then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return {1}
end
return {0}
`)
