package shield

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// Bounds of [Challenge.Bits], the work a challenge asks for. Each bit doubles
// the expected number of hashes: at 16 bits a browser tries about 65,000
// nonces, a fraction of a second; at 24, about 17 million, some seconds.
const MinBits, MaxBits = 1, 32

// Errors of [Challenger.Parse] and [Challenger.Verify]. They wrap a reason
// meant for logs, not for visitors; test them with errors.Is.
var (
	// ErrChallengeInvalid is every token that usher did not make with one
	// of the Challenger's keys: malformed, truncated, tampered with, made
	// with a removed key, or too long to be a token.
	ErrChallengeInvalid = errors.New("invalid challenge")
	// ErrChallengeExpired is a genuine token at or after its expiry.
	ErrChallengeExpired = errors.New("challenge expired")
	// ErrChallengeMismatch is a genuine token made for another room or
	// another visitor.
	ErrChallengeMismatch = errors.New("challenge for another room or visitor")
	// ErrChallengeUnsolved is a genuine token with a nonce that does not
	// meet its Bits, or is not a nonce at all.
	ErrChallengeUnsolved = errors.New("challenge not solved")
)

// Reasons for a rejection, made once so that rejecting garbage does not
// allocate.
var (
	errEmpty      = fmt.Errorf("%w: empty", ErrChallengeInvalid)
	errTooLong    = fmt.Errorf("%w: longer than %d bytes", ErrChallengeInvalid, maxChallengeToken)
	errMalformed  = fmt.Errorf("%w: malformed", ErrChallengeInvalid)
	errSignature  = fmt.Errorf("%w: bad signature", ErrChallengeInvalid)
	errContent    = fmt.Errorf("%w: bad content", ErrChallengeInvalid)
	errWrongRoom  = fmt.Errorf("%w: other room", ErrChallengeMismatch)
	errWrongVisit = fmt.Errorf("%w: other visitor", ErrChallengeMismatch)
	errBadNonce   = fmt.Errorf("%w: nonce is not 1 to %d decimal digits", ErrChallengeUnsolved, maxNonceLen)
	errShortWork  = fmt.Errorf("%w: too few leading zero bits", ErrChallengeUnsolved)
)

const (
	// minKeyLen is the shortest key NewChallenger takes: 256 bits, the
	// strength of HMAC-SHA256.
	minKeyLen = 32
	// maxChallengeToken bounds what Parse reads. A token usher makes is at
	// most 251 bytes (a 64-byte room and a 64-byte visitor).
	maxChallengeToken = 512
	// maxNonceLen is the digits of the largest uint64: a nonce a solver
	// cannot count past.
	maxNonceLen = 20
	// maxRoomLen and maxVisitorLen bound Challenge.Room and Challenge.Visitor.
	maxRoomLen, maxVisitorLen = 64, 64

	idBytes = 16 // random bytes of a challenge ID
	idLen   = 22 // their base64url text, without padding
	macLen  = sha256.Size
	macText = 43 // base64url text of the MAC, without padding

	// tokenVersion is the payload's first byte, so that the layout can
	// change without an old token being read as a new one.
	tokenVersion = 1
	// payloadFixed is the payload up to the room: version, bits, expiry
	// (Unix seconds, int64 big-endian), raw ID and the room's length. The
	// room and then the visitor follow.
	payloadFixed = 1 + 1 + 8 + idBytes + 1
	maxPayload   = payloadFixed + maxRoomLen + maxVisitorLen
)

// b64 decodes strictly, so that each token has one spelling: a token that
// differs from one usher made, even in unused trailing bits, is invalid.
var b64 = base64.RawURLEncoding.Strict()

// Challenge is one puzzle, bound to a room and a visitor: find a nonce such
// that SHA-256(ID + ":" + nonce) starts with Bits zero bits. The puzzle's
// input is at most 43 bytes (a 22-byte ID, a colon and up to 20 digits), so
// a solver hashes one 64-byte SHA-256 block per try.
type Challenge struct {
	// ID is 128 random bits from crypto/rand, base64url without padding (22
	// characters). It makes every puzzle new, and it is the key under which
	// the caller records a spent solution.
	ID string
	// Room is the room id, [a-z0-9_-]{1,64}.
	Room string
	// Visitor is the visitor id the solution is bound to: base64url, 1 to
	// 64 characters.
	Visitor string
	// Bits is how many leading zero bits the hash needs, MinBits to MaxBits.
	// A value outside is taken as the nearest bound.
	Bits int
	// Expires is when the challenge stops being accepted, in whole seconds.
	Expires time.Time
}

// NewChallenge returns a challenge for room and visitor with a fresh random
// ID, asking for bits leading zero bits (clamped to MinBits..MaxBits) and
// expiring at expires (rounded down to a whole second).
func NewChallenge(room, visitor string, bits int, expires time.Time) Challenge {
	var b [idBytes]byte
	// crypto/rand.Read never fails; it crashes the program if the system's
	// source of randomness does.
	_, _ = rand.Read(b[:])
	return Challenge{
		ID:      base64.RawURLEncoding.EncodeToString(b[:]),
		Room:    room,
		Visitor: visitor,
		Bits:    clampBits(bits),
		Expires: time.Unix(expires.Unix(), 0).UTC(),
	}
}

// Challenger makes and checks challenge tokens. A token carries its
// challenge and an HMAC-SHA256 of it, so the gateway keeps no state for a
// challenge it hands out, and any gateway with the key can check it.
//
// What it guarantees:
//
//   - Parse and Verify accept only tokens made by Token with one of the
//     Challenger's keys, unchanged to the byte, before their expiry.
//   - Verify accepts a solution only for the room and visitor the challenge
//     was made for.
//   - Rejecting garbage is cheap and allocates nothing: the input is capped
//     at 512 bytes and decoded on the stack, and its content is read only
//     once its MAC checks out (one HMAC per key).
//
// What it does not do: make a solution single-use. Until it expires, a
// token and its nonce verify as often as they are presented. The caller
// must record each accepted Challenge.ID (until its Expires) and refuse an
// ID it has seen.
//
// A Challenger is safe for concurrent use.
type Challenger struct {
	keys []macKey // keys[0] signs
}

// macKey is an HMAC-SHA256 key as its two padded blocks, so that a MAC is two
// SHA-256 sums over stack buffers, with no allocation.
type macKey struct {
	ipad, opad [sha256.BlockSize]byte
}

// NewChallenger returns a Challenger that makes tokens with keys[0] and
// accepts tokens made with any of keys, so that a key can be rotated: add the
// new key first, and remove the old one once its tokens have expired. Each
// key must be at least 32 bytes, random.
func NewChallenger(keys ...[]byte) (*Challenger, error) {
	if len(keys) == 0 {
		return nil, errors.New("challenger: no key")
	}
	c := &Challenger{keys: make([]macKey, len(keys))}
	for i, k := range keys {
		if len(k) < minKeyLen {
			return nil, fmt.Errorf("challenger: key %d is %d bytes, want at least %d", i, len(k), minKeyLen)
		}
		c.keys[i] = newMACKey(k)
	}
	return c, nil
}

// newMACKey prepares key as RFC 2104 says: hashed when longer than a block,
// padded with zeros, and XORed with the inner and outer pads.
func newMACKey(key []byte) macKey {
	if len(key) > sha256.BlockSize {
		sum := sha256.Sum256(key)
		key = sum[:]
	}
	var k macKey
	copy(k.ipad[:], key)
	copy(k.opad[:], key)
	for i := range k.ipad {
		k.ipad[i] ^= 0x36
		k.opad[i] ^= 0x5c
	}
	return k
}

// sum is HMAC-SHA256(key, msg), for msg of at most maxPayload bytes.
func (k *macKey) sum(msg []byte) [macLen]byte {
	var inner [sha256.BlockSize + maxPayload]byte
	n := copy(inner[:], k.ipad[:])
	n += copy(inner[n:], msg)
	ih := sha256.Sum256(inner[:n])
	var outer [sha256.BlockSize + macLen]byte
	copy(outer[:], k.opad[:])
	copy(outer[sha256.BlockSize:], ih[:])
	return sha256.Sum256(outer[:])
}

// Token encodes ch as base64url(payload) "." base64url(HMAC-SHA256(key,
// payload)), without padding: safe in a URL, a form and a cookie. It is
// 44 + ⌈4·(27 + len(Room) + len(Visitor))/3⌉ bytes: under 200 while Room and
// Visitor together are at most 89 bytes (a 22-character visitor id and any
// room id up to 64), and at most 251.
//
// Bits outside MinBits..MaxBits are clamped. Token returns "", which Parse
// rejects, for a challenge that cannot be one: an ID that is not 22
// base64url characters, or a Room or Visitor outside its form.
func (c *Challenger) Token(ch Challenge) string {
	var payload [maxPayload]byte
	n, ok := encodePayload(payload[:], ch)
	if !ok {
		return ""
	}
	mac := c.keys[0].sum(payload[:n])
	var buf [maxChallengeToken]byte
	b := b64.AppendEncode(buf[:0], payload[:n])
	b = append(b, '.')
	b = b64.AppendEncode(b, mac[:])
	return string(b)
}

// encodePayload writes ch's payload into dst (maxPayload bytes) and returns
// its length, or false if ch is not a valid challenge.
func encodePayload(dst []byte, ch Challenge) (int, bool) {
	if len(ch.ID) != idLen || !validRoom(ch.Room) || !validVisitor(ch.Visitor) {
		return 0, false
	}
	dst[0] = tokenVersion
	dst[1] = byte(clampBits(ch.Bits))
	binary.BigEndian.PutUint64(dst[2:10], uint64(ch.Expires.Unix()))
	if n, err := b64.Decode(dst[10:10+idBytes], []byte(ch.ID)); err != nil || n != idBytes {
		return 0, false
	}
	dst[10+idBytes] = byte(len(ch.Room))
	n := payloadFixed
	n += copy(dst[n:], ch.Room)
	n += copy(dst[n:], ch.Visitor)
	return n, true
}

// Parse checks token's MAC against every key, in constant time, then its
// content and its expiry (expired when now >= Expires), and returns its
// challenge. Every token it did not make is ErrChallengeInvalid; a genuine
// one past its expiry is ErrChallengeExpired. It never panics, and reads at
// most 512 bytes of token, on the stack.
func (c *Challenger) Parse(token string, now time.Time) (Challenge, error) {
	switch {
	case token == "":
		return Challenge{}, errEmpty
	case len(token) > maxChallengeToken:
		return Challenge{}, errTooLong
	}
	// The decoder skips \r and \n; a token has one spelling, so refuse them
	// and anything else outside the alphabet first.
	if !tokenText(token) {
		return Challenge{}, errMalformed
	}
	dot := strings.IndexByte(token, '.')
	if dot < 0 || len(token)-dot-1 != macText || dot > b64.EncodedLen(maxPayload) {
		return Challenge{}, errMalformed
	}
	var text [maxChallengeToken]byte
	copy(text[:], token)
	var payload [maxPayload]byte
	n, err := b64.Decode(payload[:], text[:dot])
	if err != nil {
		return Challenge{}, errMalformed
	}
	var mac [macLen]byte
	if m, err := b64.Decode(mac[:], text[dot+1:len(token)]); err != nil || m != macLen {
		return Challenge{}, errMalformed
	}
	if !c.signed(payload[:n], &mac) {
		return Challenge{}, errSignature
	}
	ch, ok := decodePayload(payload[:n])
	if !ok {
		return Challenge{}, errContent
	}
	if !now.Before(ch.Expires) {
		return Challenge{}, ErrChallengeExpired
	}
	return ch, nil
}

// signed says whether mac is the MAC of payload under one of the keys. Each
// comparison takes the same time wherever the bytes differ.
func (c *Challenger) signed(payload []byte, mac *[macLen]byte) bool {
	for i := range c.keys {
		want := c.keys[i].sum(payload)
		if subtle.ConstantTimeCompare(want[:], mac[:]) == 1 {
			return true
		}
	}
	return false
}

// decodePayload reads a payload that carries a valid MAC. It still checks
// every field, so that a key shared with something else, or a future
// layout, can never yield a challenge outside its forms.
func decodePayload(p []byte) (Challenge, bool) {
	if len(p) < payloadFixed || p[0] != tokenVersion {
		return Challenge{}, false
	}
	b := int(p[1])
	roomLen := int(p[10+idBytes])
	visitorLen := len(p) - payloadFixed - roomLen
	if b < MinBits || b > MaxBits || visitorLen < 1 {
		return Challenge{}, false
	}
	room := p[payloadFixed : payloadFixed+roomLen]
	visitor := p[payloadFixed+roomLen:]
	if !validRoom(room) || !validVisitor(visitor) {
		return Challenge{}, false
	}
	// One string holds the ID, the room and the visitor: one allocation.
	var buf [idLen + maxRoomLen + maxVisitorLen]byte
	s := base64.RawURLEncoding.AppendEncode(buf[:0], p[10:10+idBytes])
	s = append(s, room...)
	s = append(s, visitor...)
	all := string(s)
	return Challenge{
		ID:      all[:idLen],
		Room:    all[idLen : idLen+roomLen],
		Visitor: all[idLen+roomLen:],
		Bits:    b,
		Expires: time.Unix(int64(binary.BigEndian.Uint64(p[2:10])), 0).UTC(),
	}, true
}

// Verify checks token as Parse does, then that it was made for room and
// visitor (else ErrChallengeMismatch), then that nonce solves it (else
// ErrChallengeUnsolved), and returns its challenge. Besides the MAC it
// hashes once.
//
// Verify does not make a solution single-use: the caller must record the
// returned ID until its Expires and refuse it from then on.
func (c *Challenger) Verify(token, nonce, room, visitor string, now time.Time) (Challenge, error) {
	ch, err := c.Parse(token, now)
	switch {
	case err != nil:
		return Challenge{}, err
	case ch.Room != room:
		return Challenge{}, errWrongRoom
	case ch.Visitor != visitor:
		return Challenge{}, errWrongVisit
	case !validNonce(nonce):
		return Challenge{}, errBadNonce
	case !Solved(ch, nonce):
		return Challenge{}, errShortWork
	}
	return ch, nil
}

// Solved says whether SHA-256(ch.ID + ":" + nonce) starts with at least
// ch.Bits zero bits (Bits clamped to MinBits..MaxBits). A nonce is 1 to 20
// ASCII decimal digits, and nothing else: no sign, no space.
func Solved(ch Challenge, nonce string) bool {
	if !validNonce(nonce) {
		return false
	}
	var buf [idLen + 1 + maxNonceLen]byte
	b := append(buf[:0], ch.ID...)
	b = append(b, ':')
	b = append(b, nonce...)
	return meets(sha256.Sum256(b), clampBits(ch.Bits))
}

// Solve looks for a nonce that solves ch, counting up from 0 and trying at
// most max nonces. It is the reference solver, for tests, the load
// simulator's bots and the documentation; at Bits it takes about 2^Bits
// tries.
func Solve(ch Challenge, max uint64) (nonce string, ok bool) {
	want := clampBits(ch.Bits)
	var buf [64]byte
	prefix := append(buf[:0], ch.ID...)
	prefix = append(prefix, ':')
	for n := range max {
		b := strconv.AppendUint(prefix, n, 10)
		if meets(sha256.Sum256(b), want) {
			return string(b[len(prefix):]), true
		}
	}
	return "", false
}

// meets says whether sum starts with at least want (at most 32) zero bits.
func meets(sum [sha256.Size]byte, want int) bool {
	return bits.LeadingZeros32(binary.BigEndian.Uint32(sum[:4])) >= want
}

func clampBits(b int) int { return min(max(b, MinBits), MaxBits) }

// tokenText says whether s holds only base64url characters and dots.
func tokenText(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validNonce says whether s is 1 to 20 ASCII decimal digits.
func validNonce(s string) bool {
	if len(s) == 0 || len(s) > maxNonceLen {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validRoom says whether s is a room id: [a-z0-9_-]{1,64}.
func validRoom[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > maxRoomLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// validVisitor says whether s is a visitor id: 1 to 64 base64url characters.
func validVisitor[T string | []byte](s T) bool {
	if len(s) == 0 || len(s) > maxVisitorLen {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}
