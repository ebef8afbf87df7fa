package memory

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestExpiryHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var h expiryHeap
	var all []int64
	for i := range 500 {
		e := rng.Int64N(100)
		h.push(expiry{expiry: e, seq: int64(i)})
		all = append(all, e)
	}
	for _, now := range []int64{-1, 0, 10, 50, 99, 100} {
		want := 0
		for _, e := range all {
			if e <= now {
				want++
			}
		}
		if got := h.countDue(now); got != want {
			t.Errorf("countDue(%d) = %d, want %d", now, got, want)
		}
	}
	slices.Sort(all)
	for i, want := range all {
		if got := h.pop().expiry; got != want {
			t.Fatalf("pop %d = %d, want %d", i, got, want)
		}
	}
	if len(h) != 0 {
		t.Errorf("%d entries left after popping all", len(h))
	}
}

func TestBitset(t *testing.T) {
	var b bitset
	set := []int64{1, 63, 64, 65, 1000}
	for _, s := range set {
		b.set(s)
	}
	for s := int64(0); s <= 1100; s++ {
		if got, want := b.has(s), slices.Contains(set, s); got != want {
			t.Errorf("has(%d) = %t, want %t", s, got, want)
		}
	}
}
