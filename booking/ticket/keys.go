package ticket

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/usherhq/usher/internal/keyfile"
)

// keyIDSize is the length of a key id in a code, in bytes.
const keyIDSize = 4

// keyID names a public key in a code.
type keyID [keyIDSize]byte

// idOf returns the key id of pub: the first bytes of its SHA-256.
func idOf(pub ed25519.PublicKey) keyID {
	sum := sha256.Sum256(pub)
	return keyID(sum[:keyIDSize])
}

// publicKey is a verifying key with its id.
type publicKey struct {
	id  keyID
	key ed25519.PublicKey
}

// Keys signs codes with one key and verifies them with that key and any
// number of older ones, as during a key rotation. It is immutable after
// construction and safe for concurrent use.
type Keys struct {
	signing ed25519.PrivateKey // nil when the keys only verify
	// public holds every verifying key, the signing key's first. Key ids
	// are short enough that two keys may share one, so Verify tries each
	// key with the code's id rather than looking one up.
	public     []publicKey
	publicJSON []byte
}

// GenerateKey returns a new random Ed25519 signing key.
func GenerateKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate Ed25519 key: %w", err)
	}
	return priv, nil
}

// NewKeys returns keys that sign with signing and verify with its public key
// and with verifyOnly. signing may be nil for keys that only verify, as on a
// scanner. Keys of the wrong length are left out, and a key given twice is
// kept once. NewKeys keeps copies, so the caller may reuse its slices.
func NewKeys(signing ed25519.PrivateKey, verifyOnly ...ed25519.PublicKey) *Keys {
	k := &Keys{}
	add := func(pub ed25519.PublicKey) {
		if len(pub) != ed25519.PublicKeySize {
			return
		}
		for _, have := range k.public {
			if bytes.Equal(have.key, pub) {
				return
			}
		}
		k.public = append(k.public, publicKey{id: idOf(pub), key: slices.Clone(pub)})
	}
	if len(signing) == ed25519.PrivateKeySize {
		// Rebuilt from the seed, because signing uses the public half stored
		// in the key, and a key spliced together would sign what nothing
		// verifies.
		k.signing = ed25519.NewKeyFromSeed(signing.Seed())
		add(k.signing.Public().(ed25519.PublicKey))
	}
	for _, pub := range verifyOnly {
		add(pub)
	}
	k.publicJSON = marshalPublic(k.public)
	return k
}

// publishedKeys is the document that PublicJSON returns.
type publishedKeys struct {
	Keys []publishedKey `json:"keys"`
}

// publishedKey is one key in PublicJSON.
type publishedKey struct {
	KID       string `json:"kid"`        // the key id, 8 lower-case hex characters
	Alg       string `json:"alg"`        // always "Ed25519"
	PublicKey string `json:"public_key"` // the 32-byte key, base64url without padding
}

// algEd25519 is the only algorithm a published key may name.
const algEd25519 = "Ed25519"

// marshalPublic renders keys as the PublicJSON document.
func marshalPublic(keys []publicKey) []byte {
	doc := publishedKeys{Keys: make([]publishedKey, 0, len(keys))}
	for _, k := range keys {
		doc.Keys = append(doc.Keys, publishedKey{
			KID:       hex.EncodeToString(k.id[:]),
			Alg:       algEd25519,
			PublicKey: base64.RawURLEncoding.EncodeToString(k.key),
		})
	}
	// A struct of strings always marshals.
	b, _ := json.Marshal(doc)
	return b
}

// PublicJSON returns the public keys for scanners, the signing key first:
//
//	{"keys":[{"kid":"<8 hex>","alg":"Ed25519","public_key":"<base64url>"}]}
//
// kid is the key id that codes carry, in hex; public_key is the raw 32-byte
// key in base64url without padding. The caller may modify the result.
func (k *Keys) PublicJSON() []byte {
	if k == nil {
		return marshalPublic(nil)
	}
	return slices.Clone(k.publicJSON)
}

// ParsePublicJSON reads the document that PublicJSON writes and returns keys
// that only verify, as a scanner holds them. Every key must be Ed25519, and
// its kid must match the key.
func ParsePublicJSON(data []byte) (*Keys, error) {
	// Unknown fields are ignored, so that a later server may publish more
	// about its keys without breaking the scanners already out there.
	var doc publishedKeys
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse ticket keys: %w", err)
	}
	if len(doc.Keys) == 0 {
		return nil, errors.New("parse ticket keys: no key")
	}
	pubs := make([]ed25519.PublicKey, 0, len(doc.Keys))
	for i, pk := range doc.Keys {
		if pk.Alg != algEd25519 {
			return nil, fmt.Errorf("parse ticket keys: key %d: alg %q, want %q", i, pk.Alg, algEd25519)
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(pk.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("parse ticket keys: key %d: public_key: %w", i, err)
		}
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("parse ticket keys: key %d: public_key is %d bytes, want %d", i, len(raw), ed25519.PublicKeySize)
		}
		id := idOf(raw)
		if kid := hex.EncodeToString(id[:]); pk.KID != kid {
			return nil, fmt.Errorf("parse ticket keys: key %d: kid %q does not match the key (%s)", i, pk.KID, kid)
		}
		pubs = append(pubs, raw)
	}
	return NewKeys(nil, pubs...), nil
}

// LoadKeys reads keys from PEM files, one key in each. The first file must
// hold a PKCS #8 Ed25519 private key ("PRIVATE KEY"), which signs; each other
// file holds an Ed25519 private key or a PKIX public key ("PUBLIC KEY"), which
// only verifies: the keys being rotated out. Every error names its file.
func LoadKeys(paths ...string) (*Keys, error) {
	signing, verifyOnly, err := keyfile.Load(paths...)
	if err != nil {
		// Every message names its file already.
		return nil, err
	}
	return NewKeys(signing, verifyOnly...), nil
}
