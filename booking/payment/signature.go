package payment

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the HTTP header that carries a webhook's signature:
//
//	Usher-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// While a secret is being rotated the sender may add one v1 value per
// secret; any of them matching is enough.
const SignatureHeader = "Usher-Signature"

// DefaultTolerance is how far a signature's timestamp may be from the
// receiver's clock, either way, before Verify rejects it as a replay: 5
// minutes, as Stripe's libraries do.
const DefaultTolerance = 5 * time.Minute

var (
	// ErrMalformedSignature: the header is not "t=…,v1=…".
	ErrMalformedSignature = errors.New("malformed webhook signature")
	// ErrSignatureMismatch: no v1 value matches the body under any secret.
	ErrSignatureMismatch = errors.New("no webhook signature matches")
	// ErrSignatureTimestamp: the signature is genuine but its timestamp is
	// outside the tolerance: a replay, or a clock far off.
	ErrSignatureTimestamp = errors.New("webhook signature timestamp outside tolerance")
)

// Sign is the SignatureHeader value for body sent at t, signed with secret.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// Verify checks a SignatureHeader value against the raw body: some v1 value
// must be the HMAC of the body under one of secrets, compared in constant
// time, and the timestamp must be within tolerance of now (not positive
// means DefaultTolerance). Empty secrets are skipped, since anyone can
// compute an HMAC under an empty key. Fields other than t and v1 are
// ignored. The error wraps ErrMalformedSignature, ErrSignatureMismatch or
// ErrSignatureTimestamp.
func Verify(secrets [][]byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, sigs, err := parseSignature(header)
	if err != nil {
		return err
	}
	if !matches(secrets, ts, body, sigs) {
		return ErrSignatureMismatch
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	// The sum is in whole seconds and ParseInt bounds ts, so time.Unix
	// cannot overflow, and Sub saturates rather than wraps.
	seconds, _ := strconv.ParseInt(ts, 10, 64)
	if d := now.Sub(time.Unix(seconds, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: signed at %s, now %s, tolerance %s",
			ErrSignatureTimestamp, time.Unix(seconds, 0).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), tolerance)
	}
	return nil
}

// parseSignature splits a header into its timestamp, as sent, and its
// decoded v1 signatures.
func parseSignature(header string) (ts string, sigs [][]byte, err error) {
	if header == "" {
		return "", nil, fmt.Errorf("%w: empty", ErrMalformedSignature)
	}
	for field := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return "", nil, fmt.Errorf("%w: field %q is not key=value", ErrMalformedSignature, field)
		}
		switch key {
		case "t":
			if ts != "" {
				return "", nil, fmt.Errorf("%w: more than one t", ErrMalformedSignature)
			}
			if !isTimestamp(value) {
				return "", nil, fmt.Errorf("%w: t=%q is not unix seconds", ErrMalformedSignature, value)
			}
			ts = value
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return "", nil, fmt.Errorf("%w: v1 is not a hex SHA-256 HMAC", ErrMalformedSignature)
			}
			sigs = append(sigs, sig)
		}
	}
	if ts == "" {
		return "", nil, fmt.Errorf("%w: no t", ErrMalformedSignature)
	}
	if len(sigs) == 0 {
		return "", nil, fmt.Errorf("%w: no v1", ErrMalformedSignature)
	}
	return ts, sigs, nil
}

// isTimestamp reports whether s is unix seconds written plainly: 1 to 18
// digits, so it fits an int64 and the signed text has one spelling.
func isTimestamp(s string) bool {
	if len(s) == 0 || len(s) > 18 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// matches reports whether any signature is the body's HMAC under any
// non-empty secret. It tries every pair rather than stopping at the first
// match, so the time it takes says nothing about which one matched.
func matches(secrets [][]byte, ts string, body []byte, sigs [][]byte) bool {
	ok := false
	for _, secret := range secrets {
		if len(secret) == 0 {
			continue
		}
		want := mac(secret, ts, body)
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				ok = true
			}
		}
	}
	return ok
}

// mac is HMAC-SHA256(secret, "<ts>.<body>").
func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}
