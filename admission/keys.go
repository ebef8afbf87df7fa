package admission

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"slices"

	"github.com/usherhq/usher/internal/keyfile"
)

// KeySource finds the public key for a kid; *KeySet and *RemoteKeys
// implement it.
type KeySource interface {
	// PublicKey returns the key whose KeyID is kid, if it is known.
	PublicKey(kid string) (ed25519.PublicKey, bool)
}

var (
	_ KeySource = (*KeySet)(nil)
	_ KeySource = (*RemoteKeys)(nil)
)

// KeySet is one signing key and any number of keys that only verify, as
// during a key rotation. It is immutable after construction and safe for
// concurrent use.
type KeySet struct {
	signing    ed25519.PrivateKey // nil for a verify-only set
	signingKID string
	keys       map[string]ed25519.PublicKey // by kid, the signing key's included
	jwks       []byte
}

// GenerateKey returns a new random Ed25519 signing key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	return priv, nil
}

// NewKeySet returns a set that signs with signing and verifies with signing's
// public key and with verifyOnly. signing may be nil for a set that only
// verifies. Keys of the wrong length are left out, and a key given twice is
// kept once. The set keeps copies, so the caller may reuse its slices.
func NewKeySet(signing ed25519.PrivateKey, verifyOnly ...ed25519.PublicKey) *KeySet {
	k := &KeySet{keys: make(map[string]ed25519.PublicKey, 1+len(verifyOnly))}
	var order []ed25519.PublicKey // signing key first, for JWKS
	add := func(pub ed25519.PublicKey) {
		if len(pub) != ed25519.PublicKeySize {
			return
		}
		kid := KeyID(pub)
		if _, dup := k.keys[kid]; dup {
			return
		}
		pub = slices.Clone(pub)
		k.keys[kid] = pub
		order = append(order, pub)
	}
	if len(signing) == ed25519.PrivateKeySize {
		// Rebuilt from the seed, because signing uses the public half stored
		// in the key and a key spliced together would sign what nothing
		// verifies.
		k.signing = ed25519.NewKeyFromSeed(signing.Seed())
		pub := k.signing.Public().(ed25519.PublicKey)
		k.signingKID = KeyID(pub)
		add(pub)
	}
	for _, pub := range verifyOnly {
		add(pub)
	}
	k.jwks = marshalJWKS(order)
	return k
}

// KeyID returns the RFC 7638 JWK thumbprint of pub: base64url without padding
// of the SHA-256 of its canonical JWK. Every instance that loads the same key
// agrees on its kid without configuration.
func KeyID(pub ed25519.PublicKey) string {
	// The canonical JWK has exactly these members in this order, and x is
	// base64url, so it needs no JSON escaping.
	canonical := `{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// SigningKID returns the kid of the signing key, or "" for a verify-only set.
func (k *KeySet) SigningKID() string {
	if k == nil {
		return ""
	}
	return k.signingKID
}

// PublicKey returns the key whose KeyID is kid, if the set holds it.
func (k *KeySet) PublicKey(kid string) (ed25519.PublicKey, bool) {
	if k == nil {
		return nil, false
	}
	pub, ok := k.keys[kid]
	return pub, ok
}

// Secret derives a 32-byte secret for purpose from the signing key:
// HMAC-SHA256 keyed with the key's seed over purpose. Every instance that
// loads the same signing key derives the same secret, so a value one
// instance MACs with it, another can check, with no key of its own to
// distribute; and a secret for one purpose says nothing of the key or of
// another purpose's secret. It returns nil for a verify-only set.
func (k *KeySet) Secret(purpose string) []byte {
	if k == nil || k.signing == nil {
		return nil
	}
	m := hmac.New(sha256.New, k.signing.Seed())
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// MarshalPrivateKeyPEM encodes key as a PKCS #8 "PRIVATE KEY" PEM block, the
// form LoadKeySet reads.
func MarshalPrivateKeyPEM(key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("marshal Ed25519 key: %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal Ed25519 key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadKeySet reads a key set from PEM files. The first file must hold a
// PKCS #8 Ed25519 private key ("PRIVATE KEY"), which signs; each other file
// holds an Ed25519 private key or a PKIX public key ("PUBLIC KEY"), which only
// verifies: the keys being rotated out. A key given twice is kept once.
func LoadKeySet(paths ...string) (*KeySet, error) {
	signing, verifyOnly, err := keyfile.Load(paths...)
	if err != nil {
		// Every message names its file already.
		return nil, err
	}
	return NewKeySet(signing, verifyOnly...), nil
}
