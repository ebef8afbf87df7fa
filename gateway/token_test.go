package gateway

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/admission"
)

// badPasses are tokens the gateway must treat as no pass for room "sale".
func badPasses(t *testing.T, keys *admission.KeySet, clk *clock) map[string]string {
	t.Helper()
	tokens := admission.NewTokens(keys, keys, admission.TokenOptions{Now: clk.Now})
	sign := func(tk *admission.Tokens, c admission.Claims) string {
		t.Helper()
		s, err := tk.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := admission.Claims{Kind: admission.KindPass, Room: "sale", Visitor: admission.NewVisitorID(), Seq: 1, IssuedAt: clk.Now(), Expires: clk.Now().Add(10 * time.Minute)}
	valid := sign(tokens, good)

	tampered := []byte(valid)
	mid := strings.IndexByte(valid, '.') + 5
	tampered[mid] ^= 1

	expired := good
	expired.IssuedAt, expired.Expires = clk.Now().Add(-time.Hour), clk.Now().Add(-time.Minute)
	wrongRoom := good
	wrongRoom.Room = "other"
	wrongKind := good
	wrongKind.Kind = admission.KindTicket

	otherKey, err := admission.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	stranger := admission.NewKeySet(otherKey)
	unknownKID := sign(admission.NewTokens(stranger, stranger, admission.TokenOptions{Now: clk.Now}), good)

	enc := base64.RawURLEncoding.EncodeToString
	payload := strings.Split(valid, ".")[1]
	algNone := enc([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + payload + "."
	// Signed for real, with a key the gateway does not know, under the
	// gateway's own kid.
	header := enc([]byte(`{"alg":"EdDSA","kid":"` + keys.SigningKID() + `","typ":"JWT"}`))
	forged := header + "." + payload + "." + enc(ed25519.Sign(otherKey, []byte(header+"."+payload)))

	return map[string]string{
		"tampered":    string(tampered),
		"expired":     sign(tokens, expired),
		"wrong-room":  sign(tokens, wrongRoom),
		"wrong-kind":  sign(tokens, wrongKind),
		"alg-none":    algNone,
		"unknown-kid": unknownKID,
		"forged":      forged,
		"garbage":     "not.a.token",
		"empty-ish":   "..",
	}
}

// TestTicketRefusedAsPass: a valid ticket in the pass cookie does not let a
// visitor through, while the same visitor's real pass does.
func TestPassLetsThroughOnlyWhileValid(t *testing.T) {
	clk := newClock()
	keys := newKeys(t)
	o := newOrigin(t, nil)
	g, _ := startGateway(t, gatewaySetup{keys: keys, clock: clk, origin: o.URL, store: storeKinds(t)[0].open(t, clk.Now),
		room: func(r *RoomConfig) { r.State = "paused" }})
	tokens := admission.NewTokens(keys, keys, admission.TokenOptions{Now: clk.Now})
	pass, err := tokens.Sign(admission.Claims{Kind: admission.KindPass, Room: "sale", Visitor: "v", Seq: 1, IssuedAt: clk.Now(), Expires: clk.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t)
	if resp, body := b.get(g.URL+"/events/1", "Cookie", "usher_pass_sale="+pass); resp.StatusCode != 200 || body != "origin /events/1" {
		t.Fatalf("valid pass: %d %.80q", resp.StatusCode, body)
	}
	// Past its expiry and the leeway, the same pass is refused, cached or
	// not.
	clk.Add(time.Minute + 6*time.Second)
	if resp, body := b.get(g.URL+"/events/1", "Cookie", "usher_pass_sale="+pass); resp.StatusCode != http.StatusOK || !strings.Contains(body, "in line") {
		t.Fatalf("expired pass: %d %.80q", resp.StatusCode, body)
	}
}
