package demo

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/usherhq/usher/admission"
)

func TestOriginChecksPasses(t *testing.T) {
	key, err := admission.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys := admission.NewKeySet(key)
	tokens := admission.NewTokens(keys, keys, admission.TokenOptions{})
	srv := httptest.NewServer(Origin(tokens, "demo"))
	defer srv.Close()
	pass, err := tokens.Sign(admission.Claims{Kind: admission.KindPass, Room: "demo", Visitor: "v", Seq: 7, Expires: time.Now().Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, pass string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if pass != "" {
			req.Header.Set(admission.PassHeader, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if code, body := get("/", ""); code != 200 || !strings.Contains(body, "/events/1") {
		t.Errorf("landing page: %d", code)
	}
	for _, path := range []string{"/events/", "/events/1", "/api/events"} {
		if code, _ := get(path, ""); code != http.StatusForbidden {
			t.Errorf("%s without a pass: %d, want 403", path, code)
		}
	}
	if code, body := get("/events/1", pass); code != 200 || !strings.Contains(body, "number 7 in line") {
		t.Errorf("event page with a pass: %d %.200s", code, body)
	}
	if code, body := get("/api/events", pass); code != 200 || !strings.HasPrefix(body, `[{"id":"1"`) {
		t.Errorf("api with a pass: %d %s", code, body)
	}
}
