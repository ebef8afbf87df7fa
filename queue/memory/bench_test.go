package memory_test

import (
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

var benchLimits = queue.Limits{
	Admit:         true,
	RatePerMinute: 60,
	Burst:         1,
	MaxActive:     30,
	Session:       10 * time.Minute,
	ClaimWindow:   30 * time.Second,
}

// BenchmarkJoin measures the hottest write: a join behind a waiting line.
func BenchmarkJoin(b *testing.B) {
	s := memory.New(memory.Options{})
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
}

// BenchmarkClaim measures first claims of live offers.
func BenchmarkClaim(b *testing.B) {
	s := memory.New(memory.Options{Now: queuetest.NewClock(queuetest.Start).Now})
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
}

// BenchmarkAdvance measures one controller tick a second on a full room
// whose offers lapse unclaimed, so every tick lapses a batch and offers one.
func BenchmarkAdvance(b *testing.B) {
	clock := queuetest.NewClock(queuetest.Start)
	s := memory.New(memory.Options{Now: clock.Now})
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
}
