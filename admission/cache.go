package admission

import (
	"sync"
	"time"
)

// Sharding of the verified-token cache: up to maxCacheShards shards, each
// with room for at least minShardSize tokens when the cache is that large.
const (
	maxCacheShards = 64
	minShardSize   = 16
)

// tokenCache remembers tokens that Verify accepted, so that each token's
// signature is checked once rather than on every request. It holds at most
// the size it was made with. Verify puts tokens in after their signature
// verified, and Sign the tokens it signed.
type tokenCache struct {
	shards []cacheShard
	mask   uint32
}

// cacheShard is one lock's worth of the cache.
type cacheShard struct {
	mu      sync.RWMutex
	entries map[string]cacheEntry
	max     int
	// Pad to keep each shard's lock on its own cache line, so readers of
	// neighbouring shards do not slow each other down.
	_ [64]byte
}

// cacheEntry is what the cache knows of a verified token.
type cacheEntry struct {
	claims Claims
	kid    string // of the key that signed it
}

// newTokenCache returns a cache that holds at most size tokens (size > 0).
func newTokenCache(size int) *tokenCache {
	n := 1 // a power of two, so that a mask picks the shard
	for n*2 <= maxCacheShards && n*2*minShardSize <= size {
		n *= 2
	}
	c := &tokenCache{shards: make([]cacheShard, n), mask: uint32(n - 1)}
	for i := range c.shards {
		c.shards[i].max = size / n
		c.shards[i].entries = make(map[string]cacheEntry)
	}
	return c
}

// shard picks the shard of token by hashing its last bytes, which belong to
// the signature and are random for every token usher signs.
func shard[T string | []byte](c *tokenCache, token T) *cacheShard {
	h := uint32(2166136261) // FNV-1a
	for i := max(0, len(token)-8); i < len(token); i++ {
		h ^= uint32(token[i])
		h *= 16777619
	}
	return &c.shards[h&c.mask]
}

// get returns the entry for token. It does not allocate.
func (c *tokenCache) get(token []byte) (cacheEntry, bool) {
	s := shard(c, token)
	s.mu.RLock()
	e, ok := s.entries[string(token)] // a lookup does not copy token
	s.mu.RUnlock()
	return e, ok
}

// put stores e for token. When the shard is full it first drops the tokens
// that expired (beyond leeway) by now, then, if it is still full, arbitrary
// ones.
func (c *tokenCache) put(token string, e cacheEntry, now time.Time, leeway time.Duration) {
	s := shard(c, token)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[token]; !ok && len(s.entries) >= s.max {
		s.evict(now, leeway)
	}
	s.entries[token] = e
}

// evict makes room for at least one entry. The caller holds s.mu.
func (s *cacheShard) evict(now time.Time, leeway time.Duration) {
	for token, e := range s.entries {
		if expired(e.claims, now, leeway) {
			delete(s.entries, token)
		}
	}
	if len(s.entries) < s.max {
		return
	}
	// Map iteration starts at a random place, so this drops random entries.
	// Dropping a sixteenth more than needed keeps a full shard of live
	// tokens from sweeping for expired ones on every insert.
	n := len(s.entries) - s.max + 1 + s.max/16
	for token := range s.entries {
		if n == 0 {
			break
		}
		delete(s.entries, token)
		n--
	}
}

// drop forgets token.
func (c *tokenCache) drop(token []byte) {
	s := shard(c, token)
	s.mu.Lock()
	delete(s.entries, string(token))
	s.mu.Unlock()
}

// len returns how many tokens the cache holds.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.entries)
		s.mu.RUnlock()
	}
	return n
}
