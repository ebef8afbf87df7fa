package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/usherhq/usher/admission"
	"github.com/usherhq/usher/config"
	"github.com/usherhq/usher/gateway/cache"
	"github.com/usherhq/usher/gateway/shield"
	"github.com/usherhq/usher/internal/adminauth"
)

// Config is the gateway's configuration file. Every field documents its unit
// and default; configs/gateway.yaml shows them all.
type Config struct {
	// Listen is the address fans connect to. Default ":8080".
	Listen string `yaml:"listen"`
	// AdminListen is the operators' address: health, metrics and the admin
	// API. Default "127.0.0.1:9090"; "" turns the admin listener off.
	AdminListen string `yaml:"admin_listen"`
	// PlainHTTP drops the Secure attribute from cookies, for a gateway
	// reached over plain HTTP (local testing, the demo). Default false.
	PlainHTTP bool `yaml:"plain_http"`
	// TrustedProxies lists the CIDRs (or single addresses) of load
	// balancers in front of the gateway. Only from these is X-Forwarded-For
	// believed. Default none: the TCP peer is the client.
	TrustedProxies []string `yaml:"trusted_proxies"`

	Origin OriginConfig `yaml:"origin"`
	Server ServerConfig `yaml:"server"`
	Redis  RedisConfig  `yaml:"redis"`
	Tokens TokensConfig `yaml:"tokens"`
	Queue  QueueConfig  `yaml:"queue"`
	Log    LogConfig    `yaml:"log"`
	Admin  AdminConfig  `yaml:"admin"`
	// Login is the venue's OpenID Connect provider that fans log in with,
	// for rooms with require_login. Default none.
	Login *LoginConfig `yaml:"login"`
	Rooms []RoomConfig `yaml:"rooms"`
	// Cache keeps the answers of paths outside every room in memory, for
	// the crowd that reads the same pages at once. Default: no rules, so
	// nothing is kept.
	Cache CacheConfig `yaml:"cache"`

	trusted        []netip.Prefix
	inventoryToken string // USHER_INVENTORY_TOKEN
}

// CacheConfig is the edge cache: rules for paths outside every room.
type CacheConfig struct {
	// Rules say which paths are cached and how; the most specific path
	// pattern decides, and a room's path is never cached.
	Rules []CacheRuleConfig `yaml:"rules"`
}

// CacheRuleConfig is one cache rule. Only anonymous GETs and HEADs are
// cached, and only answers that a shared cache may keep (RFC 9111): no
// Set-Cookie, no private, no-store or no-cache, no Vary on a header the
// rule does not list.
type CacheRuleConfig struct {
	// Name labels the rule in metrics and purges: 1 to 40 of a-z 0-9 _ -.
	// Required.
	Name string `yaml:"name"`
	// Host limits the rule to one host name (any port). Default: any host.
	Host string `yaml:"host"`
	// Paths are patterns as a room's: "/static/*", "/" (exactly the
	// landing page), "/*". At least one.
	Paths []string `yaml:"paths"`
	// TTL is how long an answer that gives no freshness of its own
	// (Cache-Control max-age or s-maxage, Expires) stays fresh, if its
	// status allows a cache to pick one (200, 301, 404, ...). Default 1s.
	TTL config.Duration `yaml:"ttl"`
	// StaleWhileRevalidate is how long after it expires an answer is still
	// served while one request refreshes it, unless the answer gives its
	// own stale-while-revalidate or forbids stale answers
	// (must-revalidate, proxy-revalidate, s-maxage). Default 10s.
	StaleWhileRevalidate config.Duration `yaml:"stale_while_revalidate"`
	// StaleIfError is how long after it expires an answer is served in
	// place of an origin that fails or times out (or answers 500, 502, 503
	// or 504), with the same exceptions and stale-if-error. Default 5m.
	StaleIfError config.Duration `yaml:"stale_if_error"`
	// LockTimeout is the longest a request waits for another request's
	// trip to the origin for the same page, before it goes there itself.
	// Default 5s.
	LockTimeout config.Duration `yaml:"lock_timeout"`
	// MaxBytes bounds the memory the rule's answers take on each instance;
	// the least recently used go first. Default 64MiB.
	MaxBytes config.Bytes `yaml:"max_bytes"`
	// MaxEntryBytes is the largest body kept; larger ones pass through.
	// Default 1MiB, and at most max_bytes.
	MaxEntryBytes config.Bytes `yaml:"max_entry_bytes"`
	// IgnoreCookies are cookies that do not make a request personal, such
	// as analytics cookies: a request with any other cookie goes straight
	// to the origin. "*" ignores every cookie. usher's own cookies (usher_*:
	// a fan's ticket and pass) are always ignored. Default none.
	IgnoreCookies []string `yaml:"ignore_cookies"`
	// IgnoreAuthorization lets requests with an Authorization header use
	// the rule; their answers are kept only when they say public, s-maxage
	// or must-revalidate. Default false: such requests go straight to the
	// origin.
	IgnoreAuthorization bool `yaml:"ignore_authorization"`
	// Vary are the request headers an answer may vary on (its Vary header)
	// and still be kept, one copy per value, such as Accept-Encoding.
	// Default none.
	Vary []string `yaml:"vary"`

	patterns []pattern
}

// DefaultCacheRule returns a cache rule's defaults.
func DefaultCacheRule() CacheRuleConfig {
	return CacheRuleConfig{
		TTL:                  config.Duration(time.Second),
		StaleWhileRevalidate: config.Duration(10 * time.Second),
		StaleIfError:         config.Duration(5 * time.Minute),
		LockTimeout:          config.Duration(5 * time.Second),
		MaxBytes:             64 << 20,
		MaxEntryBytes:        1 << 20,
	}
}

// SetDefaults gives a cache rule from the file its defaults.
func (r *CacheRuleConfig) SetDefaults() { *r = DefaultCacheRule() }

// rule is the cache's form of the rule.
func (r *CacheRuleConfig) rule() cache.Rule {
	return cache.Rule{
		Name: r.Name, TTL: time.Duration(r.TTL),
		StaleWhileRevalidate: time.Duration(r.StaleWhileRevalidate), StaleIfError: time.Duration(r.StaleIfError),
		LockTimeout: time.Duration(r.LockTimeout), MaxBytes: int64(r.MaxBytes), MaxEntryBytes: int64(min(r.MaxEntryBytes, r.MaxBytes)),
		IgnoreCookies: r.IgnoreCookies, IgnoreCookiePrefix: "usher_", IgnoreAuthorization: r.IgnoreAuthorization, Vary: r.Vary,
	}
}

// headerName is what a header name may be (RFC 9110 token).
var headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// cookieName is what a cookie name may be, or "*".
var cookieName = regexp.MustCompile("^([!#$%&'*+.^_`|~0-9A-Za-z-]+|\\*)$")

func (c *CacheConfig) validate(ps *config.Problems) {
	names := map[string]bool{}
	routes := map[string]string{}
	for i := range c.Rules {
		r := &c.Rules[i]
		key := fmt.Sprintf("cache.rules[%d]", i)
		r.patterns = routeOwner{key: key, nameKey: "name", name: r.Name, kind: "rules", host: r.Host, paths: r.Paths,
			example: "/static/*", taken: "is already a path of"}.check(ps, names, routes)
		if r.TTL <= 0 {
			ps.Add(key+".ttl", "must be more than 0s")
		}
		if r.StaleWhileRevalidate < 0 {
			ps.Add(key+".stale_while_revalidate", "must not be negative")
		}
		if r.StaleIfError < 0 {
			ps.Add(key+".stale_if_error", "must not be negative")
		}
		if r.LockTimeout <= 0 || time.Duration(r.LockTimeout) > time.Minute {
			ps.Add(key+".lock_timeout", "must be more than 0s and at most 1m")
		}
		if r.MaxBytes < 4<<10 {
			ps.Add(key+".max_bytes", "must be at least 4KiB")
		}
		if r.MaxEntryBytes <= 0 {
			ps.Add(key+".max_entry_bytes", "must be more than 0")
		}
		for j, name := range r.IgnoreCookies {
			if !cookieName.MatchString(name) {
				ps.Add(fmt.Sprintf("%s.ignore_cookies[%d]", key, j), "must be a cookie name or *, not %q", name)
			}
		}
		for j, name := range r.Vary {
			if !headerName.MatchString(name) || name == "*" {
				ps.Add(fmt.Sprintf("%s.vary[%d]", key, j), "must be a header name such as Accept-Encoding, not %q", name)
			}
		}
	}
}

// LoginConfig is the OpenID Connect provider fans log in with before they
// join a room that requires it: the authorization code flow with PKCE.
type LoginConfig struct {
	// Issuer is the provider's issuer URL. Required.
	Issuer string `yaml:"issuer"`
	// ClientID is the gateway's client at the provider. Required. The
	// client secret, if the client has one, comes from
	// USHER_LOGIN_CLIENT_SECRET.
	ClientID string `yaml:"client_id"`
	// RedirectURL is where the provider sends fans back: the site's
	// /_usher/callback, e.g. https://tickets.example/_usher/callback.
	// Required.
	RedirectURL string `yaml:"redirect_url"`
	// Scopes asked for besides openid. Default none.
	Scopes []string `yaml:"scopes"`
	// AccountClaim is the ID token claim that names the account: one place
	// per value. Default "sub".
	AccountClaim string `yaml:"account_claim"`
	// SessionTTL is how long a fan stays logged in. Default 12h.
	SessionTTL config.Duration `yaml:"session_ttl"`

	clientSecret string // USHER_LOGIN_CLIENT_SECRET
}

// SetDefaults gives a login provider from the file its defaults.
func (l *LoginConfig) SetDefaults() {
	*l = LoginConfig{AccountClaim: "sub", SessionTTL: config.Duration(12 * time.Hour)}
}

func (l *LoginConfig) validate(ps *config.Problems) {
	for _, f := range []struct{ key, url string }{{"login.issuer", l.Issuer}, {"login.redirect_url", l.RedirectURL}} {
		if u, err := url.Parse(f.url); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			ps.Add(f.key, "must be an http(s) URL, not %q", f.url)
		}
	}
	if u, err := url.Parse(l.RedirectURL); err == nil && u.Path != "/_usher/callback" {
		ps.Add("login.redirect_url", "must end in /_usher/callback, the gateway's own path, not %q", u.Path)
	}
	if l.ClientID == "" {
		ps.Add("login.client_id", "is required")
	}
	if l.AccountClaim == "" {
		ps.Add("login.account_claim", "must not be empty")
	}
	if l.SessionTTL < config.Duration(time.Minute) {
		ps.Add("login.session_ttl", "must be at least 1m")
	}
}

// OriginConfig is the venue's site behind the gateway.
type OriginConfig struct {
	// URL is the origin, "http://host:port" or "https://host:port"; a path
	// is not allowed. Required unless URLs is set.
	URL string `yaml:"url"`
	// URLs lists several equivalent origins to balance across (least
	// loaded first); all must share a scheme. Use URL or URLs, not both.
	URLs []string `yaml:"urls"`
	// HostHeader replaces the Host header sent to the origin. Default: the
	// visitor's Host is passed on as it came.
	HostHeader string `yaml:"host_header"`
	// MaxConns is the most connections open to each origin address.
	// Default 1024.
	MaxConns int `yaml:"max_conns"`
	// ConnWaitTimeout is how long a request waits for a free connection
	// when all MaxConns are busy, before it is answered 503 with
	// Retry-After. Default 500ms.
	ConnWaitTimeout config.Duration `yaml:"conn_wait_timeout"`
	// DialTimeout bounds opening a connection. Default 3s.
	DialTimeout config.Duration `yaml:"dial_timeout"`
	// ResponseTimeout is the longest the origin may take to send its whole
	// response (headers and body); past it the visitor gets 504. Default 60s.
	ResponseTimeout config.Duration `yaml:"response_timeout"`
	// WriteTimeout bounds sending a request to the origin. Default 30s.
	WriteTimeout config.Duration `yaml:"write_timeout"`
	// IdleConnTimeout closes a kept-alive origin connection unused for
	// this long. Default 90s.
	IdleConnTimeout config.Duration `yaml:"idle_conn_timeout"`
	// MaxResponseHeaderBytes is the largest response header accepted from
	// the origin. Default 64KiB.
	MaxResponseHeaderBytes config.Bytes `yaml:"max_response_header_bytes"`
	// TLSServerName overrides the name checked in the origin's certificate.
	// Default: the host of the origin URL.
	TLSServerName string `yaml:"tls_server_name"`
	// TLSInsecureSkipVerify accepts any origin certificate. Only for tests.
	// Default false.
	TLSInsecureSkipVerify bool `yaml:"tls_insecure_skip_verify"`
}

// ServerConfig is how the gateway treats fans' connections.
type ServerConfig struct {
	// ReadTimeout bounds reading a whole request. Default 30s.
	ReadTimeout config.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds writing a whole response. Default 120s.
	WriteTimeout config.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a kept-alive connection idle for this long.
	// Default 120s.
	IdleTimeout config.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes is the largest request header accepted; size it for
	// the cookies the site sets. Default 32KiB.
	MaxHeaderBytes config.Bytes `yaml:"max_header_bytes"`
	// MaxRequestBodyBytes is the largest request body accepted (413 above
	// it). Default 16MiB.
	MaxRequestBodyBytes config.Bytes `yaml:"max_request_body_bytes"`
	// Concurrency is the most requests served at once. Default 262144.
	Concurrency int `yaml:"concurrency"`
	// DrainDelay is how long the gateway keeps serving after SIGTERM with
	// /_usher/readyz failing, so load balancers stop sending new visitors
	// before it stops accepting. Default 0s.
	DrainDelay config.Duration `yaml:"drain_delay"`
	// ShutdownTimeout bounds how long requests in flight may take to finish
	// after the drain. Default 20s.
	ShutdownTimeout config.Duration `yaml:"shutdown_timeout"`
	// MaxConnsPerIP is the most connections one TCP peer may hold open; 0
	// for no limit. Default 0: behind a load balancer every connection
	// comes from its few addresses. Set it when fans connect directly.
	MaxConnsPerIP int `yaml:"max_conns_per_ip"`
}

// RedisConfig selects the queue store.
type RedisConfig struct {
	// URL of the Redis server, "redis://[user:password@]host:port/db" or
	// "rediss://" for TLS. The environment variable USHER_REDIS_URL
	// overrides it. Empty: an in-memory store, which serves one gateway
	// instance only.
	URL string `yaml:"url"`
	// KeyPrefix starts every key usher writes. Default "usher:".
	KeyPrefix string `yaml:"key_prefix"`
	// Timeout bounds each call to Redis. Default 1s.
	Timeout config.Duration `yaml:"timeout"`
	// PoolSize is the most connections to Redis. Default 10 per CPU.
	PoolSize int `yaml:"pool_size"`
	// Mode is how Redis runs: "single" (one server, the default),
	// "cluster" (Redis Cluster: URL names one node and carries the
	// credentials, Addrs more nodes to start from; the database must be 0)
	// or "sentinel" (Sentinel: Addrs are the sentinels, MasterName the
	// master they watch, URL the master's credentials and database; a
	// sentinel password comes from USHER_REDIS_SENTINEL_PASSWORD).
	Mode string `yaml:"mode"`
	// Addrs are host:port addresses: more cluster nodes, or the sentinels.
	Addrs []string `yaml:"addrs"`
	// MasterName is the master's name in Sentinel.
	MasterName string `yaml:"master_name"`
	// WaitReplicas is how many replicas an admission must reach before a
	// visitor gets a pass for it (WAIT, at most 100ms), so that a failover
	// to a replica loses no admission: a visitor whose admission is not
	// confirmed in time asks again. Default 1 in mode sentinel, 0
	// otherwise; -1 turns it off. Not in mode cluster.
	WaitReplicas int `yaml:"wait_replicas"`

	// SentinelPassword is USHER_REDIS_SENTINEL_PASSWORD.
	SentinelPassword string `yaml:"-"`
}

// TokensConfig is about tickets, passes and their keys.
type TokensConfig struct {
	// KeyFiles are PEM files of Ed25519 keys: the first (a private key)
	// signs, the others only verify, which is how keys are rotated. The
	// environment variable USHER_KEY_FILES (comma-separated) overrides it.
	// Required: every instance must share the keys.
	KeyFiles []string `yaml:"key_files"`
	// TicketTTL is how long a place in line stays valid. Default 24h.
	TicketTTL config.Duration `yaml:"ticket_ttl"`
	// Leeway tolerates clocks that disagree when checking expiry. Default 5s.
	Leeway config.Duration `yaml:"leeway"`
	// CacheSize is how many verified tokens each instance remembers, so a
	// busy pass costs one signature check per instance. Default 100000.
	CacheSize int `yaml:"cache_size"`
	// CookieDomain sets the Domain of usher's cookies. Default: none (the
	// host the visitor used).
	CookieDomain string `yaml:"cookie_domain"`
}

// QueueConfig tunes admission.
type QueueConfig struct {
	// Tick is how often each instance admits the next batch and refreshes
	// its view of every room. Default 1s.
	Tick config.Duration `yaml:"tick"`
}

// LogConfig sets up logging.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level"`
	// Format is json or text. Default json.
	Format string `yaml:"format"`
	// Access logs one line per request of the fans' listener. Default false.
	Access bool `yaml:"access"`
	// AccessSample is the share of requests the access log keeps, from 0 to
	// 1, so a busy on-sale can be logged without drowning. Default 1.
	AccessSample float64 `yaml:"access_sample"`
}

// AdminConfig is about who may use the admin listener.
type AdminConfig struct {
	// Tokens are API tokens for tools: their SHA-256, never the token
	// itself. USHER_ADMIN_TOKEN adds one more, with the operator role.
	Tokens []adminauth.TokenConfig `yaml:"tokens"`
	// OIDC is the organisation's OpenID Connect provider, for the
	// dashboard's login and for bearer JWTs. Default: none.
	OIDC *adminauth.ProviderConfig `yaml:"oidc"`
	// SessionTTL is how long a dashboard login lasts. Default 8h.
	SessionTTL config.Duration `yaml:"session_ttl"`

	// Secrets, from the environment only.
	envToken     string // USHER_ADMIN_TOKEN
	clientSecret string // USHER_OIDC_CLIENT_SECRET
	sessionKey   string // USHER_SESSION_KEY
}

// RoomConfig is one protected on-sale.
type RoomConfig struct {
	// ID names the room in cookies, URLs and metrics: 1 to 40 of a-z 0-9 _ -.
	ID string `yaml:"id"`
	// Name is what fans are queueing for, shown on the queue page.
	// Default: the ID.
	Name string `yaml:"name"`
	// Host limits the room to one host name (any port). Default: any host.
	Host string `yaml:"host"`
	// Paths are the patterns the room protects: "/events/*" covers
	// /events and everything below it, "/*" everything, and a pattern
	// without "/*" exactly one path. At least one.
	Paths []string `yaml:"paths"`
	// Except are patterns inside Paths that the room leaves open, such as
	// a public catalogue (/api/events) under a protected /api/*. The most
	// specific pattern decides. Default none.
	Except []string `yaml:"except"`
	// RatePerMinute is how many visitors are admitted per minute. Required.
	RatePerMinute float64 `yaml:"rate_per_minute"`
	// MaxActive is the most visitors holding a live pass at once. Required.
	MaxActive int `yaml:"max_active"`
	// Session is how long a pass lasts. Default 10m.
	Session config.Duration `yaml:"session"`
	// ClaimWindow is how long an admission offer waits for its visitor
	// before its place goes to the next one. Default 60s; longer than PollMax.
	ClaimWindow config.Duration `yaml:"claim_window"`
	// Mode is how the line is ordered: fifo (arrival order), lottery (the
	// visitors who join before sale_starts_at get random places in a draw
	// anyone can check, see GET /_usher/lottery; later ones follow in
	// arrival order), or passthrough (no line: every visitor gets a pass at
	// once, for a venue that keeps usher in place between on-sales).
	// Default fifo.
	Mode string `yaml:"mode"`
	// State at start: open or paused. Default open.
	State string `yaml:"state"`
	// OpensAt is when the line opens, an RFC 3339 time such as
	// "2027-06-01T09:00:00+02:00": before it an open room shows a countdown
	// to it, in the visitor's time zone. Default "": open now.
	OpensAt string `yaml:"opens_at"`
	// SaleStartsAt is when admissions start: visitors who come from
	// opens_at on join and wait until then. Default "": at once.
	SaleStartsAt string `yaml:"sale_starts_at"`
	// PollMin is how often visitors near the front ask for news. Default 2s.
	PollMin config.Duration `yaml:"poll_min"`
	// PollMax is how often visitors far back ask. Default 20s.
	PollMax config.Duration `yaml:"poll_max"`
	// RateRamp is how long a raised rate takes to reach its new value; a
	// lowered rate applies at once. 0 applies every change at once. Default
	// 1m.
	RateRamp config.Duration `yaml:"rate_ramp"`
	// Limits are the room's per-client rate limits. A client is an IPv4
	// address or an IPv6 /64, as the TCP peer or a trusted proxy's
	// X-Forwarded-For gives it. Over a limit the answer is 429 with
	// Retry-After. The defaults leave room for many fans behind one
	// address (a venue's Wi-Fi, a mobile carrier's NAT).
	Limits LimitsConfig `yaml:"limits"`
	// Shield is the room's bot defence: allow and deny lists, the bot score
	// and its thresholds, and the proof-of-work challenge.
	Shield ShieldConfig `yaml:"shield"`
	// RequireLogin makes fans log in with the login provider before they
	// join: the account goes into the ticket and the pass (uid), and one
	// account holds one place, on every device. Default false.
	RequireLogin bool `yaml:"require_login"`
	// MaxPassesPerAccount is how many live passes one account may hold at
	// once (one per device), in a room with require_login. 0 for no limit.
	// Default 2.
	MaxPassesPerAccount int `yaml:"max_passes_per_account"`
	// Inventory is where the room learns how many tickets are left.
	Inventory InventoryConfig `yaml:"inventory"`
	// AutoRate, when its max_per_minute is set, lets the room's admission
	// rate follow the origin's health.
	AutoRate AutoRateConfig `yaml:"auto_rate"`
	// OnStoreFailure is what the room does while the queue store does not
	// answer: "closed" (the default) gives out no place, so nobody new gets
	// in; "open" lets every visitor without a pass in with one, unqueued and
	// uncounted, for a venue that would rather be overrun than shut. Either
	// way, visitors with a pass go on and those waiting keep their place.
	OnStoreFailure string `yaml:"on_store_failure"`
	// FailoverLease is how far ahead each instance takes a slice of the
	// room's admission budget and capacity from the queue store, renewed
	// every tick: while Redis does not answer (a failover), the instance
	// goes on admitting the visitors next in line on its own, at the rate
	// and within max_active, for that long, and tells Redis once it is
	// back. The slices keep that much capacity aside while Redis answers:
	// rate_per_minute x failover_lease visitors, shared by the instances.
	// Default 0: no lease, and admission waits for Redis. At most 5m.
	FailoverLease config.Duration `yaml:"failover_lease"`

	patterns            []pattern
	except              []pattern
	opensAt, saleStarts time.Time
	allow               []netip.Prefix
	deny                []netip.Prefix
}

// ShieldConfig is a room's bot defence. Each request in the room gets a bot
// score from 0 to 100, the sum of the weights of the signals it shows; a
// joining visitor scoring challenge_at or more must first solve a
// proof-of-work challenge, and a request scoring block_at or more is
// refused with 403.
type ShieldConfig struct {
	// Allow lists networks (CIDRs or addresses) whose clients are never
	// scored, challenged or held to the per-client limits: a venue's box
	// office, a partner's servers. They still queue. Default none.
	Allow []string `yaml:"allow"`
	// Deny lists networks refused with 403 everywhere in the room, passes
	// included. Deny wins over allow. Default none.
	Deny []string `yaml:"deny"`
	// ChallengeAt is the score from which a joining visitor must solve a
	// challenge. 0 never challenges. Default 40.
	ChallengeAt int `yaml:"challenge_at"`
	// BlockAt is the score from which a request is refused. 0 never
	// blocks. Default 90; above challenge_at when both are set.
	BlockAt int `yaml:"block_at"`
	// ChallengeBits is the challenge's difficulty at challenge_at, in
	// leading zero bits of a SHA-256 hash: each bit doubles the work, and
	// 16 takes a phone well under a second. Default 16.
	ChallengeBits int `yaml:"challenge_bits"`
	// ChallengeBitsMax is the difficulty at a score of 100; between the
	// two it rises a bit every few points. Default 22, at most 32.
	ChallengeBitsMax int `yaml:"challenge_bits_max"`
	// ChallengeTTL is how long a challenge may be solved and used. Default
	// 5m.
	ChallengeTTL config.Duration `yaml:"challenge_ttl"`
	// LogSample is the share of scored decisions (challenge or block, or a
	// score above 0) written to the log with their reasons. Default 0.01.
	LogSample float64 `yaml:"log_sample"`
	// JoinsPerMinute is how many joins a minute one address makes before
	// its joins count as a signal. Default 10.
	JoinsPerMinute float64 `yaml:"joins_per_minute"`
	// SubnetJoinsPerMinute is the same for a /24 (IPv4) or /48 (IPv6).
	// Default 120.
	SubnetJoinsPerMinute float64 `yaml:"subnet_joins_per_minute"`
	// CookielessJoins is how many joins without the ticket cookie one
	// address makes within ten minutes before it counts as a signal.
	// Default 3.
	CookielessJoins int `yaml:"cookieless_joins"`
	// PassNetworks is how many networks one pass may be used from before it
	// counts as shared. Default 3 (home Wi-Fi, mobile data, one more).
	PassNetworks int `yaml:"pass_networks"`
	// FailedChallenges is how many failed challenges one address may send
	// within ten minutes before it counts as a signal. Default 3.
	FailedChallenges int `yaml:"failed_challenges"`
	// RotateTickets gives a fresh ticket with every status answer and
	// queue page and retires the one before, so that a copied ticket shows
	// itself on its second use: both copies then must prove themselves
	// with a challenge, and the first to solve keeps the place. Costs one
	// queue store call per status poll. Default true.
	RotateTickets bool `yaml:"rotate_tickets"`
}

// InventoryConfig is a room's source of the tickets left to sell: the room
// keeps no more shoppers active than those tickets can serve, and marks
// itself sold out when none are left, none held.
type InventoryConfig struct {
	// URL answers GET with a JSON object whose "available" (and, if it has
	// one, "held") number is the tickets left: the booking backend's
	// operator summary, /api/events/{id}/summary, for one. The bearer
	// token sent with it comes from USHER_INVENTORY_TOKEN. Default "":
	// no inventory.
	URL string `yaml:"url"`
	// Every is how often the URL is read. Default 5s.
	Every config.Duration `yaml:"every"`
	// TicketsPerShopper is how many tickets an admitted shopper buys on
	// average. Default 2.
	TicketsPerShopper float64 `yaml:"tickets_per_shopper"`
}

// AutoRateConfig adapts a room's admission rate to the origin's health, as
// the gateway measures it on the room's proxied requests: every Every, the
// rate is multiplied by Backoff when the p95 latency passes P95Target or
// the share of errors passes MaxErrorRate, and raised by StepPerMinute when
// both are within bounds, always between MinPerMinute and MaxPerMinute.
// One instance decides at a time, from its own share of the traffic.
type AutoRateConfig struct {
	// MinPerMinute and MaxPerMinute bound the rate. A MaxPerMinute of 0
	// (the default) leaves the rate to operators.
	MinPerMinute float64 `yaml:"min_per_minute"`
	MaxPerMinute float64 `yaml:"max_per_minute"`
	// P95Target is the origin latency the room keeps under. Default 1s.
	P95Target config.Duration `yaml:"p95_target"`
	// MaxErrorRate is the share of origin answers that may fail (5xx, or
	// no answer). Default 0.02.
	MaxErrorRate float64 `yaml:"max_error_rate"`
	// Every is how often the rate is reconsidered, over the requests of
	// that span. Default 10s.
	Every config.Duration `yaml:"every"`
	// Backoff multiplies the rate when the origin struggles. Default 0.7.
	Backoff float64 `yaml:"backoff"`
	// StepPerMinute is added to the rate when the origin is healthy.
	// Default a twentieth of MaxPerMinute.
	StepPerMinute float64 `yaml:"step_per_minute"`
	// MinRequests is the least number of requests a decision needs; with
	// fewer the rate stays. Default 20.
	MinRequests int `yaml:"min_requests"`
}

// On says whether the room's rate follows the origin.
func (a AutoRateConfig) On() bool { return a.MaxPerMinute > 0 }

// DefaultShield returns a room's default bot defence.
func DefaultShield() ShieldConfig {
	return ShieldConfig{
		ChallengeAt: 40, BlockAt: 90, ChallengeBits: 16, ChallengeBitsMax: 22,
		ChallengeTTL: config.Duration(5 * time.Minute), LogSample: 0.01,
		JoinsPerMinute: 10, SubnetJoinsPerMinute: 120, CookielessJoins: 3, PassNetworks: 3, FailedChallenges: 3,
		RotateTickets: true,
	}
}

// LimitsConfig is a room's per-client rate limits.
type LimitsConfig struct {
	// Join limits new places in line: requests without a ticket. Default
	// 60 a minute, burst 30.
	Join LimitConfig `yaml:"join"`
	// Status limits status polls (/_usher/status). Default 600 a minute,
	// burst 120.
	Status LimitConfig `yaml:"status"`
	// Admitted limits requests that carry a pass, on their way to the
	// origin. Default 3000 a minute, burst 600.
	Admitted LimitConfig `yaml:"admitted"`
	// JoinGlobal limits new places in line for the whole room, counted
	// across every instance in the queue store, whoever asks: a ceiling
	// on the work a flood of joins from many addresses can make. Past it
	// newcomers get 429 with Retry-After and try again; nobody in line is
	// affected. Default off (per_minute 0).
	JoinGlobal LimitConfig `yaml:"join_global"`
}

// LimitConfig is one token bucket per client.
type LimitConfig struct {
	// PerMinute is how many requests a minute a client may make in the
	// long run; 0 turns the limit off.
	PerMinute float64 `yaml:"per_minute"`
	// Burst is how many it may make at once. At least 1 when PerMinute is
	// set.
	Burst int `yaml:"burst"`
}

// DefaultLimits returns a room's default rate limits.
func DefaultLimits() LimitsConfig {
	return LimitsConfig{
		Join:     LimitConfig{PerMinute: 60, Burst: 30},
		Status:   LimitConfig{PerMinute: 600, Burst: 120},
		Admitted: LimitConfig{PerMinute: 3000, Burst: 600},
	}
}

// DefaultConfig returns a configuration with every default filled in and no
// rooms.
func DefaultConfig() Config {
	return Config{
		Listen:      ":8080",
		AdminListen: "127.0.0.1:9090",
		Origin: OriginConfig{
			MaxConns:               1024,
			ConnWaitTimeout:        config.Duration(500 * time.Millisecond),
			DialTimeout:            config.Duration(3 * time.Second),
			ResponseTimeout:        config.Duration(60 * time.Second),
			WriteTimeout:           config.Duration(30 * time.Second),
			IdleConnTimeout:        config.Duration(90 * time.Second),
			MaxResponseHeaderBytes: 64 << 10,
		},
		Server: ServerConfig{
			ReadTimeout:         config.Duration(30 * time.Second),
			WriteTimeout:        config.Duration(120 * time.Second),
			IdleTimeout:         config.Duration(120 * time.Second),
			MaxHeaderBytes:      32 << 10,
			MaxRequestBodyBytes: 16 << 20,
			Concurrency:         256 * 1024,
			ShutdownTimeout:     config.Duration(20 * time.Second),
		},
		Redis:  RedisConfig{KeyPrefix: "usher:", Timeout: config.Duration(time.Second)},
		Tokens: TokensConfig{TicketTTL: config.Duration(24 * time.Hour), Leeway: config.Duration(5 * time.Second), CacheSize: 100_000},
		Queue:  QueueConfig{Tick: config.Duration(time.Second)},
		Log:    LogConfig{Level: "info", Format: "json", AccessSample: 1},
		Admin:  AdminConfig{SessionTTL: config.Duration(8 * time.Hour)},
	}
}

// DefaultRoom returns a room's defaults; rooms in a file start from it.
func DefaultRoom() RoomConfig {
	return RoomConfig{
		Session:     config.Duration(10 * time.Minute),
		ClaimWindow: config.Duration(60 * time.Second),
		Mode:        "fifo",
		State:       "open",
		PollMin:     config.Duration(2 * time.Second),
		PollMax:     config.Duration(20 * time.Second),
		RateRamp:    config.Duration(time.Minute),
		Limits:      DefaultLimits(),
		Shield:      DefaultShield(),

		MaxPassesPerAccount: 2,
		OnStoreFailure:      "closed",
		Inventory:           InventoryConfig{Every: config.Duration(5 * time.Second), TicketsPerShopper: 2},
		AutoRate: AutoRateConfig{P95Target: config.Duration(time.Second), MaxErrorRate: 0.02, Every: config.Duration(10 * time.Second),
			Backoff: 0.7, MinRequests: 20},
	}
}

// SetDefaults gives a room from the file its defaults before its keys are
// read.
func (r *RoomConfig) SetDefaults() { *r = DefaultRoom() }

// LoadConfig reads, decodes and validates the configuration file at path,
// then applies the environment's overrides (USHER_REDIS_URL,
// USHER_KEY_FILES, USHER_ADMIN_TOKEN). Every problem is reported at once,
// each with its key and line.
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := ParseConfig(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s:\n%w", path, err)
	}
	return cfg, nil
}

// ParseConfig is LoadConfig for a file already read.
func ParseConfig(data []byte, getenv func(string) string) (*Config, error) {
	cfg := DefaultConfig()
	doc, problems := config.Decode(data, &cfg)
	return finish(cfg, doc, problems, getenv)
}

// CheckConfig validates a configuration built in code (the demo's) and
// applies the environment's overrides, as LoadConfig does for a file.
func CheckConfig(cfg Config, getenv func(string) string) (*Config, error) {
	return finish(cfg, nil, nil, getenv)
}

func finish(cfg Config, doc *config.Doc, problems config.Problems, getenv func(string) string) (*Config, error) {
	// Settings from the environment are reported under the variable's
	// name, not a line of the file they replaced.
	fromEnv := map[string]string{}
	if v := getenv("USHER_REDIS_URL"); v != "" {
		cfg.Redis.URL = v
		fromEnv["redis.url"] = "USHER_REDIS_URL"
	}
	if v := getenv("USHER_REDIS_SENTINEL_PASSWORD"); v != "" {
		cfg.Redis.SentinelPassword = v
	}
	if v := getenv("USHER_KEY_FILES"); v != "" {
		cfg.Tokens.KeyFiles = splitList(v)
		fromEnv["tokens.key_files"] = "USHER_KEY_FILES"
	}
	cfg.Admin.envToken = getenv("USHER_ADMIN_TOKEN")
	cfg.Admin.clientSecret = getenv("USHER_OIDC_CLIENT_SECRET")
	cfg.Admin.sessionKey = getenv("USHER_SESSION_KEY")
	if cfg.Login != nil {
		cfg.Login.clientSecret = getenv("USHER_LOGIN_CLIENT_SECRET")
	}
	cfg.inventoryToken = getenv("USHER_INVENTORY_TOKEN")
	// A value that failed to decode was left at its default; validating it
	// would only report the same key twice.
	failed := map[string]bool{}
	for _, p := range problems {
		failed[p.Path] = true
	}
	for _, p := range cfg.validate() {
		if failed[p.Path] {
			continue
		}
		if env, ok := fromEnv[p.Path]; ok {
			p.Path, p.Line = env, 0
		} else {
			p.Line = doc.Line(p.Path)
		}
		problems = append(problems, p)
	}
	if err := problems.Err(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

var roomID = regexp.MustCompile(`^[a-z0-9_-]{1,40}$`)

// validate checks everything that decoding alone cannot, and prepares the
// parsed forms (proxy prefixes, path patterns) the gateway runs on.
func (c *Config) validate() config.Problems {
	var ps config.Problems
	checkAddr := func(key, addr string, optional bool) {
		if addr == "" && optional {
			return
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			ps.Add(key, "must be host:port, such as 127.0.0.1:8080 or :8080, not %q", addr)
		}
	}
	checkAddr("listen", c.Listen, false)
	checkAddr("admin_listen", c.AdminListen, true)
	if c.AdminListen != "" && c.AdminListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
		ps.Add("admin_listen", "must differ from listen")
	}
	c.trusted = nil
	for i, s := range c.TrustedProxies {
		p, err := parsePrefix(s)
		if err != nil {
			ps.Add(fmt.Sprintf("trusted_proxies[%d]", i), "must be a CIDR such as 10.0.0.0/8 or an address, not %q", s)
			continue
		}
		c.trusted = append(c.trusted, p)
	}
	c.Origin.validate(&ps)
	c.Server.validate(&ps)
	c.Redis.validate(&ps)
	c.Tokens.validate(&ps)
	if c.Queue.Tick <= 0 || time.Duration(c.Queue.Tick) > 10*time.Second {
		ps.Add("queue.tick", "must be more than 0s and at most 10s")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		ps.Add("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		ps.Add("log.format", "must be json or text, not %q", c.Log.Format)
	}
	if c.Log.AccessSample < 0 || c.Log.AccessSample > 1 {
		ps.Add("log.access_sample", "must be between 0 and 1")
	}
	c.Admin.validate(&ps)
	if c.Login != nil {
		c.Login.validate(&ps)
	}
	c.validateRooms(&ps)
	c.Cache.validate(&ps)
	return ps
}

func (a *AdminConfig) validate(ps *config.Problems) {
	adminauth.ValidateTokens("admin.tokens", a.Tokens, ps)
	if a.SessionTTL < config.Duration(time.Minute) {
		ps.Add("admin.session_ttl", "must be at least 1m")
	}
	if a.sessionKey != "" && len(a.sessionKey) < 32 {
		ps.Add("USHER_SESSION_KEY", "must be at least 32 characters")
	}
	if a.OIDC != nil {
		a.OIDC.Validate("admin.oidc", true, ps)
	}
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func (o *OriginConfig) validate(ps *config.Problems) {
	urls := o.URLs
	key := "origin.urls"
	switch {
	case o.URL != "" && len(o.URLs) > 0:
		ps.Add("origin", "set url or urls, not both")
		return
	case o.URL != "":
		urls, key = []string{o.URL}, "origin.url"
	case len(o.URLs) == 0:
		ps.Add("origin.url", "is required: the address of the site behind the gateway")
		return
	}
	scheme := ""
	for i, s := range urls {
		k := key
		if key == "origin.urls" {
			k = fmt.Sprintf("%s[%d]", key, i)
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			ps.Add(k, "must be http://host:port or https://host:port with no path, not %q", s)
			continue
		}
		if scheme != "" && u.Scheme != scheme {
			ps.Add(k, "all origins must use the same scheme")
		}
		scheme = u.Scheme
	}
	positive := func(k string, d config.Duration) {
		if d <= 0 {
			ps.Add(k, "must be more than 0s")
		}
	}
	if o.MaxConns < 1 {
		ps.Add("origin.max_conns", "must be at least 1")
	}
	if o.ConnWaitTimeout < 0 {
		ps.Add("origin.conn_wait_timeout", "must not be negative")
	}
	positive("origin.dial_timeout", o.DialTimeout)
	positive("origin.response_timeout", o.ResponseTimeout)
	positive("origin.write_timeout", o.WriteTimeout)
	positive("origin.idle_conn_timeout", o.IdleConnTimeout)
	if o.MaxResponseHeaderBytes < 4<<10 {
		ps.Add("origin.max_response_header_bytes", "must be at least 4KiB")
	}
}

func (s *ServerConfig) validate(ps *config.Problems) {
	for _, d := range []struct {
		key string
		d   config.Duration
	}{
		{"server.read_timeout", s.ReadTimeout}, {"server.write_timeout", s.WriteTimeout},
		{"server.idle_timeout", s.IdleTimeout}, {"server.shutdown_timeout", s.ShutdownTimeout},
	} {
		if d.d <= 0 {
			ps.Add(d.key, "must be more than 0s")
		}
	}
	if s.DrainDelay < 0 {
		ps.Add("server.drain_delay", "must not be negative")
	}
	if s.MaxHeaderBytes < 4<<10 || s.MaxHeaderBytes > 1<<20 {
		ps.Add("server.max_header_bytes", "must be between 4KiB and 1MiB")
	}
	if s.MaxRequestBodyBytes < 0 || s.MaxRequestBodyBytes > 1<<31-1 {
		ps.Add("server.max_request_body_bytes", "must be between 0 and 2GiB")
	}
	if s.Concurrency < 1 {
		ps.Add("server.concurrency", "must be at least 1")
	}
	if s.MaxConnsPerIP < 0 {
		ps.Add("server.max_conns_per_ip", "must not be negative (0 for no limit)")
	}
}

func (r *RedisConfig) validate(ps *config.Problems) {
	if r.URL != "" {
		if u, err := url.Parse(r.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			ps.Add("redis.url", "must be redis://host:port/db, rediss://… or unix://…")
		}
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		ps.Add("redis.key_prefix", "must not contain { or }: they mark each room's hash tag")
	}
	if r.Timeout <= 0 {
		ps.Add("redis.timeout", "must be more than 0s")
	}
	if r.PoolSize < 0 {
		ps.Add("redis.pool_size", "must not be negative")
	}
	if r.WaitReplicas < -1 || (r.Mode == "cluster" && r.WaitReplicas > 0) {
		ps.Add("redis.wait_replicas", "must be -1 (off), 0 or a number of replicas, and is not for mode cluster")
	}
	switch r.Mode {
	case "", "single":
		if len(r.Addrs) > 0 {
			ps.Add("redis.addrs", "is for mode cluster or sentinel; a single server is redis.url")
		}
	case "cluster":
		if r.URL == "" {
			ps.Add("redis.url", "must name one cluster node (and its credentials) in mode cluster")
		} else if u, err := url.Parse(r.URL); err == nil && strings.Trim(u.Path, "/") != "" && strings.Trim(u.Path, "/") != "0" {
			ps.Add("redis.url", "must use database 0 in mode cluster: Redis Cluster has no other")
		}
	case "sentinel":
		if r.WaitReplicas == 0 {
			r.WaitReplicas = 1
		}
		if r.MasterName == "" {
			ps.Add("redis.master_name", "is required in mode sentinel: the name the sentinels know the master by")
		}
		if len(r.Addrs) == 0 {
			ps.Add("redis.addrs", "must list the sentinels (host:port) in mode sentinel")
		}
		if r.URL == "" {
			ps.Add("redis.url", "must give the master's credentials and database in mode sentinel, such as redis://:password@/0")
		}
	default:
		ps.Add("redis.mode", "must be single, cluster or sentinel, not %q", r.Mode)
	}
	for i, a := range r.Addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			ps.Add(fmt.Sprintf("redis.addrs[%d]", i), "must be host:port, not %q", a)
		}
	}
}

func (t *TokensConfig) validate(ps *config.Problems) {
	if len(t.KeyFiles) == 0 {
		ps.Add("tokens.key_files", "is required (or USHER_KEY_FILES): every instance must sign with the same key; create one with `usher keygen -out FILE`")
	}
	if t.TicketTTL < config.Duration(time.Minute) {
		ps.Add("tokens.ticket_ttl", "must be at least 1m")
	}
	if t.Leeway < 0 || t.Leeway > config.Duration(5*time.Minute) {
		ps.Add("tokens.leeway", "must be between 0s and 5m")
	}
	if t.CacheSize < 0 {
		ps.Add("tokens.cache_size", "must not be negative (0 turns the cache off)")
	}
}

// routeOwner is what rooms and cache rules have alike: a name, a host and
// path patterns.
type routeOwner struct {
	key, nameKey, name string // "rooms[0]", "id", "onsale"
	kind               string // "rooms" or "rules", to say a name is taken
	host               string
	paths              []string
	example            string // a pattern to suggest
	taken              string // how to say a pattern is another's
}

// check validates an owner's name, host and paths, and returns its
// patterns. names are the names seen so far and routes the host and
// pattern pairs, each with its owner's key.
func (o routeOwner) check(ps *config.Problems, names map[string]bool, routes map[string]string) []pattern {
	if !roomID.MatchString(o.name) {
		ps.Add(o.key+"."+o.nameKey, "must be 1 to 40 of a-z, 0-9, _ and -, not %q", o.name)
	} else if names[o.name] {
		ps.Add(o.key+"."+o.nameKey, "%q names two %s", o.name, o.kind)
	}
	names[o.name] = true
	if o.host != "" && (strings.ContainsAny(o.host, ":/ ") || o.host != strings.ToLower(o.host)) {
		ps.Add(o.key+".host", "must be a lower-case host name without scheme or port, not %q", o.host)
	}
	if len(o.paths) == 0 {
		ps.Add(o.key+".paths", "needs at least one path pattern, such as %s", o.example)
	}
	var patterns []pattern
	for j, s := range o.paths {
		pk := fmt.Sprintf("%s.paths[%d]", o.key, j)
		p, err := parsePattern(s)
		if err != nil {
			ps.Add(pk, "%v", err)
			continue
		}
		if other, dup := routes[o.host+" "+p.String()]; dup {
			ps.Add(pk, "%s %s %s", s, o.taken, other)
		}
		routes[o.host+" "+p.String()] = o.key
		patterns = append(patterns, p)
	}
	return patterns
}

func (c *Config) validateRooms(ps *config.Problems) {
	ids := map[string]bool{}
	routes := map[string]string{} // host+pattern -> room key
	for i := range c.Rooms {
		r := &c.Rooms[i]
		key := fmt.Sprintf("rooms[%d]", i)
		r.patterns = routeOwner{key: key, nameKey: "id", name: r.ID, kind: "rooms", host: r.Host, paths: r.Paths,
			example: "/events/*", taken: "is already protected by"}.check(ps, ids, routes)
		r.except = nil
		for j, s := range r.Except {
			pk := fmt.Sprintf("%s.except[%d]", key, j)
			p, err := parsePattern(s)
			if err != nil {
				ps.Add(pk, "%v", err)
				continue
			}
			if other, dup := routes[r.Host+" "+p.String()]; dup {
				ps.Add(pk, "%s is also a path of %s", s, other)
			}
			routes[r.Host+" "+p.String()] = key + " (except)"
			r.except = append(r.except, p)
		}
		r.opensAt, r.saleStarts = time.Time{}, time.Time{}
		for _, f := range []struct {
			name, s string
			dst     *time.Time
		}{{"opens_at", r.OpensAt, &r.opensAt}, {"sale_starts_at", r.SaleStartsAt, &r.saleStarts}} {
			if f.s == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, f.s)
			if err != nil {
				ps.Add(key+"."+f.name, "must be an RFC 3339 time such as 2027-06-01T09:00:00+02:00, not %q", f.s)
				continue
			}
			*f.dst = t
		}
		r.Policy().Check(func(field, problem string) {
			ps.Add(key+"."+field, "%s", problem)
		})
		for _, l := range []struct {
			name string
			l    LimitConfig
		}{{"join", r.Limits.Join}, {"status", r.Limits.Status}, {"admitted", r.Limits.Admitted}, {"join_global", r.Limits.JoinGlobal}} {
			lk := key + ".limits." + l.name
			switch {
			case l.l.PerMinute < 0:
				ps.Add(lk+".per_minute", "must not be negative (0 turns the limit off)")
			case l.l.PerMinute > 0 && l.l.Burst < 1:
				ps.Add(lk+".burst", "must be at least 1 when per_minute is set")
			case l.l.Burst < 0:
				ps.Add(lk+".burst", "must not be negative")
			}
		}
		r.Shield.validate(key+".shield", ps)
		if r.RequireLogin && c.Login == nil {
			ps.Add(key+".require_login", "needs a login provider: set login.issuer, login.client_id and login.redirect_url")
		}
		if inv := r.Inventory; inv.URL != "" {
			if u, err := url.Parse(inv.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ps.Add(key+".inventory.url", "must be an http(s) URL, not %q", inv.URL)
			}
			if inv.Every < config.Duration(time.Second) {
				ps.Add(key+".inventory.every", "must be at least 1s")
			}
			if !(inv.TicketsPerShopper > 0) {
				ps.Add(key+".inventory.tickets_per_shopper", "must be more than 0")
			}
		}
		if a := r.AutoRate; a.On() {
			k := key + ".auto_rate"
			switch {
			case !(a.MinPerMinute > 0):
				ps.Add(k+".min_per_minute", "must be more than 0")
			case a.MinPerMinute > a.MaxPerMinute:
				ps.Add(k+".min_per_minute", "must not be more than max_per_minute (%g)", a.MaxPerMinute)
			}
			if a.MaxPerMinute > 1_000_000 {
				ps.Add(k+".max_per_minute", "must be at most 1000000")
			}
			if a.P95Target <= 0 {
				ps.Add(k+".p95_target", "must be a positive duration such as 800ms")
			}
			if !(a.MaxErrorRate >= 0 && a.MaxErrorRate < 1) {
				ps.Add(k+".max_error_rate", "must be from 0 up to 1 (a share, such as 0.02)")
			}
			if a.Every < config.Duration(time.Second) || a.Every > config.Duration(time.Minute) {
				ps.Add(k+".every", "must be from 1s to 1m (the origin is measured over the last minute at most)")
			}
			if !(a.Backoff > 0 && a.Backoff < 1) {
				ps.Add(k+".backoff", "must be more than 0 and less than 1")
			}
			if a.StepPerMinute < 0 {
				ps.Add(k+".step_per_minute", "must not be negative (0 for a twentieth of max_per_minute)")
			}
			if a.MinRequests < 1 {
				ps.Add(k+".min_requests", "must be at least 1")
			}
		} else if a.MaxPerMinute < 0 {
			ps.Add(key+".auto_rate.max_per_minute", "must not be negative (0 turns auto_rate off)")
		}
		if r.OnStoreFailure != "closed" && r.OnStoreFailure != "open" {
			ps.Add(key+".on_store_failure", "must be closed or open, not %q", r.OnStoreFailure)
		}
		if r.FailoverLease < 0 || time.Duration(r.FailoverLease) > 5*time.Minute {
			ps.Add(key+".failover_lease", "must be from 0s (off) to 5m")
		}
		if r.MaxPassesPerAccount < 0 {
			ps.Add(key+".max_passes_per_account", "must not be negative (0 for no limit)")
		}
		r.allow, r.deny = prefixList(key+".shield.allow", r.Shield.Allow, ps), prefixList(key+".shield.deny", r.Shield.Deny, ps)
	}
}

func (s *ShieldConfig) validate(key string, ps *config.Problems) {
	if s.ChallengeAt < 0 || s.ChallengeAt > 100 {
		ps.Add(key+".challenge_at", "must be between 0 (never) and 100")
	}
	if s.BlockAt < 0 || s.BlockAt > 100 {
		ps.Add(key+".block_at", "must be between 0 (never) and 100")
	}
	if s.ChallengeAt > 0 && s.BlockAt > 0 && s.BlockAt <= s.ChallengeAt {
		ps.Add(key+".block_at", "must be above challenge_at (%d), or 0", s.ChallengeAt)
	}
	if s.ChallengeBits < 1 || s.ChallengeBits > 32 {
		ps.Add(key+".challenge_bits", "must be between 1 and 32")
	}
	if s.ChallengeBitsMax < s.ChallengeBits || s.ChallengeBitsMax > 32 {
		ps.Add(key+".challenge_bits_max", "must be between challenge_bits and 32")
	}
	if s.ChallengeTTL < config.Duration(10*time.Second) || s.ChallengeTTL > config.Duration(time.Hour) {
		ps.Add(key+".challenge_ttl", "must be between 10s and 1h")
	}
	if !(s.LogSample >= 0 && s.LogSample <= 1) {
		ps.Add(key+".log_sample", "must be between 0 and 1")
	}
	if !(s.JoinsPerMinute > 0) {
		ps.Add(key+".joins_per_minute", "must be more than 0")
	}
	if !(s.SubnetJoinsPerMinute > 0) {
		ps.Add(key+".subnet_joins_per_minute", "must be more than 0")
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"cookieless_joins", s.CookielessJoins}, {"pass_networks", s.PassNetworks}, {"failed_challenges", s.FailedChallenges}} {
		if n.v < 1 {
			ps.Add(key+"."+n.name, "must be at least 1")
		}
	}
	if s.PassNetworks > shield.MaxPassNetworks {
		ps.Add(key+".pass_networks", "must be at most %d", shield.MaxPassNetworks)
	}
}

// prefixList parses a list of CIDRs or addresses, reporting each bad one.
func prefixList(key string, list []string, ps *config.Problems) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range list {
		p, err := parsePrefix(s)
		if err != nil {
			ps.Add(fmt.Sprintf("%s[%d]", key, i), "must be a CIDR such as 203.0.113.0/24 or an address, not %q", s)
			continue
		}
		out = append(out, p)
	}
	return out
}

// Policy is the room's admission policy as configured.
func (r RoomConfig) Policy() admission.Policy {
	return admission.Policy{
		RatePerMinute: r.RatePerMinute,
		MaxActive:     r.MaxActive,
		Session:       time.Duration(r.Session),
		ClaimWindow:   time.Duration(r.ClaimWindow),
		Mode:          admission.Mode(r.Mode),
		State:         admission.State(r.State),
		PollMin:       time.Duration(r.PollMin),
		PollMax:       time.Duration(r.PollMax),
		RateRamp:      time.Duration(r.RateRamp),
		OpensAt:       r.opensAt,
		SaleStartsAt:  r.saleStarts,
	}
}
