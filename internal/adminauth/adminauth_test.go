package adminauth

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/usherhq/usher/internal/oidctest"
)

func TestRoles(t *testing.T) {
	a := New(nil, &OIDC{RolesClaim: "realm_access.roles", OperatorRole: "op", ViewerRole: "view"}, nil)
	for _, tt := range []struct {
		claims map[string]any
		want   Role
	}{
		{map[string]any{"realm_access": map[string]any{"roles": []any{"x", "view"}}}, Viewer},
		{map[string]any{"realm_access": map[string]any{"roles": []any{"view", "op"}}}, Operator},
		{map[string]any{"realm_access": map[string]any{"roles": "view op"}}, Operator},
		{map[string]any{"realm_access": map[string]any{"roles": []any{"x"}}}, ""},
		{map[string]any{"realm_access": "op"}, ""},
		{map[string]any{}, ""},
	} {
		if got := a.roleOf(tt.claims); got != tt.want {
			t.Errorf("roleOf(%v) = %q, want %q", tt.claims, got, tt.want)
		}
	}
	if !Operator.Allows(Viewer) || !Operator.Allows(Operator) || Viewer.Allows(Operator) || !Viewer.Allows(Viewer) || Role("").Allows(Viewer) {
		t.Error("Allows")
	}
}

func TestBearer(t *testing.T) {
	idp := oidctest.New(t, oidctest.Options{ClientID: "usher"})
	a := New([]Token{{Name: "ci", SHA256: sha256.Sum256([]byte("tok-123")), Role: Operator}},
		&OIDC{Issuer: idp.URL, ClientID: "usher", RolesClaim: "roles", OperatorRole: "usher-operator", ViewerRole: "usher-viewer"}, nil)
	req := func(h string) *http.Request {
		r, _ := http.NewRequest("GET", "http://x/", nil)
		if h != "" {
			r.Header.Set("Authorization", h)
		}
		return r
	}
	if p, err := a.Request(req("Bearer tok-123")); err != nil || p.Who != "ci" || p.Role != Operator || p.Via != "token" {
		t.Errorf("API token: %+v %v", p, err)
	}
	if _, err := a.Request(req("")); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("no header: %v", err)
	}
	for _, h := range []string{"Bearer ", "Basic eDp5", "Bearer nope", "Bearer a.b.c"} {
		if _, err := a.Request(req(h)); !errors.Is(err, ErrBadCredential) {
			t.Errorf("%q: %v", h, err)
		}
	}
	jwt := idp.Mint(t, oidctest.Mint{Subject: "ann", Claims: map[string]any{"roles": []string{"usher-viewer"}, "email": "ann@venue.example"}})
	if p, err := a.Request(req("Bearer " + jwt)); err != nil || p.Who != "ann@venue.example" || p.Role != Viewer || p.Via != "oidc" {
		t.Errorf("JWT: %+v %v", p, err)
	}
	expired := idp.Mint(t, oidctest.Mint{Subject: "ann", Claims: map[string]any{"roles": []string{"usher-viewer"}}, IssuedAt: time.Now().Add(-2 * time.Hour), Expiry: time.Now().Add(-time.Hour)})
	if _, err := a.Request(req("Bearer " + expired)); !errors.Is(err, ErrBadCredential) {
		t.Errorf("expired: %v", err)
	}
	norole := idp.Mint(t, oidctest.Mint{Subject: "bob"})
	if p, err := a.Request(req("Bearer " + norole)); !errors.Is(err, ErrNoRole) || p.Who != "bob" {
		t.Errorf("no role: %+v %v", p, err)
	}
}
