package admission

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestKeyIDMatchesRFC8037(t *testing.T) {
	// RFC 8037, appendix A.3: the thumbprint of the example key.
	x, err := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if err != nil {
		t.Fatal(err)
	}
	const want = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	if got := KeyID(x); got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
}

func TestNewKeySet(t *testing.T) {
	a, b, c := testKey(1), testKey(2), testKey(3)
	tests := []struct {
		name       string
		signing    ed25519.PrivateKey
		verifyOnly []ed25519.PublicKey
		wantSigner string
		wantKeys   []ed25519.PublicKey
		wantNot    []ed25519.PublicKey
	}{
		{"signing only", a, nil, KeyID(publicOf(a)), []ed25519.PublicKey{publicOf(a)}, []ed25519.PublicKey{publicOf(b)}},
		{"signing and verify-only", a, []ed25519.PublicKey{publicOf(b), publicOf(c)}, KeyID(publicOf(a)), []ed25519.PublicKey{publicOf(a), publicOf(b), publicOf(c)}, nil},
		{"verify-only", nil, []ed25519.PublicKey{publicOf(b)}, "", []ed25519.PublicKey{publicOf(b)}, []ed25519.PublicKey{publicOf(a)}},
		{"duplicates merged", a, []ed25519.PublicKey{publicOf(a), publicOf(b), publicOf(b)}, KeyID(publicOf(a)), []ed25519.PublicKey{publicOf(a), publicOf(b)}, nil},
		{"wrong lengths left out", ed25519.PrivateKey{1, 2, 3}, []ed25519.PublicKey{{4, 5}, publicOf(b)}, "", []ed25519.PublicKey{publicOf(b)}, []ed25519.PublicKey{{4, 5}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := NewKeySet(tt.signing, tt.verifyOnly...)
			if got := k.SigningKID(); got != tt.wantSigner {
				t.Errorf("SigningKID = %q, want %q", got, tt.wantSigner)
			}
			for _, pub := range tt.wantKeys {
				got, ok := k.PublicKey(KeyID(pub))
				if !ok || !got.Equal(pub) {
					t.Errorf("PublicKey(%s) = %x, %v; want %x", KeyID(pub), got, ok, pub)
				}
			}
			for _, pub := range tt.wantNot {
				if _, ok := k.PublicKey(KeyID(pub)); ok {
					t.Errorf("PublicKey(%s) found a key that was not given", KeyID(pub))
				}
			}
			if n := len(k.keys); n != len(tt.wantKeys) {
				t.Errorf("set holds %d keys, want %d", n, len(tt.wantKeys))
			}
		})
	}
}

func TestKeySetKeepsCopies(t *testing.T) {
	priv := testKey(1)
	pub := publicOf(testKey(2))
	k := NewKeySet(priv, pub)
	kid, want := KeyID(pub), slices.Clone(pub)
	clear(priv)
	clear(pub)
	tk := NewTokens(k, nil, TokenOptions{Now: newTestClock().Now})
	if _, err := tk.Verify(mustSign(t, tk, testPass()), KindPass, "demo"); err != nil {
		t.Errorf("signing after the caller cleared its key: %v", err)
	}
	if got, ok := k.PublicKey(kid); !ok || !got.Equal(want) {
		t.Errorf("verify-only key = %x, want %x as given", got, want)
	}
}

func TestNilKeySet(t *testing.T) {
	var k *KeySet
	if _, ok := k.PublicKey(KeyID(publicOf(testKey(1)))); ok {
		t.Error("nil set found a key")
	}
	if k.SigningKID() != "" {
		t.Error("nil set has a signing kid")
	}
	if got := string(k.JWKS()); got != `{"keys":[]}` {
		t.Errorf("nil set's JWKS = %s", got)
	}
}

func TestGenerateKey(t *testing.T) {
	a, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != ed25519.PrivateKeySize || a.Equal(b) {
		t.Errorf("GenerateKey gave %d bytes, twice the same key: %v", len(a), a.Equal(b))
	}
}

func TestMarshalPrivateKeyPEM(t *testing.T) {
	priv := testKey(7)
	data, err := MarshalPrivateKeyPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("MarshalPrivateKeyPEM wrote %q, want a PRIVATE KEY block", data)
	}
	path := writeFile(t, t.TempDir(), "k.pem", data)
	k, err := LoadKeySet(path)
	if err != nil {
		t.Fatal(err)
	}
	if k.SigningKID() != KeyID(publicOf(priv)) {
		t.Errorf("loaded kid %q, want %q", k.SigningKID(), KeyID(publicOf(priv)))
	}
	if _, err := MarshalPrivateKeyPEM(priv[:10]); err == nil {
		t.Error("MarshalPrivateKeyPEM accepted a 10-byte key")
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func privatePEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func publicPEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestLoadKeySet(t *testing.T) {
	dir := t.TempDir()
	signing, old, older := testKey(1), testKey(2), testKey(3)
	signingFile := writeFile(t, dir, "signing.pem", privatePEM(t, signing))
	oldPublic := writeFile(t, dir, "old.pub.pem", publicPEM(t, publicOf(old)))
	olderPrivate := writeFile(t, dir, "older.pem", privatePEM(t, older))
	signingPublic := writeFile(t, dir, "signing.pub.pem", publicPEM(t, publicOf(signing)))

	k, err := LoadKeySet(signingFile, oldPublic, olderPrivate, signingPublic)
	if err != nil {
		t.Fatal(err)
	}
	if k.SigningKID() != KeyID(publicOf(signing)) {
		t.Errorf("SigningKID = %q, want the first file's key", k.SigningKID())
	}
	for _, pub := range []ed25519.PublicKey{publicOf(signing), publicOf(old), publicOf(older)} {
		if _, ok := k.PublicKey(KeyID(pub)); !ok {
			t.Errorf("key %s not loaded", KeyID(pub))
		}
	}
	if len(k.keys) != 3 {
		t.Errorf("loaded %d keys, want 3 (the signing key given twice counts once)", len(k.keys))
	}

	// Tokens signed with the loaded key verify with a set that knows it.
	tk := NewTokens(k, nil, TokenOptions{Now: newTestClock().Now})
	verifier := NewTokens(nil, NewKeySet(nil, publicOf(signing)), TokenOptions{Now: newTestClock().Now})
	if _, err := verifier.Verify(mustSign(t, tk, testPass()), KindPass, "demo"); err != nil {
		t.Errorf("token signed with the loaded key: %v", err)
	}
}

func TestLoadKeySetErrors(t *testing.T) {
	dir := t.TempDir()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	good := writeFile(t, dir, "good.pem", privatePEM(t, testKey(1)))
	file := func(name string, data []byte) string { return writeFile(t, dir, name, data) }
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}})

	tests := []struct {
		name  string
		paths []string
		want  string
	}{
		{"no files", nil, "no key file"},
		{"missing file", []string{filepath.Join(dir, "absent.pem")}, "cannot read"},
		{"not PEM", []string{file("text.pem", []byte("just some text"))}, "not PEM"},
		{"RSA signing key", []string{file("rsa.pem", privatePEM(t, rsaKey))}, "RSA key, want Ed25519"},
		{"ECDSA signing key", []string{file("ec8.pem", privatePEM(t, ecKey))}, "ECDSA key, want Ed25519"},
		{"SEC 1 EC block", []string{file("ec.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))}, `"EC PRIVATE KEY"`},
		{"public key first", []string{file("pub.pem", publicPEM(t, publicOf(testKey(1))))}, `"PUBLIC KEY" PEM block, but the signing key must be`},
		{"corrupt DER", []string{file("bad.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("nope")}))}, "bad PKCS #8"},
		{"two keys in one file", []string{file("two.pem", append(privatePEM(t, testKey(1)), privatePEM(t, testKey(2))...))}, "more than one PEM block"},
		{"encrypted", []string{file("enc.pem", encrypted)}, "encrypted"},
		{"RSA verify key", []string{good, file("rsa.pub.pem", publicPEM(t, &rsaKey.PublicKey))}, "RSA key, want Ed25519"},
		{"corrupt public key", []string{good, file("badpub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("nope")}))}, "bad PKIX"},
		{"certificate as verify key", []string{good, file("cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("x")}))}, `"CERTIFICATE"`},
		{"missing verify key", []string{good, filepath.Join(dir, "gone.pem")}, "cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadKeySet(tt.paths...)
			if err == nil {
				t.Fatalf("LoadKeySet(%v) = %v, want an error", tt.paths, k)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			if len(tt.paths) > 0 {
				bad := tt.paths[len(tt.paths)-1]
				if !strings.Contains(err.Error(), bad) {
					t.Errorf("error %q does not name the file %s", err, bad)
				}
			}
		})
	}
}

func TestLoadKeySetMissingFileIsNotExist(t *testing.T) {
	_, err := LoadKeySet(filepath.Join(t.TempDir(), "absent.pem"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestSecret(t *testing.T) {
	a, b := NewKeySet(testKey(1)), NewKeySet(testKey(1))
	if s := a.Secret("challenge"); len(s) != 32 || !bytes.Equal(s, b.Secret("challenge")) {
		t.Errorf("the same key derived %x and %x", s, b.Secret("challenge"))
	}
	if bytes.Equal(a.Secret("challenge"), a.Secret("other")) {
		t.Error("two purposes derived the same secret")
	}
	if bytes.Equal(a.Secret("challenge"), NewKeySet(testKey(2)).Secret("challenge")) {
		t.Error("two keys derived the same secret")
	}
	if s := NewKeySet(nil, publicOf(testKey(1))).Secret("challenge"); s != nil {
		t.Errorf("a verify-only set derived %x", s)
	}
}
