package admission

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// mutableKeys is a KeySource that a test can change under a Tokens.
type mutableKeys struct {
	mu   sync.Mutex
	keys map[string]ed25519.PublicKey
}

func newMutableKeys(pubs ...ed25519.PublicKey) *mutableKeys {
	k := &mutableKeys{keys: make(map[string]ed25519.PublicKey)}
	for _, pub := range pubs {
		k.keys[KeyID(pub)] = pub
	}
	return k
}

func (k *mutableKeys) PublicKey(kid string) (ed25519.PublicKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	pub, ok := k.keys[kid]
	return pub, ok
}

func (k *mutableKeys) set(kid string, pub ed25519.PublicKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if pub == nil {
		delete(k.keys, kid)
		return
	}
	k.keys[kid] = pub
}

func TestVerifyCachedAllocatesNothing(t *testing.T) {
	keys := NewKeySet(testKey(1))
	tk := NewTokens(keys, nil, TokenOptions{Now: newTestClock().Now})
	token := mustSign(t, tk, testPass())
	if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
		t.Fatal(err)
	}
	var err error
	allocs := testing.AllocsPerRun(1000, func() {
		_, err = tk.Verify(token, KindPass, "demo")
	})
	if err != nil {
		t.Fatalf("cached Verify: %v", err)
	}
	if allocs != 0 {
		t.Errorf("cached Verify allocates %.1f times, want 0", allocs)
	}
}

func TestVerifyCachedSkipsSignature(t *testing.T) {
	// Once a token is cached, pointing its kid at another key does not
	// matter: the signature is not checked again. Without the cache, it is.
	tests := []struct {
		name      string
		cacheSize int
		wantOK    bool
	}{
		{"cache", 0, true},
		{"no cache", -1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			priv := testKey(1)
			kid := KeyID(publicOf(priv))
			keys := newMutableKeys(publicOf(priv))
			tk := NewTokens(NewKeySet(priv), keys, TokenOptions{Now: newTestClock().Now, CacheSize: tt.cacheSize})
			token := mustSign(t, tk, testPass())
			if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
				t.Fatal(err)
			}
			keys.set(kid, publicOf(testKey(2)))
			_, err := tk.Verify(token, KindPass, "demo")
			if gotOK := err == nil; gotOK != tt.wantOK {
				t.Errorf("second Verify: error %v, want accepted = %v", err, tt.wantOK)
			}
		})
	}
}

func TestVerifyCachedChecksEveryHit(t *testing.T) {
	clock := newTestClock()
	priv := testKey(1)
	keys := newMutableKeys(publicOf(priv))
	tk := NewTokens(NewKeySet(priv), keys, TokenOptions{Now: clock.Now})
	pass := testPass() // for room "demo", expires at t0+10m
	token := mustSign(t, tk, pass)

	steps := []struct {
		name    string
		advance time.Duration
		kind    Kind
		room    string
		want    error // nil: accepted
		cached  int   // tokens in the cache afterwards
	}{
		{"first use verifies and caches", 0, KindPass, "demo", nil, 1},
		{"hit for another room", 0, KindPass, "other", errWrongRoom, 1},
		{"hit as a ticket", 0, KindTicket, "demo", errWrongKind, 1},
		{"hit for its room", 0, KindPass, "demo", nil, 1},
		{"hit within the leeway after expiry", 10*time.Minute + 4*time.Second, KindPass, "demo", nil, 1},
		{"hit once expired is dropped", time.Second, KindPass, "demo", errExpired, 0},
		{"then a miss, still expired", 0, KindPass, "demo", errExpired, 0},
	}
	for _, s := range steps {
		clock.Add(s.advance)
		got, err := tk.Verify(token, s.kind, s.room)
		if !errors.Is(err, s.want) {
			t.Errorf("%s: error %v, want %v", s.name, err, s.want)
		}
		if s.want == nil && got != pass {
			t.Errorf("%s: claims %+v, want %+v", s.name, got, pass)
		}
		if n := tk.cache.len(); n != s.cached {
			t.Errorf("%s: cache holds %d tokens, want %d", s.name, n, s.cached)
		}
	}
}

func TestVerifyCachedRefusesRemovedKey(t *testing.T) {
	priv := testKey(1)
	keys := newMutableKeys(publicOf(priv))
	tk := NewTokens(NewKeySet(priv), keys, TokenOptions{Now: newTestClock().Now})
	token := mustSign(t, tk, testPass())
	if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
		t.Fatal(err)
	}
	keys.set(KeyID(publicOf(priv)), nil)
	if _, err := tk.Verify(token, KindPass, "demo"); !errors.Is(err, errKeyRemoved) {
		t.Errorf("cached token of a removed key: error %v, want %v", err, errKeyRemoved)
	}
	if n := tk.cache.len(); n != 0 {
		t.Errorf("cache holds %d tokens after the key went, want 0", n)
	}
}

func TestVerifyCachesOnlyAcceptedTokens(t *testing.T) {
	clock := newTestClock()
	priv := testKey(1)
	tk := NewTokens(NewKeySet(priv), nil, TokenOptions{Now: clock.Now})
	// Signed elsewhere, as by another instance: Sign caches what it signs.
	other := signerOf(tk)
	good := mustSign(t, other, testPass())
	expired := testPass()
	expired.IssuedAt, expired.Expires = t0.Add(-time.Hour), t0.Add(-time.Minute)
	tampered := append([]byte{}, good...)
	tampered[len(tampered)-5] ^= 0x01

	for _, tc := range []struct {
		token []byte
		kind  Kind
		room  string
	}{
		{tampered, KindPass, "demo"},
		{mustSign(t, other, expired), KindPass, "demo"},
		{forge(testKey(2), `{"alg":"EdDSA","kid":"x"}`, `{}`), KindPass, "demo"},
		{good, KindPass, "other"},
		{good, KindTicket, "demo"},
		{[]byte("garbage"), KindPass, "demo"},
	} {
		if _, err := tk.Verify(tc.token, tc.kind, tc.room); err == nil {
			t.Fatalf("Verify(%q, %s, %s) accepted a bad token", tc.token, tc.kind, tc.room)
		}
	}
	if n := tk.cache.len(); n != 0 {
		t.Errorf("cache holds %d rejected tokens, want 0", n)
	}
}

// signerOf returns Tokens with tk's keys and clock and no cache: another
// instance, whose tokens tk has not seen.
func signerOf(tk *Tokens) *Tokens {
	return NewTokens(tk.signer, nil, TokenOptions{Now: tk.now, CacheSize: -1})
}

// signMany returns n distinct passes for room "demo", valid from t0 for
// life, signed by another instance than tk.
func signMany(t testing.TB, tk *Tokens, n int, life time.Duration) [][]byte {
	t.Helper()
	tk = signerOf(tk)
	tokens := make([][]byte, n)
	for i := range tokens {
		c := testPass()
		c.Visitor = fmt.Sprintf("visitor-%d", i)
		c.Seq = int64(i)
		c.Expires = t0.Add(life)
		tokens[i] = mustSign(t, tk, c)
	}
	return tokens
}

func TestTokenCacheStaysWithinBound(t *testing.T) {
	for _, size := range []int{1, 10, 64, 100, 500} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			tk := NewTokens(NewKeySet(testKey(1)), nil, TokenOptions{Now: newTestClock().Now, CacheSize: size})
			for i, token := range signMany(t, tk, 3*size+50, time.Hour) {
				if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
					t.Fatalf("token %d: %v", i, err)
				}
				if n := tk.cache.len(); n > size {
					t.Fatalf("after %d tokens the cache holds %d, more than its size %d", i+1, n, size)
				}
			}
			if n := tk.cache.len(); n == 0 {
				t.Error("cache is empty after many accepted tokens")
			}
		})
	}
}

func TestTokenCacheStaysWithinBoundConcurrently(t *testing.T) {
	const size, workers, each = 200, 8, 200
	tk := NewTokens(NewKeySet(testKey(1)), nil, TokenOptions{Now: newTestClock().Now, CacheSize: size})
	tokens := signMany(t, tk, workers*each, time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for _, token := range tokens[w*each : (w+1)*each] {
				// Twice: once to fill, once to hit while others evict.
				for range 2 {
					if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := tk.cache.len(); n > size || n == 0 {
		t.Errorf("cache holds %d tokens, want 1 to %d", n, size)
	}
}

func TestTokenCacheEvictsExpiredFirst(t *testing.T) {
	clock := newTestClock()
	const size = 10 // one shard
	tk := NewTokens(NewKeySet(testKey(1)), nil, TokenOptions{Now: clock.Now, CacheSize: size})
	if len(tk.cache.shards) != 1 {
		t.Fatalf("a cache of %d has %d shards; this test needs 1", size, len(tk.cache.shards))
	}
	short := signMany(t, tk, size/2, time.Minute)
	long := signMany(t, tk, size/2+1, time.Hour)
	for _, token := range append(short, long[:size/2]...) {
		if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(2 * time.Minute)
	if _, err := tk.Verify(long[size/2], KindPass, "demo"); err != nil {
		t.Fatal(err)
	}
	for i, token := range long {
		if _, ok := tk.cache.get(token); !ok {
			t.Errorf("live token %d was evicted", i)
		}
	}
	for i, token := range short {
		if _, ok := tk.cache.get(token); ok {
			t.Errorf("expired token %d is still cached", i)
		}
	}
}

func TestNewTokenCacheSizes(t *testing.T) {
	tests := []struct {
		size       int
		wantShards int
	}{
		{1, 1},
		{31, 1},
		{32, 2},
		{1000, 32},
		{defaultCacheSize, maxCacheShards},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			c := newTokenCache(tt.size)
			if len(c.shards) != tt.wantShards {
				t.Errorf("%d shards, want %d", len(c.shards), tt.wantShards)
			}
			total := 0
			for i := range c.shards {
				if c.shards[i].max < 1 {
					t.Errorf("shard %d holds at most %d", i, c.shards[i].max)
				}
				total += c.shards[i].max
			}
			if total > tt.size || total <= tt.size-len(c.shards) {
				t.Errorf("shards hold %d in all, want at most %d and more than %d", total, tt.size, tt.size-len(c.shards))
			}
		})
	}
}

func BenchmarkVerifyPassCached(b *testing.B) {
	tk := NewTokens(NewKeySet(testKey(1)), nil, TokenOptions{})
	c := testPass()
	c.IssuedAt, c.Expires = time.Now(), time.Now().Add(time.Hour)
	token := mustSign(b, tk, c)
	if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(token, KindPass, "demo"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSignCaches: a token an instance signs is verified from its cache, with
// the claims a full check would read back.
func TestSignCaches(t *testing.T) {
	clock := newTestClock()
	tk := NewTokens(NewKeySet(testKey(1)), nil, TokenOptions{Now: clock.Now})
	c := testPass()
	c.IssuedAt, c.Expires = t0.Add(1500*time.Millisecond), t0.Add(time.Hour+700*time.Millisecond)
	token := mustSign(t, tk, c)
	got, err := tk.Verify(token, KindPass, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if cached, verified, _ := tk.Checks(); cached != 1 || verified != 0 {
		t.Errorf("checks: %d cached, %d verified; want the token from the cache", cached, verified)
	}
	want, err := signerOf(tk).Verify(token, KindPass, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if !got.IssuedAt.Equal(want.IssuedAt) || !got.Expires.Equal(want.Expires) || got.Visitor != want.Visitor || got.Seq != want.Seq {
		t.Errorf("from the cache %+v, from the signature %+v", got, want)
	}
}
