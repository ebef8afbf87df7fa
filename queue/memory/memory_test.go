package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t, func(t *testing.T, now func() time.Time) queue.Store {
		return memory.New(memory.Options{Now: now})
	})
}

func TestDefaultClock(t *testing.T) {
	s := memory.New(memory.Options{})
	before := time.Now().Truncate(time.Millisecond)
	snap, err := s.Snapshot(t.Context(), "room")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if snap.At.Before(before) || snap.At.After(after) {
		t.Errorf("snapshot at %v, want between %v and %v", snap.At, before, after)
	}
}

func TestEndedContext(t *testing.T) {
	s := memory.New(memory.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	lim := queue.Limits{Admit: true, Burst: 1, MaxActive: 1, Session: time.Minute}

	calls := map[string]func() error{
		"join":     func() error { _, err := s.Join(ctx, "room", lim); return err },
		"claim":    func() error { _, err := s.Claim(ctx, "room", 1, lim); return err },
		"advance":  func() error { _, err := s.Advance(ctx, "room", lim); return err },
		"snapshot": func() error { _, err := s.Snapshot(ctx, "room"); return err },
		"ping":     func() error { return s.Ping(ctx) },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
		})
	}
	// Nothing happened: the first join of a live context is seq 1.
	if p, err := s.Join(t.Context(), "room", lim); err != nil || p.Seq != 1 {
		t.Errorf("Join after ended calls = %+v, %v; want seq 1", p, err)
	}
}
