package queuetest

import (
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
)

var benchLimits = queue.Limits{
	Admit:         true,
	RatePerMinute: 60,
	Burst:         1,
	MaxActive:     30,
	Session:       10 * time.Minute,
	ClaimWindow:   30 * time.Second,
}

// Bench measures a store's writes the same way for every implementation: newStore returns a fresh store on the given clock (nil: the
// store's own clock).
func Bench(b *testing.B, newStore func(b *testing.B, now func() time.Time) queue.Store) {
	// Join: the hottest write, a join behind a waiting line.
	b.Run("Join", func(b *testing.B) {
		s := newStore(b, nil)
		ctx := b.Context()
		if _, err := s.Join(ctx, "bench", queue.Limits{}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Join(ctx, "bench", benchLimits); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Claim: first claims of live offers.
	b.Run("Claim", func(b *testing.B) {
		s := newStore(b, NewClock(Start).Now)
		ctx := b.Context()
		lim := benchLimits
		lim.Burst, lim.MaxActive = float64(b.N), b.N
		for range b.N {
			if _, err := s.Join(ctx, "bench", queue.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := s.Advance(ctx, "bench", lim); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if c, err := s.Claim(ctx, "bench", int64(i+1), lim); err != nil || !c.First {
				b.Fatalf("claim %d: %+v, %v", i+1, c, err)
			}
		}
	})
	// Advance: one controller tick a second on a full room whose offers
	// lapse unclaimed, so every tick lapses a batch and offers one.
	b.Run("Advance", func(b *testing.B) {
		clock := NewClock(Start)
		s := newStore(b, clock.Now)
		ctx := b.Context()
		for range b.N + 100 {
			if _, err := s.Join(ctx, "bench", queue.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			clock.Add(time.Second)
			if _, err := s.Advance(ctx, "bench", benchLimits); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Throttle: a global join throttle that takes a token on every call,
	// the store's write on each join when the gateway throttles joins.
	b.Run("Throttle", func(b *testing.B) {
		s := newStore(b, nil)
		ctx := b.Context()
		b.ReportAllocs()
		for b.Loop() {
			if ok, _, err := s.Throttle(ctx, "bench", "join", 60e6, 1<<30); err != nil || !ok {
				b.Fatalf("throttle: %t, %v", ok, err)
			}
		}
	})
	// SavePolicy: an operator's change with its audit entry, on a trail
	// that soon holds all the entries it keeps, so most saves drop one.
	b.Run("SavePolicy", func(b *testing.B) {
		s := newStore(b, nil)
		ctx := b.Context()
		p := queue.Policy{
			Data:       []byte(`{"rate_per_minute":600,"max_active":500,"session":"10m0s","mode":"fifo","state":"open"}`),
			ConfigHash: "9f86d081884c7d659a2feaa0c55ad015",
		}
		audit := []byte(`{"at":"2031-03-01T09:00:00Z","by":"ops@venue.example","change":{"rate_per_minute":600}}`)
		var version int64
		b.ReportAllocs()
		for b.Loop() {
			v, err := s.SavePolicy(ctx, "bench", p, version, audit)
			if err != nil {
				b.Fatal(err)
			}
			version = v
		}
	})
}
