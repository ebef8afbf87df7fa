package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/usherhq/usher/queue"
	"github.com/usherhq/usher/queue/memory"
	"github.com/usherhq/usher/queue/queuetest"
)

func TestConformance(t *testing.T) {
	queuetest.Run(t,
		func(t *testing.T, now func() time.Time) queue.Store {
			return memory.New(memory.Options{Now: now})
		},
		// A memory store serves one instance: its peer is itself.
		func(_ *testing.T, s queue.Store, _ func() time.Time) queue.Store {
			return s
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
		"join":        func() error { _, err := s.Join(ctx, "room", lim); return err },
		"claim":       func() error { _, err := s.Claim(ctx, "room", 1, lim); return err },
		"advance":     func() error { _, err := s.Advance(ctx, "room", lim); return err },
		"snapshot":    func() error { _, err := s.Snapshot(ctx, "room"); return err },
		"ping":        func() error { return s.Ping(ctx) },
		"load policy": func() error { _, err := s.LoadPolicy(ctx, "room"); return err },
		"save policy": func() error {
			_, err := s.SavePolicy(ctx, "room", queue.Policy{Data: []byte("x")}, 0, []byte("entry"))
			return err
		},
		"audit": func() error { _, err := s.Audit(ctx, "room", 10); return err },
		"throttle": func() error {
			_, _, err := s.Throttle(ctx, "room", "join", 60, 1)
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
		})
	}
	// Nothing happened: the first join of a live context is seq 1, and the
	// room has no policy.
	if p, err := s.Join(t.Context(), "room", lim); err != nil || p.Seq != 1 {
		t.Errorf("Join after ended calls = %+v, %v; want seq 1", p, err)
	}
	if p, err := s.LoadPolicy(t.Context(), "room"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("LoadPolicy after ended calls = %+v, %v; want queue.ErrNotFound", p, err)
	}
	if ok, _, err := s.Throttle(t.Context(), "room", "join", 60, 1); err != nil || !ok {
		t.Errorf("Throttle after ended calls = %t, %v; want a token", ok, err)
	}
}

// TestSlowWatcher shows that saves never wait for a watcher that falls
// behind, and that such a watcher loses the oldest notifications first.
func TestSlowWatcher(t *testing.T) {
	s := memory.New(memory.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	const wait = 10 * time.Second // a bound, not a speed

	entered, release := make(chan struct{}), make(chan struct{})
	heard := make(chan string, 2048)
	var first sync.Once
	done := make(chan error, 1)
	go func() {
		done <- s.WatchPolicies(ctx, func(room string) {
			first.Do(func() {
				close(entered)
				<-release
			})
			heard <- room
		})
	}()

	// Save until the watcher is stuck in its first call.
	var version int64
	retry := time.NewTicker(10 * time.Millisecond)
	defer retry.Stop()
	deadline := time.After(wait)
	for stuck := false; !stuck; {
		v, err := s.SavePolicy(t.Context(), "first", queue.Policy{}, version, nil)
		if err != nil {
			t.Fatal(err)
		}
		version = v
		select {
		case <-entered:
			stuck = true
		case <-retry.C:
		case <-deadline:
			t.Fatalf("the watcher heard of no save within %v", wait)
		}
	}

	// More saves than the watcher's buffer holds, each of its own room.
	const saves, buffer = 1034, 1024
	saved := make(chan error, 1)
	go func() {
		for i := range saves {
			if _, err := s.SavePolicy(t.Context(), fmt.Sprintf("r-%d", i), queue.Policy{}, 0, nil); err != nil {
				saved <- err
				return
			}
		}
		saved <- nil
	}()
	select {
	case err := <-saved:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(wait):
		t.Fatalf("saves still wait for a stuck watcher after %v", wait)
	}

	close(release)
	<-heard // the save the watcher was stuck on
	for i := saves - buffer; i < saves; i++ {
		select {
		case got := <-heard:
			if want := fmt.Sprintf("r-%d", i); got != want {
				t.Fatalf("heard of %s, want %s: the newest %d notifications, in order", got, want, buffer)
			}
		case <-time.After(wait):
			t.Fatalf("the watcher heard of nothing more after r-%d", i-1)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchPolicies = %v, want nil", err)
	}
}
