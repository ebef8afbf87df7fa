package admission

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
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
	if len(paths) == 0 {
		return nil, errors.New("load key set: no key file given")
	}
	signing, err := loadSigningKey(paths[0])
	if err != nil {
		return nil, err
	}
	verifyOnly := make([]ed25519.PublicKey, 0, len(paths)-1)
	for _, path := range paths[1:] {
		pub, err := loadVerifyKey(path)
		if err != nil {
			return nil, err
		}
		verifyOnly = append(verifyOnly, pub)
	}
	return NewKeySet(signing, verifyOnly...), nil
}

// loadSigningKey reads the Ed25519 private key in the PEM file at path.
func loadSigningKey(path string) (ed25519.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("key file %s: holds a %q PEM block, but the signing key must be a PKCS #8 Ed25519 \"PRIVATE KEY\"", path, block.Type)
	}
	return parsePrivateKey(path, block.Bytes)
}

// loadVerifyKey reads the Ed25519 key, private or public, in the PEM file at
// path and returns its public key.
func loadVerifyKey(path string) (ed25519.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PRIVATE KEY":
		priv, err := parsePrivateKey(path, block.Bytes)
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	case "PUBLIC KEY":
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("key file %s: bad PKIX public key: %w", path, err)
		}
		pub, ok := key.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("key file %s: holds %s key, want Ed25519", path, keyType(key))
		}
		return pub, nil
	default:
		return nil, fmt.Errorf("key file %s: holds a %q PEM block, want \"PRIVATE KEY\" (PKCS #8) or \"PUBLIC KEY\" (PKIX)", path, block.Type)
	}
}

// parsePrivateKey parses the PKCS #8 Ed25519 key in der, read from path.
func parsePrivateKey(path string, der []byte) (ed25519.PrivateKey, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("key file %s: bad PKCS #8 private key: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key file %s: holds %s key, want Ed25519", path, keyType(key))
	}
	return priv, nil
}

// readPEM reads the one PEM block in the file at path.
func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		// The path goes first in every message; keep only what went wrong.
		var pathErr *fs.PathError
		if errors.As(err, &pathErr) {
			err = pathErr.Err
		}
		return nil, fmt.Errorf("key file %s: cannot read: %w", path, err)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("key file %s: not PEM", path)
	}
	if len(block.Headers) > 0 {
		return nil, fmt.Errorf("key file %s: PEM block has headers; encrypted keys are not supported", path)
	}
	if next, _ := pem.Decode(rest); next != nil {
		return nil, fmt.Errorf("key file %s: holds more than one PEM block; put one key in each file", path)
	}
	return block, nil
}

// keyType names the algorithm of a key that is not Ed25519, for errors.
func keyType(key any) string {
	switch key.(type) {
	case *rsa.PrivateKey, *rsa.PublicKey:
		return "an RSA"
	case *ecdsa.PrivateKey, *ecdsa.PublicKey:
		return "an ECDSA"
	case *ecdh.PrivateKey, *ecdh.PublicKey:
		return "an ECDH (X25519 or NIST curve)"
	default:
		return fmt.Sprintf("a %T", key)
	}
}
