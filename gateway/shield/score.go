package shield

import (
	"bytes"
	"hash/maphash"
	"math"
	"math/bits"
	"net/netip"
	"strings"
	"time"
)

// Reason is a set of bot signals, as bit flags. Each signal has a fixed
// weight, and a request's bot score is the sum of the weights of the
// signals it shows, capped at 100 (see [Reason.Score]).
type Reason uint32

// The signals, in bit order, each with its weight. What a score leads to,
// allow, challenge or block, is up to each room's thresholds.
const (
	// ReasonNoAcceptLanguage: the request has no Accept-Language header,
	// or an empty one. Every browser sends one. Weight 15.
	ReasonNoAcceptLanguage Reason = 1 << iota
	// ReasonAutomationAgent: the User-Agent is empty, or names an HTTP
	// library or automation tool (curl, wget, python-requests,
	// python-urllib, aiohttp, httpx, Go-http-client, okhttp, Java/,
	// Apache-HttpClient, libwww-perl, node-fetch, axios, undici, Scrapy,
	// PostmanRuntime, Selenium, webdriver, puppeteer, playwright,
	// PhantomJS), in any case. Weight 50.
	ReasonAutomationAgent
	// ReasonHeadless: "HeadlessChrome", in any case, in the User-Agent or
	// the Sec-CH-UA header. Weight 50.
	ReasonHeadless
	// ReasonJoinRate: this address joined more often than
	// [ScorerConfig.JoinsPerMinute] allows. Weight 40: alone it reaches
	// the default challenge threshold, as [ReasonCookielessJoins] does,
	// since a client that sends any ticket cookie, even a made-up one,
	// escapes that signal.
	ReasonJoinRate
	// ReasonSubnetJoinRate: this address's [Subnet] joined more often than
	// [ScorerConfig.SubnetJoinsPerMinute] allows. Weight 20.
	ReasonSubnetJoinRate
	// ReasonFastPoll: this visitor polls its status faster than it was
	// told to (see [Scorer.Poll]). Weight 30.
	ReasonFastPoll
	// ReasonCookielessJoins: this address keeps joining without sending
	// back the ticket cookie it was given (see
	// [ScorerConfig.CookielessJoins]). Weight 40: alone it reaches the
	// default challenge threshold, since one address opening place after
	// place without keeping any is what a bot taking many places does; a
	// household behind one address meets one challenge, once.
	ReasonCookielessJoins
	// ReasonPassSpread: this visitor's pass was used from more distinct
	// networks than [ScorerConfig.PassNetworks] allows. Weight 60.
	ReasonPassSpread
	// ReasonFailedChallenges: this address failed more challenges recently
	// than [ScorerConfig.FailedChallenges] allows. Weight 25.
	ReasonFailedChallenges
	// ReasonCrowdedAddress: a status poll or page of a place in line, from
	// an address whose joins showed [ReasonJoinRate] or
	// [ReasonCookielessJoins] within the last 10 minutes (see
	// [Scorer.Poll]). Weight 40: the places an address took before it
	// went over are as likely a bot's as those after, which were
	// challenged at their join.
	ReasonCrowdedAddress

	reasonCount = iota
)

// MaxScore is the highest score; [Reason.Score] caps the sum of weights at it.
const MaxScore = 100

var reasonNames = [reasonCount]string{
	"no_accept_language",
	"automation_agent",
	"headless",
	"join_rate",
	"subnet_join_rate",
	"fast_poll",
	"cookieless_joins",
	"pass_spread",
	"failed_challenges",
	"crowded_address",
}

var reasonWeights = [reasonCount]int{15, 50, 50, 40, 20, 30, 40, 60, 25, 40}

// AllReasons lists every single reason in bit order, for instance to create
// every metric label value up front.
var AllReasons = func() []Reason {
	all := make([]Reason, reasonCount)
	for i := range all {
		all[i] = 1 << i
	}
	return all
}()

// known is every reason bit; others are ignored.
const known = Reason(1)<<reasonCount - 1

// Name returns the snake_case name of a single reason, as used in logs and
// metric labels, or "" when r is not exactly one known reason.
func (r Reason) Name() string {
	if r == 0 || r&(r-1) != 0 || r&known == 0 {
		return ""
	}
	return reasonNames[bits.TrailingZeros32(uint32(r))]
}

// Weight returns the weight of a single reason, or the sum of the weights
// of a set, uncapped.
func (r Reason) Weight() int {
	w := 0
	for x := r & known; x != 0; x &= x - 1 {
		w += reasonWeights[bits.TrailingZeros32(uint32(x))]
	}
	return w
}

// Score returns the bot score of the set: the sum of its weights, capped at
// [MaxScore].
func (r Reason) Score() int {
	return min(r.Weight(), MaxScore)
}

// Names returns the names of the reasons in r in bit order; nil for none.
func (r Reason) Names() []string {
	var names []string
	for x := r & known; x != 0; x &= x - 1 {
		names = append(names, reasonNames[bits.TrailingZeros32(uint32(x))])
	}
	return names
}

// String returns the names of the reasons in r joined with ",", or "" for
// none.
func (r Reason) String() string {
	return strings.Join(r.Names(), ",")
}

// Request is what the scorer needs of one HTTP request. The byte slices are
// only read during a call and never kept, so they may point into fasthttp's
// buffers.
type Request struct {
	// Addr is the client's address, as the gateway decided it (trusting
	// X-Forwarded-For only from configured proxies).
	Addr netip.Addr
	// UserAgent is the User-Agent header; nil or empty when absent.
	UserAgent []byte
	// AcceptLanguage is the Accept-Language header; nil or empty when
	// absent.
	AcceptLanguage []byte
	// SecCHUA is the Sec-CH-UA header; nil or empty when absent.
	SecCHUA []byte
}

// uaTokens are what the User-Agent and Sec-CH-UA headers are searched for,
// ignoring ASCII case, each with the reason it shows.
var uaTokens = [...]struct {
	text   string // in lower case
	reason Reason
}{
	{"curl", ReasonAutomationAgent},
	{"wget", ReasonAutomationAgent},
	{"python-requests", ReasonAutomationAgent},
	{"python-urllib", ReasonAutomationAgent},
	{"aiohttp", ReasonAutomationAgent},
	{"httpx", ReasonAutomationAgent},
	{"go-http-client", ReasonAutomationAgent},
	{"okhttp", ReasonAutomationAgent},
	{"java/", ReasonAutomationAgent},
	{"apache-httpclient", ReasonAutomationAgent},
	{"libwww-perl", ReasonAutomationAgent},
	{"node-fetch", ReasonAutomationAgent},
	{"axios", ReasonAutomationAgent},
	{"undici", ReasonAutomationAgent},
	{"scrapy", ReasonAutomationAgent},
	{"postmanruntime", ReasonAutomationAgent},
	{"selenium", ReasonAutomationAgent},
	{"webdriver", ReasonAutomationAgent},
	{"puppeteer", ReasonAutomationAgent},
	{"playwright", ReasonAutomationAgent},
	{"phantomjs", ReasonAutomationAgent},
	{"headlesschrome", ReasonHeadless},
}

// The sets of uaTokens are bits of a uint32.
var _ [32 - len(uaTokens)]struct{}

// uaFirst and uaSecond map a byte, in either case, to the set of uaTokens,
// as bits, that have it first and second, so that a header is scanned once
// for all of them and a byte where none starts costs two lookups.
var uaFirst, uaSecond = func() (first, second [256]uint32) {
	for i, t := range uaTokens {
		for _, c := range []byte{t.text[0], upper(t.text[0])} {
			first[c] |= 1 << i
		}
		for _, c := range []byte{t.text[1], upper(t.text[1])} {
			second[c] |= 1 << i
		}
	}
	return first, second
}()

// uaTokensOf returns the set of uaTokens, as bits, that show any reason
// in r.
func uaTokensOf(r Reason) uint32 {
	var set uint32
	for i, t := range uaTokens {
		if t.reason&r != 0 {
			set |= 1 << i
		}
	}
	return set
}

var (
	anyUAToken       = uaTokensOf(ReasonAutomationAgent | ReasonHeadless)
	headlessUATokens = uaTokensOf(ReasonHeadless)
)

// HeaderReasons returns the signals that r's headers show by themselves:
// [ReasonNoAcceptLanguage], [ReasonAutomationAgent] and [ReasonHeadless].
// It keeps no state and does not allocate.
func HeaderReasons(r Request) Reason {
	var reasons Reason
	if len(bytes.TrimSpace(r.AcceptLanguage)) == 0 {
		reasons |= ReasonNoAcceptLanguage
	}
	ua := bytes.TrimSpace(r.UserAgent)
	if len(ua) == 0 {
		reasons |= ReasonAutomationAgent
	}
	reasons |= scanTokens(ua, anyUAToken)
	if reasons&ReasonHeadless == 0 {
		reasons |= scanTokens(r.SecCHUA, headlessUATokens)
	}
	return reasons
}

// scanTokens returns the reasons of the uaTokens in set that s holds,
// ignoring ASCII case. It stops once it has found every reason of set.
func scanTokens(s []byte, set uint32) Reason {
	var all, found Reason
	for m := set; m != 0; m &= m - 1 {
		all |= uaTokens[bits.TrailingZeros32(m)].reason
	}
	if len(s) < 2 {
		return 0
	}
	// starting is the set of tokens that may start at s[i-1].
	starting := uaFirst[s[0]] & set
	for i := 1; i < len(s); i++ {
		m := starting & uaSecond[s[i]]
		starting = uaFirst[s[i]] & set
		for ; m != 0; m &= m - 1 {
			j := bits.TrailingZeros32(m)
			if hasPrefixFold(s[i-1:], uaTokens[j].text) {
				found |= uaTokens[j].reason
				if found == all {
					return found
				}
				// The other tokens of this reason need not be sought.
				set &^= uaTokensOf(uaTokens[j].reason)
				starting &= set
			}
		}
	}
	return found
}

// hasPrefixFold reports whether s begins with prefix, which is lower case,
// ignoring ASCII case.
func hasPrefixFold(s []byte, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		if lower(s[i]) != prefix[i] {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

// Subnet returns addr's network for the subnet signals, as a masked address:
// the /24 of an IPv4 address (an IPv4-mapped IPv6 address is unmapped
// first) and the /48 of an IPv6 one, without its zone. A /24 is what one
// venue, office or carrier-grade NAT pool usually spans, and a /48 what one
// site is given. The invalid Addr is returned as it is.
func Subnet(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	n := 48
	if addr.Is4() {
		n = 24
	}
	p, err := addr.WithZone("").Prefix(n)
	if err != nil {
		return addr
	}
	return p.Addr()
}

// ScorerConfig sets the allowances behind the rate signals. A zero, negative
// or NaN field means its default; +Inf joins per minute means no limit.
type ScorerConfig struct {
	// JoinsPerMinute is how many joins an address may make a minute, with a
	// burst of as many at once (rounded up), before its joins show
	// [ReasonJoinRate]. An IPv6 address counts by its /64, as in [Limiter].
	// Default 10.
	JoinsPerMinute float64
	// SubnetJoinsPerMinute is how many joins a [Subnet] (an IPv4 /24 or an
	// IPv6 /48) may make a minute, with a burst of as many at once (rounded
	// up), before its joins show [ReasonSubnetJoinRate]. Generous, since a
	// carrier-grade NAT or a venue puts many fans behind a few addresses.
	// Default 120.
	SubnetJoinsPerMinute float64
	// CookielessJoins is how many joins without a ticket cookie an address
	// may make within 10 minutes before such joins show
	// [ReasonCookielessJoins]. A fan's first join has no cookie; a bot that
	// drops the cookie it was given to take a new place each time keeps
	// coming without one. Counted as a token bucket refilling
	// CookielessJoins tokens every 10 minutes. Default 3.
	CookielessJoins int
	// PassNetworks is how many distinct networks ([Subnet]) one visitor's
	// pass may be used from, each counting for an hour after it was last
	// seen, before [ReasonPassSpread]: home Wi-Fi, mobile data and a venue
	// network. At most [MaxPassNetworks]; more is taken as that. Default 3.
	PassNetworks int
	// FailedChallenges is how many challenges an address may fail within
	// 10 minutes before [ReasonFailedChallenges]. The failure that goes
	// over turns the signal on for 10 minutes. Default 3.
	FailedChallenges int
	// PollSlack is the fraction of the poll interval a visitor was given
	// below which a tab's poll counts as fast (see [Scorer.Poll]).
	// Default 0.5.
	PollSlack float64
	// MaxClients bounds each of the scorer's tables: addresses, subnets,
	// visitors. A full table forgets its least recently seen entry, so
	// memory stays bounded under a flood of distinct addresses or
	// visitors. See [Scorer] for the memory it takes. Default
	// DefaultMaxClients (1,000,000).
	MaxClients int
}

// The defaults of [ScorerConfig].
const (
	DefaultJoinsPerMinute       = 10
	DefaultSubnetJoinsPerMinute = 120
	DefaultCookielessJoins      = 3
	DefaultPassNetworks         = 3
	DefaultFailedChallenges     = 3
	DefaultPollSlack            = 0.5
)

// scoreWindow is the "within 10 minutes" of the cookieless and failure
// allowances.
const scoreWindow = 10 * time.Minute

// pollTabs is how many tabs of one visitor may poll at once, each at its
// own pace, without [ReasonFastPoll].
const pollTabs = 3

// pollIdle is how long a visitor's poll record is kept without a poll. A
// record has drained within PollSlack × the poll interval, at most a few
// minutes for any sane policy, so forgetting it later loses nothing.
const pollIdle = 10 * time.Minute

// A Scorer scores requests to a protected room and holds the per-client
// state behind the rate signals. It is safe for concurrent use, and never
// reads the clock: time is the caller's.
//
// Its state is in eight tables, each bounded by [ScorerConfig.MaxClients]
// and forgetting the least recently seen entry when full, like [Limiter]:
// four Limiters (joins per address, joins per subnet, cookieless joins and
// failed challenges, about 55 bytes an entry), the addresses failed out
// and those over their join allowance (about 45 bytes each), the visitors'
// poll records (about 50 bytes) and the visitors' pass networks (about 100
// bytes). At the default bound of a million entries each that is at most
// about 460 MB, reached only under a flood of distinct addresses or
// visitors; tables grow as they fill and shrink after Sweep.
//
// Like the Limiter, it does not hold an attacker with more addresses than
// MaxClients: forgetting to make room resets a record. And like the
// Limiter's, a rate signal is shown by the requests that go over the
// allowance, not by those within it: a client joining at twice the allowed
// rate shows [ReasonJoinRate] on about half its joins.
type Scorer struct {
	seed         maphash.Seed
	joins        *Limiter // per address
	subnets      *Limiter // per Subnet
	cookieless   *Limiter // per address, joins without a ticket
	fails        *Limiter // per address, taken only on a failure
	failing      *table[uint64, int64]
	crowded      *table[uint64, int64] // per address, until when its places show ReasonCrowdedAddress
	polls        *table[uint64, pollRecord]
	passes       *table[uint64, passNetworks]
	pollSlack    float64
	passNetworks int
}

// pollRecord is one visitor's fast-poll bucket: how many polls it has
// outstanding, draining at one per PollSlack × pollAfter / pollTabs, as of
// last (Unix nanoseconds).
type pollRecord struct {
	debt float64
	last int64
}

// NewScorer returns a Scorer with cfg's allowances, defaults filled in.
func NewScorer(cfg ScorerConfig) *Scorer {
	cfg = cfg.withDefaults()
	opts := Options{MaxClients: cfg.MaxClients}
	perWindow := func(n int) Limit {
		return Limit{PerMinute: float64(n) / scoreWindow.Minutes(), Burst: n}
	}
	return &Scorer{
		seed:         maphash.MakeSeed(),
		joins:        NewLimiter(Limit{PerMinute: cfg.JoinsPerMinute, Burst: burstOf(cfg.JoinsPerMinute)}, opts),
		subnets:      NewLimiter(Limit{PerMinute: cfg.SubnetJoinsPerMinute, Burst: burstOf(cfg.SubnetJoinsPerMinute)}, opts),
		cookieless:   NewLimiter(perWindow(cfg.CookielessJoins), opts),
		fails:        NewLimiter(perWindow(cfg.FailedChallenges), opts),
		failing:      newTable[uint64, int64](cfg.MaxClients, scoreWindow, ownHash),
		crowded:      newTable[uint64, int64](cfg.MaxClients, scoreWindow, ownHash),
		polls:        newTable[uint64, pollRecord](cfg.MaxClients, pollIdle, ownHash),
		passes:       newTable[uint64, passNetworks](cfg.MaxClients, passNetworkIdle, ownHash),
		pollSlack:    cfg.PollSlack,
		passNetworks: cfg.PassNetworks,
	}
}

func (c ScorerConfig) withDefaults() ScorerConfig {
	if !(c.JoinsPerMinute > 0) {
		c.JoinsPerMinute = DefaultJoinsPerMinute
	}
	if !(c.SubnetJoinsPerMinute > 0) {
		c.SubnetJoinsPerMinute = DefaultSubnetJoinsPerMinute
	}
	if c.CookielessJoins <= 0 {
		c.CookielessJoins = DefaultCookielessJoins
	}
	if c.PassNetworks <= 0 {
		c.PassNetworks = DefaultPassNetworks
	}
	c.PassNetworks = min(c.PassNetworks, MaxPassNetworks)
	if c.FailedChallenges <= 0 {
		c.FailedChallenges = DefaultFailedChallenges
	}
	if !(c.PollSlack > 0) || math.IsInf(c.PollSlack, 0) {
		c.PollSlack = DefaultPollSlack
	}
	if c.MaxClients <= 0 {
		c.MaxClients = DefaultMaxClients
	}
	return c
}

// burstOf is a per-minute allowance as a burst: the same number, rounded up.
func burstOf(perMinute float64) int {
	return int(min(math.Ceil(perMinute), math.MaxInt32))
}

// Join scores a request that is about to take a new place in line, and
// records it against its address and [Subnet]: the header reasons, then
// [ReasonJoinRate], [ReasonSubnetJoinRate], [ReasonCookielessJoins] when
// hadTicket is false, and [ReasonFailedChallenges]. hadTicket says whether
// the request carried a ticket cookie for the room, valid or not.
//
// The join is counted whatever the caller then does with it: a bot that is
// challenged or blocked keeps its record. Join does not allocate for an
// address it already holds.
func (s *Scorer) Join(r Request, hadTicket bool, now time.Time) Reason {
	reasons := HeaderReasons(r)
	if ok, _ := s.joins.Allow(r.Addr, now); !ok {
		reasons |= ReasonJoinRate
	}
	if ok, _ := s.subnets.Allow(Subnet(r.Addr), now); !ok {
		reasons |= ReasonSubnetJoinRate
	}
	if !hadTicket {
		if ok, _ := s.cookieless.Allow(r.Addr, now); !ok {
			reasons |= ReasonCookielessJoins
		}
	}
	if s.Failures(r.Addr, now) {
		reasons |= ReasonFailedChallenges
	}
	if reasons&(ReasonJoinRate|ReasonCookielessJoins) != 0 {
		s.mark(s.crowded, r.Addr, now)
	}
	return reasons
}

// Poll scores a status poll from a visitor holding a ticket: the header
// reasons, [ReasonCrowdedAddress] (see [Scorer.Crowded]) and
// [ReasonFastPoll]. visitor is the ticket's visitor id, and
// pollAfter the poll interval the visitor was last told; a pollAfter that
// is not positive leaves the poll unjudged.
//
// Fast polls are judged per visitor, not per address, since a household
// shares an address. But a visitor may have several tabs open, each polling
// at its own pace and phase, and they cannot be told apart. So the visitor
// is allowed pollTabs (3) tabs, each polling as soon as PollSlack ×
// pollAfter after its last poll: a token bucket that refills one token
// every PollSlack × pollAfter / 3 and holds 3, for three tabs polling at
// once. The interval is the one given with this poll, so a visitor moved
// from a long interval to a short one is judged on the short one at once,
// with nothing owed from before. The price of allowing three tabs is that
// one client may poll up to 3 / PollSlack (6) times as often as told
// before it is flagged; the per-address status limit holds it below that.
//
// Poll does not allocate for a visitor it already holds, and keeps only a
// hash of visitor.
func (s *Scorer) Poll(r Request, visitor string, pollAfter time.Duration, now time.Time) Reason {
	reasons := HeaderReasons(r)
	if s.Crowded(r.Addr, now) {
		reasons |= ReasonCrowdedAddress
	}
	if pollAfter <= 0 {
		return reasons
	}
	interval := s.pollSlack * float64(pollAfter) / pollTabs
	key := s.visitorKey(visitor)
	t := now.UnixNano()
	sh := s.polls.shard(key)
	sh.mu.Lock()
	p, fresh := sh.touch(key, key, t)
	if fresh {
		p.last = t
	}
	switch {
	case t >= p.last:
		p.debt = max(p.debt-float64(t-p.last)/interval, 0)
		p.last = t
	case p.last-t > stepBack:
		// The wall clock stepped back: go back with it, draining nothing.
		p.last = t
	}
	fast := p.debt+1 > pollTabs
	if !fast {
		p.debt++
	}
	sh.mu.Unlock()
	if fast {
		reasons |= ReasonFastPoll
	}
	return reasons
}

// FailedChallenge records a failed challenge from addr at time now. The
// failures are counted in a token bucket of FailedChallenges tokens that
// refills that many every 10 minutes, taken from only on a failure; the
// failure it refuses marks addr as failed out until 10 minutes later, in
// a table of its own, so that [Scorer.Failures] can read the signal without
// spending a token.
func (s *Scorer) FailedChallenge(addr netip.Addr, now time.Time) {
	if ok, _ := s.fails.Allow(addr, now); ok {
		return
	}
	s.mark(s.failing, addr, now)
}

// Failures reports whether addr is failed out at time now: it went over
// [ScorerConfig.FailedChallenges] within the last 10 minutes. It records
// nothing, and [Scorer.Join] includes it as [ReasonFailedChallenges].
func (s *Scorer) Failures(addr netip.Addr, now time.Time) bool {
	return s.marked(s.failing, addr, now)
}

// Crowded reports whether a join from addr showed [ReasonJoinRate] or
// [ReasonCookielessJoins] within the last 10 minutes, as of now: the
// address took more places than its allowances. The places it took before
// it went over were given freely, and are as likely a bot's as the later
// ones; so the gateway asks each place in line that polls from such an
// address to prove itself once, as the later ones did at their join. It
// records nothing, and [Scorer.Poll] includes it as
// [ReasonCrowdedAddress].
func (s *Scorer) Crowded(addr netip.Addr, now time.Time) bool {
	return s.marked(s.crowded, addr, now)
}

// mark marks addr in marks until 10 minutes after now.
func (s *Scorer) mark(marks *table[uint64, int64], addr netip.Addr, now time.Time) {
	key := s.addrHash(addr)
	t := now.UnixNano()
	sh := marks.shard(key)
	sh.mu.Lock()
	until, _ := sh.touch(key, key, t)
	*until = max(*until, t+int64(scoreWindow))
	sh.mu.Unlock()
}

// marked reports whether addr's mark in marks lasts past now.
func (s *Scorer) marked(marks *table[uint64, int64], addr netip.Addr, now time.Time) bool {
	key := s.addrHash(addr)
	sh := marks.shard(key)
	sh.mu.Lock()
	until := sh.peek(key, key)
	on := until != nil && *until > now.UnixNano()
	sh.mu.Unlock()
	return on
}

// Sweep forgets the state that has been idle at time now: join buckets
// that have refilled, poll records that have drained, marks that have run
// out and visitors whose networks all expired. It costs time in proportion
// to what it forgets, so the gateway can call it every few seconds.
func (s *Scorer) Sweep(now time.Time) {
	s.joins.Sweep(now)
	s.subnets.Sweep(now)
	s.cookieless.Sweep(now)
	s.fails.Sweep(now)
	s.failing.sweep(now)
	s.crowded.sweep(now)
	s.polls.sweep(now)
	s.passes.sweep(now)
}

// ScorerLen is how many entries each of a [Scorer]'s tables holds; each is
// at most [ScorerConfig.MaxClients].
type ScorerLen struct {
	Joins      int // addresses with a join bucket
	Subnets    int // subnets with a join bucket
	Cookieless int // addresses with a cookieless-join bucket
	Failures   int // addresses with a failed-challenge bucket
	FailedOut  int // addresses marked as failed out
	Crowded    int // addresses marked as over their join allowance
	Polls      int // visitors with a poll record
	Passes     int // visitors with pass networks
}

// Max returns the largest of the counts.
func (l ScorerLen) Max() int {
	return max(l.Joins, l.Subnets, l.Cookieless, l.Failures, l.FailedOut, l.Crowded, l.Polls, l.Passes)
}

// Len returns how many entries each table holds.
func (s *Scorer) Len() ScorerLen {
	return ScorerLen{
		Joins:      s.joins.Len(),
		Subnets:    s.subnets.Len(),
		Cookieless: s.cookieless.Len(),
		Failures:   s.fails.Len(),
		FailedOut:  s.failing.len(),
		Crowded:    s.crowded.len(),
		Polls:      s.polls.len(),
		Passes:     s.passes.len(),
	}
}

// visitorKey is a seeded hash of a visitor id; the id itself is not kept.
func (s *Scorer) visitorKey(visitor string) uint64 {
	return maphash.String(s.seed, visitor)
}

func hashKey(seed maphash.Seed, k clientKey) uint64 {
	return maphash.Comparable(seed, k)
}

// ownHash is the hash of the keys of the scorer's own tables, which are
// seeded 64-bit hashes already (of a visitor id or an address). Two that
// collide share an entry; among a million held at once that happens with
// a chance of about three in a hundred million, and costs one client's
// score judged on another's record.
func ownHash(key uint64) uint64 {
	return key
}
