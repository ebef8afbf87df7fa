// Package sealed keeps small values in cookies a client cannot forge: the
// value as JSON, base64url, a dot, and an HMAC-SHA256 of it, base64url. A
// sealed value is signed, not encrypted: put nothing secret in it.
package sealed

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// maxLen bounds what Open reads, so a client cannot make the gateway decode
// a large forged value.
const maxLen = 4096

// Sealer seals and opens values with one key. It is safe for concurrent
// use.
type Sealer struct{ key []byte }

// New returns a Sealer with key, which should be at least 32 bytes.
func New(key []byte) *Sealer { return &Sealer{key: key} }

// Seal returns v sealed.
func (s *Sealer) Seal(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// Open checks a sealed value and decodes it into v. Anything forged,
// tampered, too long or malformed reads as nothing: false.
func (s *Sealer) Open(sealed string, v any) bool {
	payload, sig, ok := strings.Cut(sealed, ".")
	if !ok || len(sealed) > maxLen {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	return err == nil && json.Unmarshal(b, v) == nil
}

func (s *Sealer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}
