package oidctest_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/usherhq/usher/internal/oidctest"
)

// callbackURL is where the client under test would receive the browser. It
// is never contacted: the tests stop at the redirect.
const callbackURL = "http://127.0.0.1:1/callback"

// fakeClock is a clock that moves only when told, shared by the provider and
// the verifier.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 3, 1, 10, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// discover builds the client side the way an application does: discovery
// with go-oidc, then an oauth2.Config from the discovered endpoints.
func discover(t *testing.T, p *oidctest.Provider, secret string, style oauth2.AuthStyle) (*oidc.Provider, oauth2.Config) {
	t.Helper()
	op, err := oidc.NewProvider(t.Context(), p.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	endpoint := op.Endpoint()
	endpoint.AuthStyle = style
	return op, oauth2.Config{
		ClientID:     p.ClientID(),
		ClientSecret: secret,
		Endpoint:     endpoint,
		RedirectURL:  callbackURL,
		Scopes:       []string{oidc.ScopeOpenID, "email", "profile"},
	}
}

// login runs the browser part of the flow and returns the code and the PKCE
// verifier that goes with it.
func login(t *testing.T, p *oidctest.Provider, cfg oauth2.Config) (code, verifier string) {
	t.Helper()
	verifier = oauth2.GenerateVerifier()
	loc := p.Authorize(t, cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	code = loc.Query().Get("code")
	if code == "" {
		t.Fatalf("login: redirected to %s, want a code", loc)
	}
	return code, verifier
}

// noRedirects is an HTTP client that shows redirects instead of following
// them, as a test of the browser side needs.
func noRedirects() *http.Client {
	return &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// recordingTB records the failures that the provider reports instead of
// ending the test, so that misuse can be asserted. Everything else goes to
// the real test.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) { r.record(format, args...) }

// Fatalf records and returns, unlike the real one; the provider returns
// right after calling it.
func (r *recordingTB) Fatalf(format string, args ...any) { r.record(format, args...) }

func (r *recordingTB) record(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

func (r *recordingTB) failed() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.failures, "; ")
}
