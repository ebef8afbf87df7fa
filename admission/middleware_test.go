package admission

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// origin is a test origin behind RequirePass that echoes the pass's visitor.
func origin(t *testing.T, tk *Tokens, room string) *httptest.Server {
	t.Helper()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := PassFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims in context", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello %s (%s, seq %d)", c.Visitor, c.Room, c.Seq)
	})
	srv := httptest.NewServer(RequirePass(tk, room, next))
	t.Cleanup(srv.Close)
	return srv
}

type response struct {
	status int
	body   string
	header http.Header
}

func get(t *testing.T, client *http.Client, url string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, string(body), resp.Header}
}

func TestRequirePass(t *testing.T) {
	clock := newTestClock()
	keys := NewKeySet(testKey(1))
	gateway := NewTokens(keys, nil, TokenOptions{Now: clock.Now})
	pass := string(mustSign(t, gateway, testPass()))
	ticket := testPass()
	ticket.Kind = KindTicket
	otherRoom := testPass()
	otherRoom.Room = "other"
	expired := testPass()
	expired.IssuedAt, expired.Expires = t0.Add(-time.Hour), t0.Add(-time.Minute)
	forged := string(mustSign(t, NewTokens(NewKeySet(testKey(2)), nil, TokenOptions{Now: clock.Now}), testPass()))

	srv := origin(t, NewTokens(nil, keys, TokenOptions{Now: clock.Now}), "demo")
	cookie := func(name, value string) http.Header {
		return http.Header{"Cookie": {(&http.Cookie{Name: name, Value: value}).String()}}
	}
	const welcome = "hello AAAAAAAAAAAAAAAAAAAAAA (demo, seq 7)"
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"pass in the header", http.Header{PassHeader: {pass}}, http.StatusOK},
		{"pass in the cookie", cookie(PassCookie("demo"), pass), http.StatusOK},
		{"header wins over a bad cookie", http.Header{PassHeader: {pass}, "Cookie": {PassCookie("demo") + "=junk"}}, http.StatusOK},
		{"a bad header is not excused by a good cookie", http.Header{PassHeader: {"junk"}, "Cookie": {PassCookie("demo") + "=" + pass}}, http.StatusForbidden},
		{"no pass", nil, http.StatusForbidden},
		{"pass in another room's cookie", cookie(PassCookie("other"), pass), http.StatusForbidden},
		{"pass in the ticket cookie", cookie(TicketCookie("demo"), pass), http.StatusForbidden},
		{"a ticket", http.Header{PassHeader: {string(mustSign(t, gateway, ticket))}}, http.StatusForbidden},
		{"another room's pass", http.Header{PassHeader: {string(mustSign(t, gateway, otherRoom))}}, http.StatusForbidden},
		{"expired pass", cookie(PassCookie("demo"), string(mustSign(t, gateway, expired))), http.StatusForbidden},
		{"pass of an unknown key", http.Header{PassHeader: {forged}}, http.StatusForbidden},
		{"garbage", http.Header{PassHeader: {"garbage"}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, srv.Client(), srv.URL+"/events/1", tt.header)
			if resp.status != tt.want {
				t.Fatalf("status %d (%q), want %d", resp.status, resp.body, tt.want)
			}
			if tt.want == http.StatusOK {
				if resp.body != welcome {
					t.Errorf("body %q, want %q", resp.body, welcome)
				}
				return
			}
			if got := resp.header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", got)
			}
			if got := resp.header.Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
				t.Errorf("Content-Type %q, want text/plain", got)
			}
			if strings.Contains(resp.body, "hello") || len(resp.body) > 100 {
				t.Errorf("body %q, want a short refusal", resp.body)
			}
		})
	}
}

func TestPassFromContextWithoutPass(t *testing.T) {
	if c, ok := PassFromContext(t.Context()); ok {
		t.Errorf("PassFromContext of a bare context = %+v, true", c)
	}
}

// jwksServer is a test gateway that serves a JWKS the test can change.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	status  int
	hits    int
	hold    chan struct{} // if not nil, requests wait for it to close
	entered chan struct{} // receives when a held request arrives
}

func newJWKSServer(t *testing.T, keys *KeySet) *jwksServer {
	s := &jwksServer{body: keys.JWKS(), status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits++
		body, status, hold, entered := s.body, s.status, s.hold, s.entered
		s.mu.Unlock()
		if hold != nil {
			entered <- struct{}{}
			<-hold
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(keys *KeySet, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = keys.JWKS(), status
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

func TestRequirePassWithRemoteKeys(t *testing.T) {
	clock := newTestClock()
	keys := NewKeySet(testKey(1))
	gw := newJWKSServer(t, keys)
	remote, err := NewRemoteKeys(t.Context(), gw.URL+"/_usher/jwks.json", gw.Client())
	if err != nil {
		t.Fatal(err)
	}
	srv := origin(t, NewTokens(nil, remote, TokenOptions{Now: clock.Now}), "demo")
	pass := string(mustSign(t, NewTokens(keys, nil, TokenOptions{Now: clock.Now}), testPass()))

	if resp := get(t, srv.Client(), srv.URL, http.Header{PassHeader: {pass}}); resp.status != http.StatusOK {
		t.Errorf("pass checked with the gateway's keys: status %d (%q)", resp.status, resp.body)
	}
	if resp := get(t, srv.Client(), srv.URL, nil); resp.status != http.StatusForbidden {
		t.Errorf("no pass: status %d, want 403", resp.status)
	}
}

func TestNewRemoteKeysFails(t *testing.T) {
	keys := NewKeySet(testKey(1))
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name   string
		status int
		body   string
		url    string // instead of the test server's
		want   string
	}{
		{"server error", http.StatusInternalServerError, string(keys.JWKS()), "", "status 500"},
		{"not JSON", http.StatusOK, "<html>", "", "parse JWKS"},
		{"no usable key", http.StatusOK, `{"keys":[]}`, "", "no usable"},
		{"too large", http.StatusOK, `{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`, "", "larger than"},
		{"nobody listening", 0, "", closed.URL, "fetch keys"},
		{"bad URL", 0, "", "http://[::1", "fetch keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, keys)
			srv.mu.Lock()
			srv.status, srv.body = tt.status, []byte(tt.body)
			srv.mu.Unlock()
			url := srv.URL
			if tt.url != "" {
				url = tt.url
			}
			r, err := NewRemoteKeys(t.Context(), url, srv.Client())
			if err == nil {
				t.Fatalf("NewRemoteKeys = %v, want an error", r)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestRemoteKeysRefetchOnUnknownKid(t *testing.T) {
	clock := newTestClock()
	oldKey, newKey, unknown := publicOf(testKey(1)), publicOf(testKey(2)), publicOf(testKey(3))
	srv := newJWKSServer(t, NewKeySet(nil, oldKey))
	r, err := newRemoteKeys(t.Context(), srv.URL, srv.Client(), clock.Now, make(chan time.Time))
	if err != nil {
		t.Fatal(err)
	}
	srv.serve(NewKeySet(nil, newKey, oldKey), http.StatusOK) // the gateway rotates

	steps := []struct {
		name      string
		advance   time.Duration
		kid       string
		wantKey   ed25519.PublicKey // nil: not found
		wantFetch int               // fetches so far
	}{
		{"known kid, no fetch", 0, KeyID(oldKey), oldKey, 1},
		{"new kid within 10 s of the last fetch", 9 * time.Second, KeyID(newKey), nil, 1},
		{"new kid 10 s after the last fetch", time.Second, KeyID(newKey), newKey, 2},
		{"new kid, now known", 0, KeyID(newKey), newKey, 2},
		{"unknown kid right after a fetch", time.Second, KeyID(unknown), nil, 2},
		{"kid that cannot be a thumbprint", time.Minute, "k1", nil, 2},
		{"unknown kid 10 s later", 0, KeyID(unknown), nil, 3},
		{"unknown kid again", 5 * time.Second, KeyID(unknown), nil, 3},
	}
	for _, s := range steps {
		clock.Add(s.advance)
		got, ok := r.PublicKey(s.kid)
		if ok != (s.wantKey != nil) || !got.Equal(s.wantKey) {
			t.Errorf("%s: PublicKey = %x, %v; want %x", s.name, got, ok, s.wantKey)
		}
		if n := srv.count(); n != s.wantFetch {
			t.Errorf("%s: %d fetches, want %d", s.name, n, s.wantFetch)
		}
	}
}

func TestRemoteKeysRefetchHoldsOneRequest(t *testing.T) {
	clock := newTestClock()
	srv := newJWKSServer(t, NewKeySet(testKey(1)))
	r, err := newRemoteKeys(t.Context(), srv.URL, srv.Client(), clock.Now, make(chan time.Time))
	if err != nil {
		t.Fatal(err)
	}
	fresh := publicOf(testKey(2))
	hold, entered := make(chan struct{}), make(chan struct{})
	srv.mu.Lock()
	srv.hold, srv.entered, srv.body = hold, entered, NewKeySet(nil, fresh).JWKS()
	srv.mu.Unlock()
	release := sync.OnceFunc(func() { close(hold) })
	t.Cleanup(release) // before the server's Close, which waits for requests
	clock.Add(time.Minute)

	first := make(chan bool)
	go func() {
		_, ok := r.PublicKey(KeyID(fresh))
		first <- ok
	}()
	<-entered // the first request now waits for the gateway

	// Others must not wait with it. Should one wait, the bound below turns a
	// hang into a failure; a correct RemoteKeys answers at once.
	other := make(chan bool)
	go func() {
		_, ok := r.PublicKey(KeyID(publicOf(testKey(3))))
		other <- ok
	}()
	select {
	case ok := <-other:
		if ok {
			t.Error("an unknown kid was found")
		}
	case <-time.After(time.Minute):
		t.Fatal("a second request waited for the first one's refetch")
	}
	if n := srv.count(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
	release()
	if ok := <-first; !ok {
		t.Error("the refetch did not find the new key")
	}
}

func TestRemoteKeysRefresh(t *testing.T) {
	a, b := publicOf(testKey(1)), publicOf(testKey(2))
	srv := newJWKSServer(t, NewKeySet(nil, a))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	tick := make(chan time.Time)
	r, err := newRemoteKeys(ctx, srv.URL, srv.Client(), newTestClock().Now, tick)
	if err != nil {
		t.Fatal(err)
	}
	// refresh handles one tick at a time, so once a second tick is taken the
	// first one's fetch is done.
	refresh := func() {
		tick <- t0
		tick <- t0
	}
	has := func(pub ed25519.PublicKey) bool {
		_, ok := r.PublicKey(KeyID(pub)) // the clock stands still: no refetch
		return ok
	}

	srv.serve(NewKeySet(nil, b, a), http.StatusOK)
	refresh()
	if !has(a) || !has(b) {
		t.Errorf("after a refresh: has a %v, b %v; want both", has(a), has(b))
	}

	srv.serve(NewKeySet(nil, a), http.StatusInternalServerError)
	before := srv.count()
	refresh()
	if srv.count() < before+1 {
		t.Fatalf("no fetch after two ticks")
	}
	if !has(a) || !has(b) {
		t.Errorf("after a failed refresh: has a %v, b %v; want the last good keys", has(a), has(b))
	}

	srv.serve(NewKeySet(nil, b), http.StatusOK)
	refresh()
	if has(a) || !has(b) {
		t.Errorf("after the gateway dropped a: has a %v, b %v; want only b", has(a), has(b))
	}

	cancel()
	<-r.done // refreshes stop when the context ends
}
