package sqlite_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/usherhq/usher/booking"
	"github.com/usherhq/usher/booking/sqlite"
	"github.com/usherhq/usher/booking/storetest"
)

// open makes a store on a new file in the test's temporary directory.
func open(tb testing.TB) booking.Store {
	tb.Helper()
	s, err := sqlite.Open(filepath.Join(tb.TempDir(), "booking.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) booking.Store { return open(t) })
}

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) booking.Store {
		s, err := sqlite.Open(sqlite.Memory)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestOpenTwice opens one file from several stores at once, as processes
// starting together would: each migrates or finds it migrated, and all
// share the data.
func TestOpenTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "booking.db")
	stores := make([]booking.Store, 4)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			s, err := sqlite.Open(path)
			if err == nil {
				t.Cleanup(func() { s.Close() })
				stores[i] = s
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ev := booking.Event{ID: "e", Name: "Shared", Status: booking.EventDraft, Currency: "EUR"}
	if err := stores[0].PutEvent(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	for i, s := range stores {
		if got, err := s.Event(t.Context(), "e"); err != nil || got.Name != "Shared" {
			t.Errorf("store %d: %+v, %v", i, got, err)
		}
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, path := range []string{"", "booking.db?mode=ro"} {
		if s, err := sqlite.Open(path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

func BenchmarkHolds(b *testing.B) {
	storetest.BenchHolds(b, func(b *testing.B) booking.Store { return open(b) })
}
