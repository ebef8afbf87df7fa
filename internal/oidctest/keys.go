package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// keyBits is the size of every RSA key, the smallest that RS256 verifiers
// commonly accept.
const keyBits = 2048

// strangerKey signs tokens that the JWKS of no provider publishes. One key
// serves every provider of the test binary, since none of them ever trusts it.
var strangerKey = sync.OnceValues(func() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, keyBits)
})

// signingKey is one RSA key with the kid that names it in token headers.
type signingKey struct {
	kid  string
	priv *rsa.PrivateKey
}

// newSigningKey makes a fresh RSA key named by its RFC 7638 thumbprint, so
// that a kid is stable for a key and distinct between keys.
func newSigningKey() (signingKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return signingKey{}, fmt.Errorf("generate RSA key: %w", err)
	}
	return signingKey{kid: thumbprint(&priv.PublicKey), priv: priv}, nil
}

// activeKey returns the key that signs new tokens.
func (p *Provider) activeKey() signingKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[len(p.keys)-1]
}

// publicKeys returns every key the JWKS publishes, oldest first.
func (p *Provider) publicKeys() []signingKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]signingKey(nil), p.keys...)
}

// jwk is the JSON Web Key form of an RSA public key (RFC 7517, RFC 7518).
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func publicJWK(k signingKey) jwk {
	return jwk{
		Kty: "RSA",
		Use: "sig",
		Alg: jwt.SigningMethodRS256.Alg(),
		Kid: k.kid,
		N:   b64(k.priv.N.Bytes()),
		E:   b64(big.NewInt(int64(k.priv.E)).Bytes()),
	}
}

// thumbprint is the RFC 7638 JWK thumbprint of pub: the SHA-256 of its
// required members in lexical order, without whitespace.
func thumbprint(pub *rsa.PublicKey) string {
	canonical := fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`,
		b64(big.NewInt(int64(pub.E)).Bytes()), b64(pub.N.Bytes()))
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// sign makes an RS256 JWT of claims, with kid in its header. typ is the
// header's media type: "JWT" for ID tokens, "at+jwt" for access tokens
// (RFC 9068).
func sign(claims map[string]any, typ, kid string, priv *rsa.PrivateKey) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims(claims))
	tok.Header["kid"] = kid
	tok.Header["typ"] = typ
	s, err := tok.SignedString(priv)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// serveJWKS publishes every signing key the provider has used.
func (p *Provider) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	p.count(func(s *Stats) { s.JWKSFetches++ })
	keys := p.publicKeys()
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: make([]jwk, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, publicJWK(k))
	}
	writeJSON(w, http.StatusOK, set)
}

// writeJSON answers v as JSON. Nothing the provider answers may be cached:
// codes, tokens and keys all change within a test.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, fmt.Sprintf("encode response: %v", err), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client is gone if this fails; nothing to tell
}
