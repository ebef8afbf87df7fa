package ticket

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes data to a file named name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// privatePEM encodes key as a PKCS #8 "PRIVATE KEY" block.
func privatePEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// publicPEM encodes key as a PKIX "PUBLIC KEY" block.
func publicPEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
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
		t.Fatalf("GenerateKey gave keys of %d bytes, equal %v", len(a), a.Equal(b))
	}
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	current, previous, older := testKey(t, 1), testKey(t, 2), testKey(t, 3)
	currentPath := writeFile(t, dir, "current.pem", privatePEM(t, current))
	previousPath := writeFile(t, dir, "previous.pem", privatePEM(t, previous))
	olderPath := writeFile(t, dir, "older.pub.pem", publicPEM(t, publicOf(older)))

	keys, err := LoadKeys(currentPath, previousPath, olderPath)
	if err != nil {
		t.Fatalf("LoadKeys: %v", err)
	}
	claims := Claims{TicketID: NewID(), EventID: "e1", Place: "A1"}
	for _, priv := range []ed25519.PrivateKey{current, previous, older} {
		code, err := NewKeys(priv).Sign(claims)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := keys.Verify(code); err != nil || got != claims {
			t.Errorf("loaded keys: Verify(code of %x) = %+v, %v", publicOf(priv)[:4], got, err)
		}
	}
	code, err := keys.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeys(current).Verify(code); err != nil {
		t.Errorf("loaded keys do not sign with the first file's key: %v", err)
	}
}

func TestLoadKeysErrors(t *testing.T) {
	dir := t.TempDir()
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := writeFile(t, dir, "good.pem", privatePEM(t, testKey(t, 1)))
	public := writeFile(t, dir, "public.pem", publicPEM(t, publicOf(testKey(t, 2))))
	missing := filepath.Join(dir, "missing.pem")
	notPEM := writeFile(t, dir, "not.pem", []byte("not a key"))
	ecPrivate := writeFile(t, dir, "ec.pem", privatePEM(t, ecKey))
	ecPublic := writeFile(t, dir, "ec.pub.pem", publicPEM(t, &ecKey.PublicKey))
	twoBlocks := writeFile(t, dir, "two.pem", append(privatePEM(t, testKey(t, 1)), privatePEM(t, testKey(t, 2))...))
	withHeaders := writeFile(t, dir, "headers.pem", pem.EncodeToMemory(&pem.Block{
		Type: "PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1},
	}))
	badDER := writeFile(t, dir, "bad.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
	badPublicDER := writeFile(t, dir, "badpub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}}))
	certificate := writeFile(t, dir, "cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}))

	tests := []struct {
		name  string
		paths []string
		want  []string // every part must be in the error
	}{
		{"no file", nil, []string{"no key file"}},
		{"missing", []string{missing}, []string{missing, "cannot read"}},
		{"not PEM", []string{notPEM}, []string{notPEM, "not PEM"}},
		{"public key signs", []string{public}, []string{public, `"PUBLIC KEY"`, "signing key"}},
		{"ECDSA signing key", []string{ecPrivate}, []string{ecPrivate, "an ECDSA key, want Ed25519"}},
		{"ECDSA verify key", []string{good, ecPublic}, []string{ecPublic, "an ECDSA key, want Ed25519"}},
		{"ECDSA private verify key", []string{good, ecPrivate}, []string{ecPrivate, "an ECDSA key"}},
		{"two blocks", []string{twoBlocks}, []string{twoBlocks, "more than one PEM block"}},
		{"encrypted", []string{withHeaders}, []string{withHeaders, "encrypted"}},
		{"bad PKCS #8", []string{badDER}, []string{badDER, "bad PKCS #8"}},
		{"bad PKCS #8 verify key", []string{good, badDER}, []string{badDER, "bad PKCS #8"}},
		{"bad PKIX", []string{good, badPublicDER}, []string{badPublicDER, "bad PKIX"}},
		{"certificate", []string{good, certificate}, []string{certificate, `"CERTIFICATE"`}},
		{"missing verify key", []string{good, public, missing}, []string{missing, "cannot read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := LoadKeys(tt.paths...)
			if err == nil {
				t.Fatalf("LoadKeys(%q) = %v, want an error", tt.paths, keys)
			}
			for _, part := range tt.want {
				if !strings.Contains(err.Error(), part) {
					t.Errorf("LoadKeys error = %q, want it to contain %q", err, part)
				}
			}
		})
	}
}

func TestNewKeys(t *testing.T) {
	signing, other := testKey(t, 1), testKey(t, 2)
	keys := NewKeys(signing, publicOf(signing), publicOf(other), publicOf(other), ed25519.PublicKey{1, 2, 3}, nil)
	if len(keys.public) != 2 {
		t.Fatalf("NewKeys kept %d keys, want 2 (duplicates and bad lengths left out)", len(keys.public))
	}

	// The caller's slices are copied.
	pub := append(ed25519.PublicKey(nil), publicOf(other)...)
	code, err := NewKeys(other).Sign(Claims{TicketID: NewID(), EventID: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeys(nil, pub)
	clear(pub)
	if _, err := k.Verify(code); err != nil {
		t.Errorf("changing the caller's slice changed the keys: %v", err)
	}

	// A spliced private key, whose public half belongs to another key,
	// still signs what its own public key verifies.
	spliced := append(append(ed25519.PrivateKey(nil), signing.Seed()...), publicOf(other)...)
	code, err = NewKeys(spliced).Sign(Claims{TicketID: NewID(), EventID: "e1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewKeys(nil, publicOf(signing)).Verify(code); err != nil {
		t.Errorf("a spliced key signed a code its seed's public key rejects: %v", err)
	}
}

func TestPublicJSON(t *testing.T) {
	signing, old := testKey(t, 1), testKey(t, 2)
	got := NewKeys(signing, publicOf(old)).PublicJSON()

	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatalf("PublicJSON is not JSON: %v\n%s", err, got)
	}
	if len(doc.Keys) != 2 {
		t.Fatalf("PublicJSON has %d keys, want 2: %s", len(doc.Keys), got)
	}
	for i, priv := range []ed25519.PrivateKey{signing, old} {
		pub := publicOf(priv)
		sum := sha256.Sum256(pub)
		want := map[string]string{
			"kid":        hex.EncodeToString(sum[:4]),
			"alg":        "Ed25519",
			"public_key": base64.RawURLEncoding.EncodeToString(pub),
		}
		if len(doc.Keys[i]) != len(want) {
			t.Errorf("key %d = %v, want exactly %v", i, doc.Keys[i], want)
		}
		for name, value := range want {
			if doc.Keys[i][name] != value {
				t.Errorf("key %d: %s = %q, want %q", i, name, doc.Keys[i][name], value)
			}
		}
	}

	got[0] = 'x'
	if again := NewKeys(signing).PublicJSON(); again[0] != '{' {
		t.Error("changing PublicJSON's result changed the keys")
	}
	if empty := string((*Keys)(nil).PublicJSON()); empty != `{"keys":[]}` {
		t.Errorf("nil keys: PublicJSON = %s", empty)
	}
}

func TestParsePublicJSON(t *testing.T) {
	pub := publicOf(testKey(t, 1))
	kid := hex.EncodeToString(func() []byte { s := sha256.Sum256(pub); return s[:4] }())
	x := base64.RawURLEncoding.EncodeToString(pub)
	key := func(kid, alg, x string) string {
		return `{"keys":[{"kid":"` + kid + `","alg":"` + alg + `","public_key":"` + x + `"}]}`
	}
	tests := []struct {
		name, doc, reason string
	}{
		{"not JSON", "{", "parse ticket keys"},
		{"no keys", `{"keys":[]}`, "no key"},
		{"wrong alg", key(kid, "EdDSA", x), `alg "EdDSA"`},
		{"padded key", key(kid, "Ed25519", x+"="), "public_key"},
		{"standard base64", key(kid, "Ed25519", base64.StdEncoding.EncodeToString(pub)), "public_key"},
		{"short key", key(kid, "Ed25519", x[:20]), "public_key is 15 bytes"},
		{"wrong kid", key("00000000", "Ed25519", x), "does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParsePublicJSON([]byte(tt.doc))
			if err == nil {
				t.Fatalf("ParsePublicJSON(%s) = %v, want an error", tt.doc, keys)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("ParsePublicJSON error = %v, want it to say %q", err, tt.reason)
			}
		})
	}
	t.Run("verify only", func(t *testing.T) {
		// Fields it does not know are left for later versions.
		doc := strings.Replace(key(kid, "Ed25519", x), `"alg"`, `"use":"tickets","alg"`, 1)
		keys, err := ParsePublicJSON([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Sign(Claims{TicketID: NewID(), EventID: "e1"}); err == nil {
			t.Error("keys parsed from public JSON can sign")
		}
		code, err := NewKeys(testKey(t, 1)).Sign(Claims{TicketID: NewID(), EventID: "e1"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := keys.Verify(code); err != nil {
			t.Errorf("keys parsed from public JSON reject a code: %v", err)
		}
	})
}
