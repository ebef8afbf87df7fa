// Package keyfile reads the Ed25519 keys that sign passes and tickets from
// PEM files, one key in each, with errors that name the file and say what
// is wrong with it.
package keyfile

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Load reads a signing key and the keys being rotated out. The first file
// must hold a PKCS #8 Ed25519 private key ("PRIVATE KEY"), which signs; each
// other file holds an Ed25519 private key or a PKIX public key ("PUBLIC
// KEY"), of which only the public key is kept: it verifies and never signs.
func Load(paths ...string) (signing ed25519.PrivateKey, verifyOnly []ed25519.PublicKey, err error) {
	if len(paths) == 0 {
		return nil, nil, errors.New("no key file given")
	}
	if signing, err = loadSigning(paths[0]); err != nil {
		return nil, nil, err
	}
	verifyOnly = make([]ed25519.PublicKey, 0, len(paths)-1)
	for _, path := range paths[1:] {
		pub, err := loadVerify(path)
		if err != nil {
			return nil, nil, err
		}
		verifyOnly = append(verifyOnly, pub)
	}
	return signing, verifyOnly, nil
}

// loadSigning reads the Ed25519 private key in the PEM file at path.
func loadSigning(path string) (ed25519.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("key file %s: holds a %q PEM block, but the signing key must be a PKCS #8 Ed25519 \"PRIVATE KEY\"", path, block.Type)
	}
	return parsePrivateKey(path, block.Bytes)
}

// loadVerify reads the Ed25519 key, private or public, in the PEM file at
// path and returns its public key.
func loadVerify(path string) (ed25519.PublicKey, error) {
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
