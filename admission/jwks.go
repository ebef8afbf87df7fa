package admission

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// jwk is the part of a JSON Web Key (RFC 7517, RFC 8037) that ParseJWKS
// reads. The kid is not read: keys are filed under their thumbprint.
type jwk struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS returns the set's public keys as a JSON Web Key Set, the body of
// /_usher/jwks.json:
//
//	{"keys":[{"kty":"OKP","crv":"Ed25519","x":...,"kid":...,"alg":"EdDSA","use":"sig"}, ...]}
//
// The signing key comes first. The document is built once; each call returns
// a fresh copy.
func (k *KeySet) JWKS() []byte {
	if k == nil {
		return marshalJWKS(nil)
	}
	return bytes.Clone(k.jwks)
}

// marshalJWKS encodes keys as a JSON Web Key Set. It writes the JSON by hand
// because every value is a constant or base64url, which needs no escaping.
func marshalJWKS(keys []ed25519.PublicKey) []byte {
	var b bytes.Buffer
	b.WriteString(`{"keys":[`)
	for i, pub := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"kty":"OKP","crv":"Ed25519","x":"`)
		b.WriteString(base64.RawURLEncoding.EncodeToString(pub))
		b.WriteString(`","kid":"`)
		b.WriteString(KeyID(pub))
		b.WriteString(`","alg":"EdDSA","use":"sig"}`)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// ParseJWKS reads a JSON Web Key Set into a verify-only KeySet. Keys that are
// not Ed25519 signing keys (kty OKP, crv Ed25519) are skipped, as are keys
// marked for another use or algorithm. Each key is filed under its
// thumbprint (KeyID), which is the kid usher signs with, whatever kid the
// document gives it. It fails on malformed JSON and when no usable key
// remains.
func ParseJWKS(data []byte) (*KeySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	var keys []ed25519.PublicKey
	for _, raw := range doc.Keys {
		if pub, ok := parseJWK(raw); ok {
			keys = append(keys, pub)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("parse JWKS: no usable Ed25519 key")
	}
	return NewKeySet(nil, keys...), nil
}

// parseJWK returns the key in raw if it is an Ed25519 signing key.
func parseJWK(raw json.RawMessage) (ed25519.PublicKey, bool) {
	var k jwk
	if err := json.Unmarshal(raw, &k); err != nil {
		// A key we cannot read is a key we cannot use; it spoils nothing else.
		return nil, false
	}
	if k.Kty != "OKP" || k.Crv != "Ed25519" ||
		(k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "EdDSA") {
		return nil, false
	}
	x, err := base64.RawURLEncoding.Strict().DecodeString(k.X)
	if err != nil || len(x) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(x), true
}
