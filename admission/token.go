package admission

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Kind says what a token proves.
type Kind string

const (
	// KindTicket proves a place in a room's queue.
	KindTicket Kind = "ticket"
	// KindPass proves admission to a room.
	KindPass Kind = "pass"
)

// PassHeader is the request header in which the gateway forwards a visitor's
// pass to the origin. The gateway strips any X-Usher-* header a client sends,
// but origins still verify the pass: a request may bypass the gateway.
const PassHeader = "X-Usher-Pass"

// TicketCookie is the name of the cookie that holds a visitor's ticket for room.
func TicketCookie(room string) string { return "usher_ticket_" + room }

// PassCookie is the name of the cookie that holds a visitor's pass for room.
func PassCookie(room string) string { return "usher_pass_" + room }

// Claims is what a ticket or a pass says. Times have a precision of one
// second, the precision of a JWT.
type Claims struct {
	// Kind is what the token proves.
	Kind Kind
	// Room is the room the token is good for (the aud claim).
	Room string
	// Visitor identifies the visitor (the sub claim): 128 random bits,
	// base64url without padding, as made by NewVisitorID.
	Visitor string
	// Seq is the visitor's arrival number in the room.
	Seq int64
	// Account is the visitor's account (the uid claim); empty unless the room
	// needs a login.
	Account string
	// Gen is a ticket's generation (the gen claim): each status answer
	// carries a ticket one generation on and retires the one before, so a
	// copy shows itself by its age. 0 for passes, and for tickets made
	// before tickets rotated.
	Gen int64
	// Proved says the visitor solved a proof-of-work challenge for this
	// place (the pow claim): at its join, or later when asked to prove
	// itself. Tickets only.
	Proved bool
	// IssuedAt is when the token was signed.
	IssuedAt time.Time
	// Expires is when the token stops being valid.
	Expires time.Time
}

// NewVisitorID returns a new random visitor id: 128 bits from crypto/rand,
// base64url without padding (22 characters).
func NewVisitorID() string {
	var b [16]byte
	// crypto/rand.Read never fails; it crashes the program if the system's
	// source of randomness does.
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ErrInvalidToken is the one error for every token that Verify rejects. It
// wraps the reason, which is meant for logs, not for visitors.
var ErrInvalidToken = errors.New("invalid token")

// Reasons for a rejection that is not the signature's fault. They are made
// once so that a rejection from the cache does not allocate either.
var (
	errEmpty       = fmt.Errorf("%w: empty", ErrInvalidToken)
	errTooLong     = fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLen)
	errWrongKind   = fmt.Errorf("%w: wrong kind", ErrInvalidToken)
	errWrongRoom   = fmt.Errorf("%w: for another room", ErrInvalidToken)
	errExpired     = fmt.Errorf("%w: expired", ErrInvalidToken)
	errFuture      = fmt.Errorf("%w: issued in the future", ErrInvalidToken)
	errKeyRemoved  = fmt.Errorf("%w: signing key removed", ErrInvalidToken)
	errMissingKID  = errors.New("missing kid")
	errUnknownKID  = errors.New("unknown kid")
	errMissingSub  = errors.New("missing sub")
	errMissingAud  = errors.New("missing aud")
	errMissingExp  = errors.New("missing exp")
	errMissingIat  = errors.New("missing iat")
	errUnknownKind = errors.New("unknown kind")
)

// maxTokenLen bounds the work an attacker can ask of the JSON decoder. A
// token usher signs is about 350 bytes.
const maxTokenLen = 4096

// Defaults of TokenOptions.
const (
	defaultLeeway    = 5 * time.Second
	defaultCacheSize = 100_000
)

// TokenOptions tunes Tokens. The zero value is ready to use.
type TokenOptions struct {
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Leeway is how far a token may be past its expiry, or its issue time in
	// the future, and still be accepted, so that clocks a little apart cost
	// nothing. Default 5 s; negative means none.
	Leeway time.Duration
	// CacheSize is how many verified tokens are kept, so that each is
	// verified once rather than on every request. Default 100,000 (a few tens
	// of MB); negative disables the cache.
	CacheSize int
}

// Tokens signs and verifies tickets and passes. It is safe for concurrent use.
type Tokens struct {
	signer *KeySet
	keys   KeySource
	now    func() time.Time
	leeway time.Duration
	parser *jwt.Parser
	cache  *tokenCache // nil when disabled
	counts checkCounts
}

// NewTokens returns Tokens that sign with signer's signing key and verify
// with the keys that keys knows. signer may be nil for verify-only use, as in
// an origin. When keys is nil, Verify uses signer.
func NewTokens(signer *KeySet, keys KeySource, opts TokenOptions) *Tokens {
	if keys == nil && signer != nil {
		keys = signer
	}
	t := &Tokens{
		signer: signer,
		keys:   keys,
		now:    opts.Now,
		leeway: opts.Leeway,
		// Claims are checked by Tokens.check rather than by the parser, so
		// that a token from the cache and a fresh one obey the same rules.
		// Strict decoding makes the encoding canonical: a token that verifies
		// has exactly one spelling.
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithStrictDecoding(),
			jwt.WithoutClaimsValidation(),
		),
	}
	if t.now == nil {
		t.now = time.Now
	}
	switch {
	case t.leeway == 0:
		t.leeway = defaultLeeway
	case t.leeway < 0:
		t.leeway = 0
	}
	switch {
	case opts.CacheSize == 0:
		t.cache = newTokenCache(defaultCacheSize)
	case opts.CacheSize > 0:
		t.cache = newTokenCache(opts.CacheSize)
	}
	return t
}

// wireClaims is the JSON form of Claims.
type wireClaims struct {
	Kind     Kind             `json:"kind"`
	Room     string           `json:"aud"`
	Visitor  string           `json:"sub"`
	Seq      int64            `json:"seq"`
	Account  string           `json:"uid,omitempty"`
	Gen      int64            `json:"gen,omitempty"`
	Proved   bool             `json:"pow,omitempty"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	Expires  *jwt.NumericDate `json:"exp"`
}

// The jwt.Claims methods; the parser's own claim checks are off, so only
// signing and parsing call them.
func (w wireClaims) GetExpirationTime() (*jwt.NumericDate, error) { return w.Expires, nil }
func (w wireClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return w.IssuedAt, nil }
func (w wireClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (w wireClaims) GetIssuer() (string, error)                   { return "", nil }
func (w wireClaims) GetSubject() (string, error)                  { return w.Visitor, nil }
func (w wireClaims) GetAudience() (jwt.ClaimStrings, error)       { return jwt.ClaimStrings{w.Room}, nil }

// Sign returns c as a signed token. A zero IssuedAt means now. It fails
// without a signing key, or when Kind is not a known kind, Room or Visitor is
// empty, or Expires is zero or not after IssuedAt.
func (t *Tokens) Sign(c Claims) (string, error) {
	if t.signer == nil || t.signer.signing == nil {
		return "", errors.New("sign token: no signing key")
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = t.now()
	}
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, wireClaims{
		Kind:     c.Kind,
		Room:     c.Room,
		Visitor:  c.Visitor,
		Seq:      c.Seq,
		Account:  c.Account,
		Gen:      c.Gen,
		Proved:   c.Proved,
		IssuedAt: jwt.NewNumericDate(c.IssuedAt),
		Expires:  jwt.NewNumericDate(c.Expires),
	})
	tok.Header["kid"] = t.signer.signingKID
	s, err := tok.SignedString(t.signer.signing)
	if err != nil {
		return "", fmt.Errorf("sign %s for room %q: %w", c.Kind, c.Room, err)
	}
	if t.cache != nil {
		// What this instance signed it need not verify: a rotated ticket
		// comes back at the next poll, and checking its signature then
		// would cost twice what signing it did. The claims go in as Verify
		// would read them back, to the second.
		c.IssuedAt, c.Expires = c.IssuedAt.Truncate(time.Second), c.Expires.Truncate(time.Second)
		t.cache.put(s, cacheEntry{claims: c, kid: t.signer.signingKID}, t.now(), t.leeway)
	}
	return s, nil
}

// validate says what makes c unfit to sign.
func (c Claims) validate() error {
	switch {
	case c.Kind != KindTicket && c.Kind != KindPass:
		return fmt.Errorf("kind %q is neither %q nor %q", c.Kind, KindTicket, KindPass)
	case c.Room == "":
		return errors.New("empty room")
	case c.Visitor == "":
		return errors.New("empty visitor")
	case c.Expires.IsZero():
		return errors.New("zero expiry")
	case !c.Expires.After(c.IssuedAt):
		return fmt.Errorf("expires %s, not after it is issued (%s)", c.Expires, c.IssuedAt)
	}
	return nil
}

// Verify returns the claims of token if it is a valid token of kind for room.
// Any other token, malformed, forged, expired, or meant for another kind or
// room, is rejected with an error that wraps ErrInvalidToken.
//
// A token whose signature was verified before is answered from the cache
// without a signature check or an allocation; its kind, room, expiry and key
// are still checked every time.
func (t *Tokens) Verify(token []byte, kind Kind, room string) (Claims, error) {
	switch {
	case len(token) == 0:
		t.counts.rejected.Add(1)
		return Claims{}, errEmpty
	case len(token) > maxTokenLen:
		t.counts.rejected.Add(1)
		return Claims{}, errTooLong
	}
	now := t.now()
	if t.cache != nil {
		if e, ok := t.cache.get(token); ok {
			c, err := t.checkCached(token, e, kind, room, now)
			if err != nil {
				t.counts.rejected.Add(1)
			} else {
				t.counts.cached.Add(1)
			}
			return c, err
		}
	}
	raw := string(token)
	c, kid, err := t.parse(raw)
	if err == nil {
		err = t.check(c, kind, room, now)
	}
	if err != nil {
		t.counts.rejected.Add(1)
		return Claims{}, err
	}
	t.counts.verified.Add(1)
	if t.cache != nil {
		t.cache.put(raw, cacheEntry{claims: c, kid: kid}, now, t.leeway)
	}
	return c, nil
}

// checkCounts counts Verify's outcomes.
type checkCounts struct {
	cached, verified, rejected atomic.Int64
}

// Checks counts the tokens Verify accepted from the cache, accepted after a
// signature check, and rejected.
func (t *Tokens) Checks() (cached, verified, rejected int64) {
	return t.counts.cached.Load(), t.counts.verified.Load(), t.counts.rejected.Load()
}

// checkCached checks a token found in the cache, and drops it from the cache
// once it can never be valid again.
func (t *Tokens) checkCached(token []byte, e cacheEntry, kind Kind, room string, now time.Time) (Claims, error) {
	// A key that was removed takes its tokens with it, even those already
	// verified: removal is how a leaked key is revoked.
	if _, ok := t.keys.PublicKey(e.kid); !ok {
		t.cache.drop(token)
		return Claims{}, errKeyRemoved
	}
	if err := t.check(e.claims, kind, room, now); err != nil {
		if err == errExpired {
			t.cache.drop(token)
		}
		return Claims{}, err
	}
	return e.claims, nil
}

// check applies the rules that do not depend on the signature. It must not
// allocate: it runs on every admitted request.
func (t *Tokens) check(c Claims, kind Kind, room string, now time.Time) error {
	switch {
	case c.Kind != kind:
		return errWrongKind
	case c.Room != room:
		return errWrongRoom
	case expired(c, now, t.leeway):
		return errExpired
	case now.Add(t.leeway).Before(c.IssuedAt):
		return errFuture
	}
	return nil
}

// expired says whether c is past its expiry by more than leeway at now.
func expired(c Claims, now time.Time, leeway time.Duration) bool {
	return !now.Before(c.Expires.Add(leeway))
}

// parse checks the signature and the shape of token and returns its claims
// and the kid of the key that signed it.
func (t *Tokens) parse(token string) (Claims, string, error) {
	var w wireClaims
	tok, err := t.parser.ParseWithClaims(token, &w, t.publicKey)
	if err != nil {
		return Claims{}, "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	switch {
	case w.Kind != KindTicket && w.Kind != KindPass:
		err = errUnknownKind
	case w.Room == "":
		err = errMissingAud
	case w.Visitor == "":
		err = errMissingSub
	case w.Expires == nil:
		err = errMissingExp
	case w.IssuedAt == nil:
		err = errMissingIat
	}
	if err != nil {
		return Claims{}, "", fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	kid, _ := tok.Header["kid"].(string)
	return Claims{
		Kind:     w.Kind,
		Room:     w.Room,
		Visitor:  w.Visitor,
		Seq:      w.Seq,
		Account:  w.Account,
		Gen:      w.Gen,
		Proved:   w.Proved,
		IssuedAt: w.IssuedAt.UTC(),
		Expires:  w.Expires.UTC(),
	}, kid, nil
}

// publicKey is the parser's key function: the key named by the token's kid.
func (t *Tokens) publicKey(tok *jwt.Token) (any, error) {
	kid, ok := tok.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errMissingKID
	}
	if t.keys == nil {
		return nil, errUnknownKID
	}
	pub, ok := t.keys.PublicKey(kid)
	if !ok {
		return nil, errUnknownKID
	}
	return pub, nil
}
