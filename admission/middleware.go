package admission

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// passKey is the context key under which RequirePass stores a pass's claims.
type passKey struct{}

// RequirePass lets through to next only requests that carry a valid pass for
// room, and puts the pass's claims in the request context (see
// PassFromContext). The pass is read from the X-Usher-Pass header, which the
// gateway sets, else from the usher_pass_<room> cookie. Any other request is
// answered 403 with a short plain-text body and Cache-Control: no-store.
func RequirePass(t *Tokens, room string, next http.Handler) http.Handler {
	cookie := PassCookie(room)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := t.Verify(passFrom(r, cookie), KindPass, room)
		if err != nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "forbidden: no valid pass for this room", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), passKey{}, claims)))
	})
}

// passFrom returns the pass that r carries in the header or in the cookie
// named cookie, or nil.
func passFrom(r *http.Request, cookie string) []byte {
	if v := r.Header.Get(PassHeader); v != "" {
		return []byte(v)
	}
	if c, err := r.Cookie(cookie); err == nil {
		return []byte(c.Value)
	}
	return nil
}

// PassFromContext returns the claims of the pass that RequirePass verified.
func PassFromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(passKey{}).(Claims)
	return c, ok
}

// Timing of RemoteKeys.
const (
	remoteRefreshEvery = 5 * time.Minute
	remoteRefetchEvery = 10 * time.Second // at most, on an unknown kid
	remoteFetchTimeout = 5 * time.Second
	maxJWKSBytes       = 1 << 20
)

// kidLen is the length of every kid usher makes: a base64url SHA-256.
var kidLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// RemoteKeys is a KeySource over a gateway's /_usher/jwks.json, for origins
// that verify passes themselves. It keeps the last keys it fetched, refreshes
// them every 5 minutes, and refetches early when a token names a kid it does
// not know, as happens right after the gateway rotates its key. It is safe for
// concurrent use.
type RemoteKeys struct {
	ctx    context.Context // ends the refreshes
	url    string
	client *http.Client
	now    func() time.Time

	keys      atomic.Pointer[KeySet]
	fetching  sync.Mutex    // held by whoever fetches
	lastFetch atomic.Int64  // when the last fetch began, in Unix nanoseconds
	done      chan struct{} // closed when the refreshes stop
}

// NewRemoteKeys fetches the JWKS at url with client (http.DefaultClient when
// nil) and fails if that fails. It then refreshes the keys in the background
// every 5 minutes until ctx ends, keeping the last good keys when a refresh
// fails. On an unknown kid it refetches at once, but at most once per 10 s,
// and the one request that waits for the refetch is the only one: others
// meanwhile treat the kid as unknown.
func NewRemoteKeys(ctx context.Context, url string, client *http.Client) (*RemoteKeys, error) {
	return newRemoteKeys(ctx, url, client, time.Now, nil)
}

// newRemoteKeys is NewRemoteKeys with a clock and, if tick is not nil, the
// channel whose ticks trigger a refresh instead of a 5-minute ticker.
func newRemoteKeys(ctx context.Context, url string, client *http.Client, now func() time.Time, tick <-chan time.Time) (*RemoteKeys, error) {
	if client == nil {
		client = http.DefaultClient
	}
	r := &RemoteKeys{ctx: ctx, url: url, client: client, now: now, done: make(chan struct{})}
	r.fetching.Lock()
	err := r.fetch()
	r.fetching.Unlock()
	if err != nil {
		return nil, err
	}
	stop := func() {}
	if tick == nil {
		ticker := time.NewTicker(remoteRefreshEvery)
		tick, stop = ticker.C, ticker.Stop
	}
	go r.refresh(tick, stop)
	return r, nil
}

// PublicKey returns the key whose KeyID is kid. For a kid it does not know it
// refetches the JWKS, if the last fetch began at least 10 s ago and no other
// fetch is under way.
func (r *RemoteKeys) PublicKey(kid string) (ed25519.PublicKey, bool) {
	if pub, ok := r.keys.Load().PublicKey(kid); ok {
		return pub, true
	}
	// A kid that cannot be a thumbprint is no reason to ask the gateway.
	if len(kid) != kidLen || !r.mayRefetch() || !r.fetching.TryLock() {
		return nil, false
	}
	defer r.fetching.Unlock()
	// A fetch may have ended between the checks above and the lock.
	if r.mayRefetch() {
		_ = r.fetch() // on failure the last good keys stay
	}
	return r.keys.Load().PublicKey(kid)
}

// mayRefetch says whether the last fetch began long enough ago.
func (r *RemoteKeys) mayRefetch() bool {
	return r.now().UnixNano()-r.lastFetch.Load() >= int64(remoteRefetchEvery)
}

// refresh fetches on every tick until r.ctx ends.
func (r *RemoteKeys) refresh(tick <-chan time.Time, stop func()) {
	defer close(r.done)
	defer stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick:
			r.fetching.Lock()
			_ = r.fetch() // on failure the last good keys stay
			r.fetching.Unlock()
		}
	}
}

// fetch replaces the keys with those at r.url. The caller holds r.fetching.
func (r *RemoteKeys) fetch() error {
	r.lastFetch.Store(r.now().UnixNano())
	ctx, cancel := context.WithTimeout(r.ctx, remoteFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch keys from %s: status %s", r.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("fetch keys from %s: %w", r.url, err)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("fetch keys from %s: larger than %d bytes", r.url, maxJWKSBytes)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return fmt.Errorf("fetch keys from %s: %w", r.url, err)
	}
	r.keys.Store(keys)
	return nil
}
